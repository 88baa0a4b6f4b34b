"""The refresh token grant (RFC 6749 6), rotating, with reuse detection (OAuth 2.0 Security BCP,
RFC 9700 4.14.2): each use marks the token rotated and records its successor in one
statement; presenting a rotated token again revokes its whole family.

How Authlib's hooks are used here:

- ``authenticate_refresh_token`` redeems the token. In the common case (no ``scope`` parameter,
  PostgreSQL) one statement marks it rotated, writes its successor's row and reads what the new
  access token needs (``token_store.rotate_at_once``): one round trip for the whole refresh.
  Otherwise the token is read and judged (``token_store.refusal``), and ``save_token`` writes
  the rotation.
- ``save_token`` writes the rotation when it is not written yet, and branches on its outcome.
- ``revoke_old_credential`` has nothing left to do: the presented token was marked rotated by
  the statement that recorded its successor (both or neither).
- ``create_token_response`` takes a redeeming statement back when the answer cannot be given
  after it (an outage), so that the client's retry is not taken for a replay."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError

from idp import metrics
from idp.extensions import db
from idp.models import Client
from idp.models.base import utcnow
from idp.oauth import token_store, tokens
from idp.oauth.config import ACCESS_TOKEN_TTL, OFFLINE_REFRESH_TTL
from idp.oauth.crypto import random_token, token_hash
from idp.oauth.grants.common import CLIENT_AUTH, client_changed
from idp.oauth.token_store import Outcome
from idp.oauth.tokens import Principal


class RefreshToken:
    """A refresh token's row as ``token_store.find_refresh`` read it, or as ``rotate_at_once``
    redeemed it (then with its ``successor`` already written), for Authlib."""

    def __init__(self, row, successor: dict | None = None) -> None:
        self.row = row
        self.successor = successor
        self.answered = False

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.id

    def get_scope(self) -> str:
        return self.row.scope


def _successor() -> dict:
    """What a redeeming statement writes for the new tokens (the scope is the old one's)."""
    now = utcnow()
    refresh_token = random_token(32)
    return {
        "jti": random_token(16),
        "refresh_token": refresh_token,
        "refresh_token_hash": token_hash(refresh_token),
        "issued_at": now,
        "access_expires_at": now + timedelta(seconds=ACCESS_TOKEN_TTL),
        "offline_expires_at": now + timedelta(seconds=OFFLINE_REFRESH_TTL),
    }


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 256:
            return None
        presented = token_hash(refresh_token)
        if token_store.can_rotate_at_once() and not self.request.payload.scope:
            successor = _successor()
            rotated = token_store.rotate_at_once(presented, self.request.client, successor)
            if rotated is not None:
                return RefreshToken(rotated, successor)
            # Not redeemed: find out why (a replay, a changed client, …) from the row itself.
        row = token_store.find_refresh(presented)
        refusal = token_store.refusal(row)
        if refusal is Outcome.REPLAYED:  # the family is no longer to be trusted
            _revoke_family(row.family)
        return RefreshToken(row) if refusal is None else None

    def authenticate_user(self, refresh_token: RefreshToken) -> Principal:
        row = refresh_token.row
        return Principal.from_row(
            row, family=row.family, offline=row.offline, successor=refresh_token.successor
        )

    def create_token_response(self):
        try:
            return super().create_token_response()
        except BaseException:
            refresh = self.request.refresh_token
            if refresh is not None and refresh.successor is not None and not refresh.answered:
                with contextlib.suppress(Exception):  # the original error is what to report
                    token_store.undo_rotation(refresh.row)
            raise

    def save_token(self, token: dict) -> None:
        refresh = self.request.refresh_token
        if refresh.successor is None:
            outcome = token_store.rotate(
                refresh.row, tokens.token_row(token, self.request), self.request.client
            )
            if outcome is Outcome.REPLAYED:  # used twice at once: one of them is a replay
                _revoke_family(refresh.row.family)
                raise InvalidGrantError("The refresh token was already used")
            if outcome is Outcome.CLIENT_CHANGED:
                client_changed(self.request)
        elif token["scope"] != refresh.row.scope:  # narrowed (R14 muting, the client's scopes)
            token_store.narrow_successor(refresh.row.new_id, token["scope"])
        refresh.answered = True
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Nothing left to do: marked rotated with its successor recorded (module docstring)."""


def _revoke_family(family: str) -> None:
    tokens.revoke_family(family)
    db.session.commit()
