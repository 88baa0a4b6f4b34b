"""The authorization code grant (RFC 6749 4.1), with PKCE (``pkce``) and OpenID Connect
(``openid``). The code's tokens are written in the transaction that marks the code used
(``tokens.save_token``)."""

from __future__ import annotations

from datetime import timedelta

from authlib.oauth2.rfc6749 import grants
from sqlalchemy import update

from idp.defaults import CODE_MARKER_TTL, NONCE_TTL
from idp.extensions import db
from idp.kv import kv
from idp.models import AuthorizationCode, Client
from idp.models.base import utcnow
from idp.oauth import shared_state, token_store, tokens
from idp.oauth import userinfo as userinfo_answer
from idp.oauth.claims import profile_key
from idp.oauth.config import CODE_TTL
from idp.oauth.crypto import token_hash
from idp.oauth.grants.common import CLIENT_AUTH
from idp.oauth.grants.openid import nonce_key
from idp.oauth.tokens import Principal
from idp.services import single_use


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
            row,
            code_id=row.id,
            offline="offline_access" in row.scope.split(),
            tier=self.request.client.tier,  # R21: what its tokens release
        )
