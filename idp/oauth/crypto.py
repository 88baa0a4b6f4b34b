"""Hashes for high-entropy secrets (client secrets, refresh tokens, codes, session cookies).

These are random 256-bit values, so a fast keyed hash is as strong as a slow one and keeps the
token endpoint quick; compare with ``hmac.compare_digest``."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(value: str) -> str:
    """Lookup key for a bearer secret (refresh token, code, cookie): SHA-256, hex."""
    return hashlib.sha256(value.encode()).hexdigest()


def client_secret_hash(secret: str) -> str:
    """HMAC-SHA256 keyed with the server secret: a leaked table is useless without the key.
    The keyed state is made once per app and copied per call (the key is longer than a
    SHA-256 block, so keying anew would hash it again every time)."""
    app = current_app._get_current_object()
    keyed = app.extensions.get("idp.client_secret_hmac")
    if keyed is None:
        keyed = hmac.new(app.config["SECRET_KEY"].encode(), digestmod=hashlib.sha256)
        app.extensions["idp.client_secret_hmac"] = keyed
    mac = keyed.copy()
    mac.update(secret.encode())
    return mac.hexdigest()


def client_secret_matches(stored_hash: str | None, secret: str | None) -> bool:
    if not stored_hash or not isinstance(secret, str) or len(secret) > 512:
        return False
    return hmac.compare_digest(stored_hash, client_secret_hash(secret))
