"""OpenID Connect Core on the authorization code grant: ID tokens and nonces."""

from __future__ import annotations

import hashlib
import time

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import g

from idp.kv import kv
from idp.models import Client
from idp.oauth import tokens
from idp.oauth import userinfo as userinfo_answer
from idp.oauth.config import ID_TOKEN_TTL
from idp.oauth.keys import keyring
from idp.oauth.tokens import Principal


def nonce_key(client_id: str, nonce: str) -> str:
    """The shared-store key of a client's used nonce (hashed: any length, never stored)."""
    return f"nonce:{client_id}:{hashlib.sha256(nonce.encode()).hexdigest()[:32]}"


class OpenIDConnect(OpenIDCode):
    """ID tokens: signed with the client's algorithm (ES256 default, RS256 per client)."""

    def exists_nonce(self, nonce, request) -> bool:
        """OIDC Core 3.1.2.1: a nonce this client used before is a replay. Nonces are
        remembered in the shared store for ``NONCE_TTL`` from the code they went into (longer
        than any ID token lives); one authorization request asks twice, answered once (this
        module's memo in ``flask.g``)."""
        seen = g.setdefault("idp_nonces", {})
        key = nonce_key(request.client.client_id, nonce)
        if key not in seen:
            seen[key] = kv().get(key) is not None
        return seen[key]

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_signed_response_alg or "ES256"

    def resolve_client_private_key(self, client: Client):
        return keyring().signing_key(self.get_client_algorithm(client))

    def get_encode_header(self, client: Client) -> dict:
        key = self.resolve_client_private_key(client)
        return {"alg": self.get_client_algorithm(client), "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict:
        return {
            "iss": tokens.issuer(),
            "aud": [client.client_id],
            "exp": int(time.time()) + ID_TOKEN_TTL,
        }

    def generate_user_info(self, user: Principal, scope: str) -> UserInfo:
        """The ID token says what userinfo says for the same scope and store (one cached
        answer for both), to a client of the tier the grant found (R21)."""
        claims = userinfo_answer.claims(user.sub, user.store, scope, user.tier)
        if claims is None:
            raise InvalidGrantError("The account is no longer active")
        if user.sid is not None:
            claims["sid"] = user.sid
        return UserInfo(claims)
