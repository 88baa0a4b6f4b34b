"""The grants: authorization code (with PKCE and OpenID Connect), refresh token (rotating, with
reuse detection) and client credentials. Authlib runs the protocol; these are its storage hooks."""

from __future__ import annotations

import contextlib
import hashlib
import time
from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import g
from sqlalchemy import update

from idp import metrics
from idp.defaults import CODE_MARKER_TTL, NONCE_TTL
from idp.extensions import db
from idp.kv import kv
from idp.models import AuthorizationCode, Client, Store
from idp.models.base import utcnow
from idp.oauth import consents, shared_state, store_context, token_store, tokens
from idp.oauth import userinfo as userinfo_answer
from idp.oauth.claims import profile_claims, profile_key
from idp.oauth.clients import may_exchange
from idp.oauth.config import ACCESS_TOKEN_TTL, CODE_TTL, ID_TOKEN_TTL, OFFLINE_REFRESH_TTL
from idp.oauth.crypto import random_token, token_hash
from idp.oauth.keys import keyring
from idp.oauth.store_context import StoreRefused, holds
from idp.oauth.tokens import Principal
from idp.services import authz, single_use

CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]


class S256Only(CodeChallenge):
    """PKCE (RFC 7636) with S256 only; required for public clients (``plain`` is refused)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        request = grant.request
        challenge = request.payload.data.get("code_challenge")
        method = request.payload.data.get("code_challenge_method")
        if challenge and not method:
            raise InvalidRequestError("'code_challenge_method' must be S256 ('plain' is refused)")
        if method and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256 ('plain' is refused)")
        if request.client.is_public and not challenge:
            raise InvalidRequestError("Public clients must use PKCE with S256 ('code_challenge')")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.row.code_challenge_method


class OpenIDConnect(OpenIDCode):
    """ID tokens: signed with the client's algorithm (ES256 default, RS256 per client)."""

    def exists_nonce(self, nonce, request) -> bool:
        """OIDC Core 3.1.2.1: a nonce this client used before is a replay. Nonces are
        remembered in the shared store for ``NONCE_TTL`` from the code they went into (longer
        than any ID token lives); one authorization request asks twice, answered once."""
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
        answer for both)."""
        claims = userinfo_answer.claims(user.sub, user.store, scope)
        if claims is None:
            raise InvalidGrantError("The account is no longer active")
        if user.sid is not None:
            claims["sid"] = user.sid
        return UserInfo(claims)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH, "none"]

    def save_authorization_code(self, code: str, request) -> None:
        principal: Principal = request.user
        data = request.payload.data
        now = utcnow()
        token_store.record_code(
            {
                "code_hash": token_hash(code),
                "client_id": request.client.id,
                "account_id": principal.account_id,
                "session_id": principal.session_id,
                "redirect_uri": request.payload.redirect_uri,
                "scope": request.client.get_allowed_scope(request.payload.scope),
                "nonce": data.get("nonce"),
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "auth_time": principal.auth_time or now,
                "amr": principal.amr or [],
                "acr": principal.acr,
                "store_id": principal.store_id,
                "created_at": now,
                "expires_at": now + timedelta(seconds=CODE_TTL),
            }
        )
        if data.get("nonce"):
            kv().set(nonce_key(request.client.client_id, data["nonce"]), "1", NONCE_TTL)

    def query_authorization_code(self, code: str, client: Client) -> RedeemedCode | None:
        """Single use, enforced atomically twice: the shared store's marker first (one claim for
        every instance, issue 6), then the conditional UPDATE, which stays the authority. A use
        refused by either is a replay and revokes what the first use issued (RFC 6749 4.1.2).
        A replay still runs the UPDATE: racing a first use, it waits there for that use to
        commit, and so finds the tokens to revoke."""
        if not isinstance(code, str) or len(code) > 256:
            return None
        code_hash = token_hash(code)
        row = token_store.find_code_in_session(code_hash)
        if row is None or row.client_id != client.id:
            return None
        marked = single_use.claim(f"code:{code_hash}", CODE_MARKER_TTL)
        claimed = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not marked or claimed != 1:
            tokens.revoke_for_code(row.id)
            db.session.commit()
            return None
        # No commit here: marking the code used and issuing its tokens commit together (in
        # save_token), and the row lock makes a concurrent second use wait, then fail.
        if row.expires_at <= utcnow():
            return None
        # The claims its access and ID tokens carry, in one round trip (issue 6).
        shared_state.prefetch(
            [
                shared_state.GENERATION,
                profile_key(row.sub, row.store),
                userinfo_answer.cache_key(row.sub, row.store, row.scope),
            ]
        )
        return RedeemedCode(row)

    def delete_authorization_code(self, authorization_code: RedeemedCode) -> None:
        """Nothing to do: the code was marked used when it was redeemed."""

    def authenticate_user(self, authorization_code: RedeemedCode) -> Principal | None:
        row = authorization_code.row
        if not row.account_active or row.session_ended_at is not None or not row.held:
            return None  # disabled (R5), signed out, or the store was taken away (R10)
        return Principal.from_row(
            row, code_id=row.id, offline="offline_access" in row.scope.split()
        )


class RedeemedCode:
    """An authorization code's row as ``token_store.find_code_in_session`` read it, for
    Authlib (its AuthorizationCodeMixin, and OIDC's)."""

    def __init__(self, row) -> None:
        self.row = row

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return self.row.amr or []


def nonce_key(client_id: str, nonce: str) -> str:
    """The shared-store key of a client's used nonce (hashed: any length, never stored)."""
    return f"nonce:{client_id}:{hashlib.sha256(nonce.encode()).hexdigest()[:32]}"


class RefreshToken:
    """A refresh token's row as ``token_store.find_refresh`` read it, or as
    ``rotate_at_once`` rotated it (then with its ``successor`` already written), for Authlib."""

    def __init__(self, row, successor: dict | None = None) -> None:
        self.row = row
        self.successor = successor
        self.answered = False

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.id

    def get_scope(self) -> str:
        return self.row.scope


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation with reuse detection: each use marks the token rotated and records its
    successor in one statement; presenting a rotated token again revokes its whole family.
    Without a ``scope`` parameter (the common case), on PostgreSQL, that statement also finds
    the token and what its successor needs (``token_store.rotate_at_once``): one round trip to
    the database, and the rotation is taken back when the answer cannot be given."""

    TOKEN_ENDPOINT_AUTH_METHODS = [*CLIENT_AUTH, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 256:
            return None
        if token_store.can_rotate_at_once() and not self.request.payload.scope:
            # The common case in one round trip: rotated, its successor written (with the
            # scope it had; narrowed in save_token if it must be).
            now = utcnow()
            successor = {
                "jti": random_token(16),
                "refresh_token": random_token(32),
                "issued_at": now,
                "access_expires_at": now + timedelta(seconds=ACCESS_TOKEN_TTL),
                "offline_expires_at": now + timedelta(seconds=OFFLINE_REFRESH_TTL),
            }
            successor["refresh_token_hash"] = token_hash(successor["refresh_token"])
            rotated = token_store.rotate_at_once(
                token_hash(refresh_token), self.request.client, successor
            )
            if rotated is not None:
                return RefreshToken(rotated, successor)
        row = token_store.find_refresh(token_hash(refresh_token))
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:  # a replay: the family is no longer to be trusted
            _revoke_family(row.family)
            return None
        if row.refresh_expires_at is not None and row.refresh_expires_at <= utcnow():
            return None
        if not row.account_active or not row.held:
            return None  # disabled (R5), or the store was taken away or de-authorized (R10)
        return RefreshToken(row)

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
        if refresh.successor is not None:  # written with the rotation (rotate_at_once)
            if token["scope"] != refresh.row.scope:
                token_store.narrow_successor(refresh.row.new_id, token["scope"])
            refresh.answered = True
            metrics.TOKENS.labels(self.GRANT_TYPE).inc()
            return
        row = tokens.token_row(token, self.request)
        old = refresh.row
        if not token_store.rotate(old.id, row["issued_at"], row, self.request.client):
            now = token_store.find_refresh(old.refresh_token_hash)
            if now is None or now.rotated_at is not None or now.revoked_at is not None:
                _revoke_family(row["family"])  # used twice at once: one of them is a replay
                raise InvalidGrantError("The refresh token was already used")
            client_changed()
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Already marked rotated, with its successor (``save_token``)."""


def _revoke_family(family: str) -> None:
    tokens.revoke_family(family)
    db.session.commit()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    def save_token(self, token: dict) -> None:
        if not token_store.record(tokens.token_row(token, self.request), self.request.client):
            client_changed()
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()


class StaleClient(Exception):
    """The client a grant authenticated was changed (or disabled) before its token was
    recorded: the request is answered again with the client read anew (``idp.web.direct``)."""


def client_changed():
    """The statement recording a token found its client changed since it authenticated."""
    if g.get("idp_client_read_anew"):
        raise InvalidClientError(description="The client was changed or disabled; try again")
    raise StaleClient


def _held_store(account, store_id: int | None):
    """The token's store if the account still holds it; None when the token has no store;
    False when it was taken away (R10) or de-authorized. Two key lookups, not the account's whole
    list of stores."""
    if store_id is None:
        return None
    store = db.session.get(Store, store_id)
    return store if store is not None and holds(account, store) else False


ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """OAuth 2.0 Token Exchange (RFC 8693), for switching store (R27): an app presents the
    account's access token and the store it wants, and gets an access token for that store, for
    the same account and SSO session, with no password. Only clients granted this grant type may
    exchange. Everything is judged from the verified subject token and the account's current
    claims (the shared store); the statement that records the new token checks again that the
    store is still held."""

    GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client is not allowed to exchange tokens")
        form = self.request.form
        if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"'subject_token_type' must be {ACCESS_TOKEN_TYPE}")
        requested_type = form.get("requested_token_type")
        if requested_type and requested_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError("Only access tokens can be requested")
        if not form.get("subject_token"):
            raise InvalidRequestError("Missing 'subject_token'")
        subject, _ = tokens.live_claims(form["subject_token"])
        if subject is None:
            raise InvalidGrantError(
                "The subject token is invalid, expired or revoked, or its account is disabled"
            )
        if not subject.get("account_type"):
            raise InvalidGrantError("The subject token does not belong to an account")
        if subject.get("client_id") != client.client_id and not may_exchange(
            client, shared_state.cached_client(str(subject.get("client_id")))
        ):
            raise InvalidGrantError(
                "The subject token was issued to another app, which does not let this app "
                "exchange its tokens"
            )
        wanted = (form.get("store") or "")[:64]
        if not wanted:
            raise InvalidRequestError("Name the store to switch to ('store')")
        claims = profile_claims(subject["sub"], wanted)
        if claims is None:
            raise InvalidGrantError("The subject token's account is disabled")
        if not authz.may_use_app(claims["account_type"], client):
            raise AccessDeniedError(authz.CONSUMER_REFUSED)
        try:
            store_context.check_held(claims, client, wanted)
        except StoreRefused as exc:
            raise AccessDeniedError(exc.message) from None
        scope = form.get("scope") or subject.get("scope") or ""
        if not set(scope.split()) <= set(str(subject.get("scope") or "").split()):
            raise InvalidScopeError("The scope cannot be wider than the subject token's")
        if not client.first_party and not consents.covers(
            subject["sub"], client, client.get_allowed_scope(scope)
        ):
            raise AccessDeniedError(
                "The account has not approved this app; send the person through sign-in first"
            )
        self.request.client = client
        self.request.user = Principal(
            sub=subject["sub"],
            account_id=0,  # not needed: the statement finds the account by ``sub``
            sid=subject.get("sid"),
            auth_time=_from_epoch(subject.get("auth_time")),
            amr=subject.get("amr") or [],
            acr=subject.get("acr"),
            store=wanted,
            _claims=claims,
        )
        self._scope = scope

    def create_token_response(self):
        token = self.generate_token(
            user=self.request.user, scope=self._scope, include_refresh_token=False
        )
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def save_token(self, token: dict) -> None:
        user: Principal = self.request.user
        row = tokens.token_row(token, self.request)
        client = self.request.client
        if not token_store.record_exchanged(
            row, client, sub=user.sub, sid=user.sid, store=user.store
        ):
            if not g.get("idp_client_read_anew"):
                raise StaleClient  # the client may have changed: answered again, read anew
            raise AccessDeniedError(store_context.not_held(user.store))  # English (error_text)
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()


def _from_epoch(value) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None
