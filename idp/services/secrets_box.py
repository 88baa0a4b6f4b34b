"""Encryption at rest for secrets the provider must read back (TOTP secrets), under
``IDP_KEY_ENCRYPTION_KEY``. Fernet: AES-128-CBC with HMAC-SHA256, so a changed or swapped value
fails to decrypt instead of yielding a wrong secret."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def _fernet() -> Fernet:
    kek = current_app.extensions["idp.settings"].key_encryption_key
    if not kek:
        raise RuntimeError("IDP_KEY_ENCRYPTION_KEY is not set")
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(kek.encode()).digest()))


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise ValueError(
            "A stored secret cannot be decrypted: was IDP_KEY_ENCRYPTION_KEY changed?"
        ) from None
