"""JSON API for owners and services: staff management (R6, R16), wallet checks (R15).

Every call carries an access token as a Bearer token (RFC 6750), of one of two kinds:

- ``POST /api/wallet/verify`` takes the wallet service's own token, from the client credentials
  grant with the ``wallet:verify`` scope; never a person's token.
- every other route takes the company owner's access token, issued to a first-party app. A
  sub-account's token is refused on all of them (R6), before anything is looked up.

Bodies are small JSON objects. Errors are ``{"error", "error_description"}`` with their status,
rendered in one place (``api_error``); token errors add ``WWW-Authenticate`` (RFC 6750 3).
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, jsonify, request

from idp.errors import BearerError, DomainError, Forbidden, MalformedRequest
from idp.models import Account, IssuedToken
from idp.oauth import sessions, tokens
from idp.services import accounts, authz, passwords, second_factors, totp, wallet
from idp.web import answers
from idp.web.api_v1.spec import json_body

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_BODY = 4096  # bytes: every body here is a few short strings
WALLET_SCOPE = "wallet:verify"


@bp.errorhandler(DomainError)
def api_error(exc: DomainError):
    return answers.of(exc, answers.Kind.API)


# The owner's routes here are superseded by the admin API (issue 16); they keep working, and say
# so (RFC 9745 ``Deprecation``, RFC 8288 ``Link`` to the successor). The wallet service's check
# (``/api/wallet/verify``) is not the owner's and stays as it is.
SUCCESSORS = {
    "api.set_wallet_password": "/api/v1/wallet/password",
    "api.list_staff": "/api/v1/staff",
    "api.reset_password": "/api/v1/staff/{name}/reset-password",
    "api.reset_second_factor": "/api/v1/staff/{name}/reset-2fa",
    "api.end_sessions": "/api/v1/staff/{name}/end-sessions",
    "api.disable": "/api/v1/staff/{name}/disable",
    "api.enable": "/api/v1/staff/{name}/enable",
}
DEPRECATED_SINCE = "@1796169600"  # 2026-12-02T00:00:00Z, as RFC 9745's structured date


@bp.after_request
def no_store(response):
    """Answers carry passwords shown once and security state: never cached."""
    response.headers["Cache-Control"] = "no-store"
    successor = SUCCESSORS.get(request.endpoint or "")
    if successor is not None:
        target = successor.format(name=quote((request.view_args or {}).get("name", ""), safe=""))
        response.headers["Deprecation"] = DEPRECATED_SINCE
        response.headers["Link"] = f'<{target}>; rel="successor-version"'
    return response


# --- the checks each route starts with ------------------------------------------------------


def _token() -> IssuedToken:
    """The request's active Bearer token (RFC 6750 errors otherwise): every bearer-token
    endpoint of the provider starts here (``idp.web.events``, ``idp.web.inquiries`` too)."""
    token = tokens.bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise BearerError(None, "Send an access token as a Bearer token")
    found = tokens.active_access_token(token)
    if found is None:
        raise BearerError("invalid_token", "The access token is invalid, expired or revoked")
    return found[1]


bearer_row = _token  # the name the other bearer-token endpoints import


def _wallet_service() -> IssuedToken:
    """The wallet service's client credentials token with ``wallet:verify``."""
    row = _token()
    if row.account is not None:
        raise BearerError(
            "insufficient_scope",
            "Wallet checks take the wallet service's client credentials token, not a user's",
            403,
            scope=WALLET_SCOPE,
        )
    if WALLET_SCOPE not in (row.scope or "").split():
        raise BearerError(
            "insufficient_scope", "The token lacks the wallet:verify scope", 403, scope=WALLET_SCOPE
        )
    return row


def _owner() -> Account:
    """R6: the main account's own token, through a first-party app. A partner app the owner
    signed in to must not manage the company's staff or its wallet."""
    row = _token()
    authz.require_owner(row.account)
    if not row.client.first_party:
        raise Forbidden("Staff and wallet management is not open to third-party apps")
    return row.account


def _body() -> dict:
    """The JSON object sent, ``{}`` when nothing was sent (read as the admin API reads its)."""
    return json_body(MAX_BODY, too_large=MalformedRequest)


