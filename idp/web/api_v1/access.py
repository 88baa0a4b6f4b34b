"""Who may call the admin API (issue 16), checked before anything else on every route, as a
short pipeline of checks that each raise a typed error (RFC 6750 3.1 for the token's):

1. a Bearer access token that is active (``tokens.active_access_token``): else 401;
2. with the ``company:admin`` scope: else 403 ``insufficient_scope`` and a challenge naming it;
3. whose ``aud`` names this API (``tokens.api_audience``): a token exchanged for another app's
   audience is not for us (RFC 8707's reasoning), 401 ``invalid_token``;
4. either the owner's own token (R6: the main account; a sub-account's token is refused whatever
   its role) issued to a first-party app or to an API client of the owner's company, or a
   company API client's client-credentials token, which acts for that company's main account
   and only within its company. A provider app's client-credentials token (the wallet service)
   is no company's: 403.

The caller found is a ``Caller``: the account the services act as, the client, and the token's
``jti`` when it is the owner's (named in the audit entries; the token itself never is)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from idp.errors import BearerError, Forbidden
from idp.extensions import db
from idp.models import Account, Client, IssuedToken
from idp.models.accounts import MAIN
from idp.oauth import tokens
from idp.oauth.config import ADMIN_SCOPE
from idp.services import authz


@dataclass(frozen=True)
class Caller:
    actor: Account  # the company's main account: the services' actor
    client: Client
    jti: str | None  # the owner's token; None for a company API client acting on its own

    @property
    def is_owner(self) -> bool:
        """The owner's own token (not a company API client acting for the owner)."""
        return self.jti is not None

    @property
    def rate_key(self) -> str:
        """Calls are counted per client: the company's client, or the owner's tool."""
        return self.client.client_id


def _token_row() -> tuple[dict, IssuedToken]:
    token = tokens.bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise BearerError(None, "Send an access token as a Bearer token")
    found = tokens.active_access_token(token)
    if found is None:
        raise BearerError("invalid_token", "The access token is invalid, expired or revoked")
    return found


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


def authenticate() -> Caller:
    claims, row = _token_row()
    if ADMIN_SCOPE not in (row.scope or "").split():
        raise BearerError(
            "insufficient_scope",
            f"The admin API takes a token with the {ADMIN_SCOPE} scope",
            403,
            scope=ADMIN_SCOPE,
        )
    if tokens.api_audience() not in _audiences(claims):
        raise BearerError("invalid_token", "The access token is not meant for the admin API")
    client = row.client
    if row.account is None:
        return _company_client(client)
    owner = authz.require_owner(row.account)  # R6: a sub-account's token is refused (403)
    if not client.first_party and client.company_id != owner.company_id:
        raise Forbidden(
            "The admin API takes the owner's token from a first-party app or from an API "
            "client of the owner's company"
        )
    return Caller(actor=owner, client=client, jti=claims["jti"])


def _company_client(client: Client) -> Caller:
    """A company API client acts for its company's main account, and nowhere else."""
    if client.company_id is None:
        raise Forbidden("This client belongs to no company: the admin API is not open to it")
    main = (
        db.session.query(Account).filter_by(company_id=client.company_id, kind=MAIN).one_or_none()
    )
    if main is None or not main.is_active:
        raise Forbidden("The company of this client is not active")
    return Caller(actor=main, client=client, jti=None)


def require_owner_token(caller: Caller) -> Account:
    """R15: what needs the owner's own password and code (the wallet password) takes the
    owner's token, never a company API client's."""
    if not caller.is_owner:
        raise Forbidden("Only the owner's own token can set the wallet password")
    return caller.actor
