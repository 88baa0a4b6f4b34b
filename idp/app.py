"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from idp import i18n
from idp.defaults import MAX_CONTENT_LENGTH
from idp.extensions import csrf, db, migrate
from idp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session (it holds the CSRF token), with its signer built once per
    app instead of on every request: the protocol endpoints open a session too."""

    def get_signing_serializer(self, app: Flask):
        signer = app.extensions.get("idp.session_signer")
        if signer is None:
            signer = app.extensions["idp.session_signer"] = super().get_signing_serializer(app)
        return signer


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(
        "idp",
        instance_path=str(settings.instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.extensions["idp.settings"] = settings
    app.session_interface = CookieSessions()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the browser session instead of a clock
        WTF_CSRF_SSL_STRICT=False,  # the Referer check breaks behind TLS-terminating proxies
    )
    logging.basicConfig(level=settings.log_level)
    db.init_app(app)
    i18n.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)

    from idp import kv, models  # noqa: F401  (register the models on the metadata)
    from idp.oauth import keys, server, shared_state, token_store
    from idp.web import (
        account,
        api,
        api_v1,
        avatars,
        console,
        direct,
        display_names,
        errors,
        events,
        headers,
        home,
        inquiries,
        oauth,
        ops,
        register,
        scim,
        signin,
        sso,
        unsubscribe,
        verify,
    )

    kv.init_app(app)
    shared_state.init_app(app)
    token_store.init_app(app)
    app.extensions["idp.keyring"] = keys.KeyRing()
    server.init_app(app)
    csrf.init_app(app)
    csrf.exempt(oauth.bp)  # protocol endpoints: client-authenticated, not cookie-driven
    csrf.exempt(api.bp)  # bearer-token API: no cookies, so no cross-site forgery
    csrf.exempt(api_v1.bp)  # the admin API likewise: bearer tokens only
    csrf.exempt(events.bp)  # the events intake (R25): app tokens only
    csrf.exempt(scim.bp)  # SCIM (issue 19) likewise
    csrf.exempt(inquiries.bp)  # the chat platform's endpoints: bearer tokens only
    ops.init_app(app)
    headers.init_app(app)
    sso.init_app(app)
    display_names.init_app(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(avatars.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(signin.bp)
    for blueprint in (
        register.bp,
        verify.bp,
        console.bp,
        api.bp,
        api_v1.bp,
        events.bp,
        scim.bp,
        inquiries.bp,
        account.bp,
    ):
        app.register_blueprint(blueprint)
    app.register_blueprint(unsubscribe.bp)  # R22: RFC 8058 one-click, no sign-in
    if settings.env == "development":
        from idp.web import demo_app

        app.register_blueprint(demo_app.bp)
    errors.init_app(app)
    direct.init_app(app)  # the machine endpoints, in front of Flask
    return app


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Wait for the write lock instead of failing at once when requests write concurrently.
        return {
            "connect_args": {"timeout": 30, "check_same_thread": False},
            "pool_size": 10,
            "max_overflow": 20,
        }
    # No pre-ping (a round trip on every request): a dropped connection is detected when used,
    # that request gets a 503, and SQLAlchemy replaces the pool's stale connections.
    return {"pool_size": 10, "max_overflow": 20, "pool_recycle": 1800}


def settings_of(app: Flask) -> Settings:
    return app.extensions["idp.settings"]