def _text(body: dict, name: str, *, required: bool, limit: int) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise MalformedRequest(f"'{name}' is required, as a string", field=name)
    if len(value) > limit or "\x00" in value:
        raise MalformedRequest(f"'{name}' is too long or holds a NUL character", field=name)
    return value


def _staff(account: Account) -> dict:
    return {
        "id": account.public_id,
        "name": account.name,
        "login_name": account.login_name,
        "nickname": account.nickname,
        "email": account.email,
        "phone": account.phone,
        "status": account.status,
        "departed_at": account.departed_at.isoformat() if account.departed_at else None,
        "must_change_password": account.must_change_password,
        "second_factor": second_factors.has_any(account),  # an app or a passkey
        "muted": account.is_muted,
        "roles": [r.name for r in account.roles],
        "stores": [s.public_id for s in account.stores],
        "default_store": account.default_store.public_id if account.default_store else None,
    }


# --- R15: the wallet service ----------------------------------------------------------------


@bp.post("/wallet/verify")
def verify_wallet():
    """``{"store": "st_…", "password": "…"}`` → ``{"match": true|false}``; 423 while locked."""
    service = _wallet_service()
    body = _body()
    store_id = _text(body, "store", required=True, limit=40)
    password = _text(body, "password", required=True, limit=passwords.MAX_LENGTH)
    store = wallet.store_for_check(store_id)
    match = wallet.verify_wallet_password(store, password, client=service.client)
    return jsonify(match=match)


@bp.post("/wallet/password")
def set_wallet_password():
    """R15: the owner sets or changes the wallet password, with its password and, when it has a
    second factor, an authenticator or recovery code (a passkey answers on the console's page)."""
    owner = _owner()
    body = _body()
    first = owner.company.wallet_password_hash is None
    company = wallet.set_wallet_password(
        owner,
        current_password=_text(body, "current_password", required=True, limit=1024),
        totp_code=_text(body, "totp_code", required=False, limit=64),
        new_password=_text(body, "new_password", required=True, limit=1024),
    )
    return jsonify(
        status="set" if first else "changed",
        wallet_password_set_at=company.wallet_password_set_at.isoformat(),
    )


# --- R16, R4: the owner manages staff -------------------------------------------------------


@bp.get("/staff")
def list_staff():
    """Every sub-account, departed ones included (R4); ``?status=active|departed``, ``?search=``."""
    owner = _owner()
    status = request.args.get("status", "all")
    if status not in ("all", "active", "departed"):
        raise MalformedRequest("status is all, active or departed", field="status")
    search = (request.args.get("search") or "")[:100] or None
    found = []
    if status in ("all", "active"):
        found += accounts.list_staff(owner, search=search)
    if status in ("all", "departed"):
        found += accounts.list_staff(owner, departed=True, search=search)
    return jsonify(staff=[_staff(a) for a in found])


@bp.post("/staff/<name>/reset-password")
def reset_password(name: str):
    """R16: ``{"password": "…"}`` or nothing (one is generated); shown once in the answer."""
    owner = _owner()
    body = _body()
    chosen = _text(body, "password", required=False, limit=1024)
    account = accounts.get_sub_account(owner, name)
    password = accounts.reset_sub_account_password(owner, account, chosen)
    return jsonify(staff=_staff(account), password=password)


@bp.post("/staff/<name>/reset-2fa")
def reset_second_factor(name: str):
    owner = _owner()
    account = totp.reset_totp(owner, accounts.get_sub_account(owner, name))
    return jsonify(staff=_staff(account))


@bp.post("/staff/<name>/end-sessions")
def end_sessions(name: str):
    owner = _owner()
    account = accounts.get_sub_account(owner, name)
    ended = sessions.end_sessions_by_owner(owner, account)
    return jsonify(staff=_staff(account), sessions_ended=ended)


@bp.post("/staff/<name>/disable")
def disable(name: str):
    owner = _owner()
    account = accounts.disable_sub_account(owner, accounts.get_sub_account(owner, name))
    return jsonify(staff=_staff(account))


@bp.post("/staff/<name>/enable")
def enable(name: str):
    owner = _owner()
    account = accounts.enable_sub_account(owner, accounts.get_sub_account(owner, name))
    return jsonify(staff=_staff(account))
