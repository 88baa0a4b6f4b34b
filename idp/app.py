"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from idp.extensions import db, migrate
from idp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(
        "idp",
        instance_path=str(settings.instance_path),
        template_folder=str(ROOT / "templates"),
    )
    app.extensions["idp.settings"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
    )
    logging.basicConfig(level=settings.log_level)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)

    from idp import models  # noqa: F401  (register the models on the metadata)
    from idp.web import errors, home

    app.register_blueprint(home.bp)
    errors.init_app(app)
    return app


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Wait for the write lock instead of failing at once when requests write concurrently.
        return {"connect_args": {"timeout": 30, "check_same_thread": False},
                "pool_size": 10, "max_overflow": 20}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}


def settings_of(app: Flask) -> Settings:
    return app.extensions["idp.settings"]
