"""Shutting down the extra apps tests build (live servers, second instances, proxied ones)."""

from __future__ import annotations

from idp import background
from idp.extensions import db
from idp.oauth import token_store


def close(app) -> None:
    """Shut an app down: its background workers stop (they would otherwise go on polling the
    shared test database, delivering other tests' mail as their own), its connections close."""
    background.stop_all(app)
    with app.app_context():
        db.engine.dispose()
    token_store.dispose(app)
