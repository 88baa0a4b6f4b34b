"""Helpers for the one-login-across-stores tests (R26, R27): OAuth 2.0 Token Exchange (RFC 8693)
through a Flask test client, a subject token that has expired, and a browser over real HTTP that
counts how often the provider asked for a password."""

from __future__ import annotations

import time

from flask.testing import FlaskClient
from joserfc import jwt

from idp.oauth.keys import keyring
from tests import oidc_flow as flow

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def exchange(web: FlaskClient, rp: flow.RP, subject_token: str, store: str | None, **extra):
    """RFC 8693 2.1: the client (Basic auth) trades an access token for one working in ``store``."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "store": store,
        **extra,
    }
    return web.post(
        "/oauth/token", headers=rp.basic, data={k: v for k, v in data.items() if v is not None}
    )


def resigned(access_token: str, *, expires_in: int) -> str:
    """The same claims (so the ``jti`` is on record) signed again with the provider's current
    key, expiring ``expires_in`` seconds from now (in the past when negative). Needs the
    provider's application context."""
    now = int(time.time())
    claims = {
        **flow.jwt_payload(access_token),
        "iat": min(now, now + expires_in - 600),
        "exp": now + expires_in,
    }
    key = keyring().signing_key("ES256")
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, claims, key)
