"""Issuing and checking tokens. Access tokens are JWTs (RFC 9068, ``typ: at+jwt``) signed with
the current ES256 key; every one is recorded by ``jti`` so that revocation, logout and disabling
(R5) take effect at once at introspection and userinfo. Refresh tokens are opaque, stored hashed,
rotated on every use; reuse of a rotated one revokes its whole family."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select

from idp import metrics
from idp.defaults import VERIFIED_MEMO_SECONDS, VERIFIED_MEMO_SIZE
from idp.extensions import db
from idp.models import Account, Client, IssuedToken, SsoSession, Store
from idp.models.base import utcnow
from idp.oauth import shared_state, token_store
from idp.oauth.claims import MESSAGING_SCOPES, Profile, profile
from idp.oauth.config import (
    ACCESS_TOKEN_TTL,
    ADMIN_SCOPE,
    API_PATH,
    OFFLINE_REFRESH_TTL,
    SCIM_PATH,
    SCIM_SCOPE,
)
from idp.oauth.crypto import random_token, token_hash
from idp.oauth.keys import keyring
from idp.services import privacy


@dataclass
class Principal:
    """Who a token is for and how they signed in, as plain facts (OIDC ``auth_time``, ``amr``,
    ``acr``, ``sid``), never ORM rows: the token endpoint builds it from one row or from a
    verified token. Authlib passes it around as the grant's ``user``. ``claims`` are the seller
    claims for its store, read (from the shared store, usually) when first needed, with the
    account's privacy level (``profile``); ``tier`` is the tier of the app the tokens go to,
    set by the grant from its client, which decides what of them is released (R21)."""

    sub: str  # the account's public id
    account_id: int
    session_id: int | None = None
    sid: str | None = None
    session_expires_at: datetime | None = None
    auth_time: datetime | None = None
    amr: list[str] = field(default_factory=list)
    acr: str | None = None
    store_id: int | None = None
    store: str | None = None  # the active store's public id (R27)
    code_id: int | None = None
    family: str | None = None
    offline: bool = False
    # Token exchange (RFC 8693): the app the token is for (its ``aud``, when not the client
    # itself) and who acts for the account (its ``act`` claim).
    audience: str | None = None
    actor: dict | None = None
    tier: str | None = None
    # A refresh whose successor was written with its rotation: the jti, refresh token and
    # times the new tokens must carry (``RefreshTokenGrant``).
    successor: dict | None = field(default=None, repr=False)
    _profile: Profile | None = field(default=None, repr=False)

    @classmethod
    def signed_in(cls, account: Account, session: SsoSession | None, **facts) -> Principal:
        """From the account and its SSO session rows (the authorization endpoint)."""
        if session is not None:
            facts = {
                "session_id": session.id,
                "sid": session.sid,
                "session_expires_at": session.expires_at,
                "auth_time": session.auth_time,
                "amr": session.amr,
                "acr": session.acr,
                **facts,
            }
        return cls(sub=account.public_id, account_id=account.id, **facts)

    @classmethod
    def from_row(cls, row, **facts) -> Principal:
        """From a token store row carrying the account, its sign-in and store (a code's or a
        refresh token's)."""
        return cls(
            sub=row.sub,
            account_id=row.account_id,
            session_id=row.session_id,
            sid=row.sid,
            session_expires_at=row.session_expires_at,
            auth_time=row.auth_time,
            amr=row.amr or [],
            acr=row.acr,
            store_id=row.store_id,
            store=row.store,
            **facts,
        )

    def at_store(self, store: Store | None) -> None:
        self.store_id = store.id if store else None
        self.store = store.public_id if store else None
        self._profile = None

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = profile(self.sub, self.store)
            if self._profile is None:  # the account went away meanwhile
                raise InvalidGrantError("The account no longer exists")
        return self._profile

    @property
    def claims(self) -> dict:
        return self.profile.claims

    def get_user_id(self) -> str:
        return self.sub


def issuer() -> str:
    return current_app.extensions["idp.settings"].issuer


def api_audience() -> str:
    """The admin API's identifier (issue 16): the ``aud`` its tokens carry."""
    return issuer() + API_PATH


def scim_audience() -> str:
    """The SCIM service's identifier and base URL (issue 19): the ``aud`` its tokens carry."""
    return issuer() + SCIM_PATH


def audience(client: Client, scope: str, named: str | None) -> str | list[str]:
    """A token's ``aud``: the app named by token exchange, else the client; a token with the
    admin scope names the admin API too (it is only good there, and only with it: a token
    exchanged for another app's audience is not)."""
    if named:
        return named
    apis = [api_audience()] if ADMIN_SCOPE in scope.split() else []
    if SCIM_SCOPE in scope.split():
        apis.append(scim_audience())
    return [client.client_id, *apis] if apis else client.client_id


def effective_scope(muted: bool, scope: str | None) -> str:
    """R14: a muted account never receives messaging scopes, whatever was asked."""
    scopes = (scope or "").split()
    if muted:
        scopes = [s for s in scopes if s not in MESSAGING_SCOPES]
    return " ".join(scopes)


class TokenResponse(dict):
    """The token response (what the client gets), with the access token's claims beside it
    (``claims``, not sent) so that recording it needs no decoding."""

    claims: dict


class TokenGenerator:
    """Authlib's token generator hook: ``(grant_type, client, user, scope, expires_in,
    include_refresh_token) -> token dict``."""

    def __call__(
        self,
        grant_type: str,
        client: Client,
        user: Principal | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict:
        # RFC 6749 3.3: at most the scopes the client is registered for, whatever it asked.
        scope = effective_scope(
            bool(user and user.claims["muted"]), client.get_allowed_scope(scope)
        )
        successor = user.successor if user is not None else None
        now = int(successor["issued_at"].timestamp()) if successor else int(time.time())
        claims = {
            "iss": issuer(),
            "aud": audience(client, scope, user.audience if user is not None else None),
            "client_id": client.client_id,
            "iat": now,
            "exp": now + ACCESS_TOKEN_TTL,
            "jti": successor["jti"] if successor else random_token(16),
            "scope": scope,
        }
        if user is None:
            claims["sub"] = client.client_id  # client credentials: the client is the subject
        else:
            claims["sub"] = user.sub
            if user.auth_time:
                claims["auth_time"] = int(user.auth_time.timestamp())
            if user.acr:
                claims["acr"] = user.acr
            if user.amr:
                claims["amr"] = user.amr
            if user.sid is not None:
                claims["sid"] = user.sid
            # R21: the tokens' own app, and the one named by token exchange (the grant's tier).
            tier = privacy.lowest(client.tier, user.tier) if user.tier else client.tier
            claims.update(user.profile.released_to(tier))
            if user.actor:
                claims["act"] = user.actor
        token = TokenResponse(
            token_type="Bearer",
            access_token=keyring().sign(claims, typ="at+jwt"),
            expires_in=ACCESS_TOKEN_TTL,
            scope=scope,
        )
        token.claims = claims
        if include_refresh_token and user is not None:
            token["refresh_token"] = successor["refresh_token"] if successor else random_token(32)
        return token


def token_row(token: TokenResponse, request) -> dict:
    """The ``issued_tokens`` row of a token the generator made, for the grant's request."""
    claims = token.claims
    principal: Principal | None = request.user if isinstance(request.user, Principal) else None
    now = utcnow()
    offline = bool(principal and (principal.offline or "offline_access" in token["scope"].split()))
    refresh_expires = None
    if "refresh_token" in token:
        refresh_expires = (
            now + timedelta(seconds=OFFLINE_REFRESH_TTL)
            if offline or principal.session_expires_at is None
            else principal.session_expires_at
        )
    return dict(
        jti=claims["jti"],
        family=(principal.family if principal and principal.family else random_token(16)),
        refresh_token_hash=token_hash(token["refresh_token"]) if "refresh_token" in token else None,
        client_id=request.client.id,
        account_id=principal.account_id if principal else None,
        session_id=principal.session_id if principal else None,
        code_id=principal.code_id if principal else None,
        scope=token["scope"],
        store_id=principal.store_id if principal else None,
        offline=offline,
        issued_at=now,
        access_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        refresh_expires_at=refresh_expires,
    )


def save_token(token: dict, request) -> None:
    """Authlib's ``save_token`` hook, for the authorization code grant: the tokens are recorded
    in the transaction that marked the code used (``AuthorizationCodeGrant``), which commits
    here. The other grants record their tokens with one statement each (``token_store``)."""
    token_store.record_in_session(token_row(token, request))
    db.session.commit()
    metrics.TOKENS.labels(request.payload.grant_type or "unknown").inc()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 2.1), or None."""
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def jose_header(token: str) -> dict | None:
    """The unverified JOSE header of a compact JWT, or None when it is not a JSON object (a
    hostile token may carry an array, a number or garbage there)."""
    if not isinstance(token, str) or len(token) > 8192:
        return None
    head = token.split(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def decode_access_token(access_token: str) -> dict | None:
    """Verify an access token's signature, type, issuer and expiry. No database access.

    A signature that verified once verifies again: the process remembers the claims of tokens it
    checked in the last minute (until they expire), so a resource server introspecting the same
    token on every call costs one signature check a minute. Revocation is not remembered here."""
    if (
        not isinstance(access_token, str)
        or len(access_token) > 8192
        or access_token.count(".") != 2
    ):
        return None
    memo = current_app.extensions.setdefault("idp.verified", {})
    now = time.time()
    known = memo.get(access_token)
    if known is not None and known[1] > now:
        return dict(known[0])
    claims = _verify_access_token(access_token)
    if claims is not None:
        if len(memo) >= VERIFIED_MEMO_SIZE:
            memo.clear()
        memo[access_token] = (claims, min(claims["exp"], now + VERIFIED_MEMO_SECONDS))
        return dict(claims)
    return None


def _verify_access_token(access_token: str) -> dict | None:
    header = jose_header(access_token)
    if header is None:
        return None
    try:
        key = keyring().verifying_key(header.get("kid"))
        if key is None or header.get("typ") != "at+jwt":
            return None
        token = jwt.decode(access_token, key, algorithms=["ES256", "RS256"])
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer()},
            exp={"essential": True},
            jti={"essential": True},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError, TypeError, UnicodeDecodeError):
        return None
    return token.claims


def live_claims(access_token: str, *extra: str) -> tuple[dict | None, list]:
    """The hot path of introspection and userinfo, with no SQL: the verified claims of an access
    token that is not revoked (itself, its client or its account: R5), or None; and the values of
    ``extra`` shared-store keys, read in the same round trip."""
    claims = decode_access_token(access_token)
    if claims is None:
        return None, []
    revoked, values = shared_state.token_state(claims, *extra)
    return (None if revoked else claims), values


def active_access_token(access_token: str) -> tuple[dict, IssuedToken] | None:
    """An active access token's claims and its record, for callers that need the record (the
    owner API): the shared-store check, then the database's."""
    claims, _ = live_claims(access_token)
    if claims is None:
        return None
    row = db.session.query(IssuedToken).filter_by(jti=claims["jti"]).one_or_none()
    if row is None or row.revoked_at is not None or row.client.disabled:
        return None
    if row.account is not None and not row.account.is_active:
        return None
    return claims, row


def find_refresh_token(refresh_token: str) -> IssuedToken | None:
    if not isinstance(refresh_token, str) or len(refresh_token) > 256:
        return None
    return (
        db.session.query(IssuedToken)
        .filter_by(refresh_token_hash=token_hash(refresh_token))
        .one_or_none()
    )


def revoke_family(family: str) -> None:
    shared_state.revoke(IssuedToken.family == family)


def revoke_for_code(code_id: int) -> None:
    """A replayed authorization code revokes what its first use issued (RFC 6749 4.1.2)."""
    families = select(IssuedToken.family).where(IssuedToken.code_id == code_id)
    shared_state.revoke(IssuedToken.family.in_(families.scalar_subquery()))
