"""The browser side of the SSO session: reading and setting its cookie, the ``next`` URL."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import current_app, g, make_response, redirect, request, url_for
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from idp.defaults import DEVICE_COOKIE_AGE, MAX_NEXT
from idp.extensions import db
from idp.models import Account, SsoSession
from idp.oauth import sessions
from idp.oauth.config import DEVICE_COOKIE, SESSION_COOKIE, SESSION_TTL
from idp.oauth.crypto import random_token

log = logging.getLogger(__name__)


def current_session() -> SsoSession | None:
    if "idp_sso" not in g:
        g.idp_sso = sessions.find(request.cookies.get(SESSION_COOKIE))
        if g.idp_sso is not None and request.method == "GET":
            g.idp_sso_seen = g.idp_sso.id
    return g.idp_sso


def _note_seen(response):
    """The sessions page's "last seen" and address (issue 17), for a page the session opened:
    written after the page, at most every ``SESSION_SEEN_EVERY`` per session (a marker in the
    shared store says it was written lately), and never at a page's expense."""
    session_id = g.pop("idp_sso_seen", None)
    if session_id is None or response.is_streamed or response.status_code >= 500:
        return response
    try:
        if sessions.seen_due(session_id):
            db.session.rollback()  # a GET page changes nothing: commit the note alone
            sessions.seen(session_id, client_ip())
            db.session.commit()
    except (SQLAlchemyError, RedisError):
        db.session.rollback()
        log.warning("could not note session %s as seen", session_id, exc_info=True)
    return response


def device_id() -> tuple[str, bool]:
    """This browser's device cookie (the "new sign-in" notice, R22): its value and whether it
    is new (then the caller sets it with :func:`set_device_cookie`)."""
    value = request.cookies.get(DEVICE_COOKIE) or ""
    if 32 <= len(value) <= 128 and value.isascii():
        return value, False
    return random_token(32), True


def set_device_cookie(response, value: str):
    settings = current_app.extensions["idp.settings"]
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_AGE,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="Lax",
        path="/",
    )
    return response


def current_account() -> Account | None:
    session = current_session()
    return session.account if session else None


def viewer_account() -> Account | None:
    """The signed-in account for the pages' top bar; None when signed out, and when it cannot
    be read (an error page during an outage must still render)."""
    try:
        return current_account()
    except Exception:
        return None


def here() -> str:
    """This page's path and query, to come back to (the language switcher), when short enough."""
    try:
        path = request.full_path.rstrip("?")
    except UnicodeDecodeError:  # a query string that is no UTF-8: the page is an error anyway
        return request.path
    return path if len(path) <= MAX_NEXT else request.path


def init_app(app) -> None:
    from idp.services.devices import describe

    app.after_request(_note_seen)
    app.jinja_env.filters["device"] = describe
    app.jinja_env.globals["viewer_account"] = viewer_account
    app.jinja_env.globals["here"] = here


def set_cookie(response, value: str):
    settings = current_app.extensions["idp.settings"]
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_TTL,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="Lax",
        path="/",
    )
    new_device = g.pop("idp_new_device", None)
    if new_device is not None:
        set_device_cookie(response, new_device)
    return response


def clear_cookie(response):
    """End the SSO cookie on ``response`` (a response, or what a view may return: a page's text)."""
    response = make_response(response)
    settings = current_app.extensions["idp.settings"]
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="Lax"
    )
    return response


def to_sign_in(back: str | None = None):
    """The redirect to the sign-in page, coming back to ``back`` (default: this request) when it
    is a local path short enough to carry."""
    back = (request.full_path.rstrip("?") if back is None else back) or "/"
    target = url_for("signin.login", next=back) if len(back) <= MAX_NEXT else None
    return redirect(target or url_for("signin.login"))


def safe_next(url: str | None, default: str = "/") -> str:
    """Only local paths: never an open redirect."""
    if not url or len(url) > MAX_NEXT:
        return default
    parts = urlsplit(url)
    if (
        parts.scheme
        or parts.netloc
        or not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
    ):
        return default
    return url


def client_ip() -> str:
    return request.remote_addr or "unknown"
