"""Which store a sign-in, a session or a token works in (R9, R26, R27), in one place.

- A session starts in the account's default store (R9); the main account in its first store.
- An app that serves certain marketplaces lands in the account's default store for that
  marketplace: the default store when it is on one of them, else the store of those marketplaces
  the account was given earliest. An account with none is refused.
- A request (authorize ``store`` parameter, the OIDC ``claims`` request, or token exchange) may
  name a store; one the account does not hold is refused (``access_denied``).
- Whether an account holds a store (R8, R10, R27) is decided here, in Python (``holds``) and in
  SQL (``holds_sql``, for the token statements), side by side."""

from __future__ import annotations

import json

from sqlalchemy import Alias, ColumnElement, Table, and_, exists, or_, select

from idp.defaults import MAX_CLAIMS_REQUEST
from idp.errors import InvalidInput, StoreRefused
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Client, Store, StoreAssignment
from idp.models.accounts import ACTIVE, MAIN
from idp.models.companies import STORE_AUTHORIZED


def not_held(store_id: str):
    """The refusal of a store the account does not hold (a page, or ``access_denied``)."""
    return _l("This account does not hold the store '%(store)s'", store=store_id)


def requested_store_id(values) -> str | None:
    """The store named by an authorization request: ``store=…`` or
    ``claims={"id_token": {"store": {"value": …}}}`` (also under ``userinfo``)."""
    if values.get("store"):
        return values["store"][:64]
    raw = values.get("claims")
    if not raw:
        return None
    if len(raw) > MAX_CLAIMS_REQUEST:
        raise InvalidInput("The claims parameter is too long", field="claims")
    try:
        claims = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput("The claims parameter is not valid JSON", field="claims") from None
    if not isinstance(claims, dict):
        return None
    for member in ("id_token", "userinfo"):
        wanted = claims.get(member)
        if isinstance(wanted, dict) and isinstance(wanted.get("store"), dict):
            value = wanted["store"].get("value")
            if isinstance(value, str):
                return value[:64]
    return None


def _serves(client: Client | None, marketplace: str | None) -> bool:
    return client is None or client.serves(marketplace)


def _not_served(client: Client, marketplace: str | None) -> StoreRefused:
    return StoreRefused(
        _l(
            "The app '%(app)s' does not serve %(marketplace)s",
            app=client.name,
            marketplace=marketplace,
        )
    )


def choose(
    account: Account,
    client: Client | None,
    *,
    requested: str | None = None,
    current_id: int | None = None,
) -> Store | None:
    """The store to work in, or StoreRefused with a reason a person understands."""
    held = account.stores
    if requested is not None:
        store = next((s for s in held if s.public_id == requested), None)
        if store is None:
            raise StoreRefused(not_held(requested))
        if not _serves(client, store.marketplace_code):
            raise _not_served(client, store.marketplace_code)
        return store
    preferred = [current_id, account.default_store_id]
    for store_id in preferred:
        store = next((s for s in held if s.id == store_id), None)
        if store is not None and _serves(client, store.marketplace_code):
            return store
    for store in held:  # in the order given (R9)
        if _serves(client, store.marketplace_code):
            return store
    if client is not None and client.marketplaces:
        raise StoreRefused(
            _l(
                "'%(login)s' holds no store on %(marketplaces)s, which '%(app)s' serves",
                login=account.login_name,
                marketplaces=", ".join(client.marketplaces),
                app=client.name,
            )
        )
    return None


def check_held(claims: dict, client: Client | None, requested: str) -> None:
    """A store named by token exchange, judged on the account's current claims for it
    (``profile_claims(sub, requested)``): held, and served by the app; else StoreRefused."""
    if requested not in claims["stores"]:
        raise StoreRefused(not_held(requested))
    if not _serves(client, claims["marketplace"]):
        raise _not_served(client, claims["marketplace"])


# --- R8, R9, R10, R27: "the account may work in this store now" ---------------------------------
#
# One rule in two forms, side by side: ``holds`` judges rows loaded in Python (token exchange,
# the store switcher, the lists that claims carry), ``holds_sql`` is the same condition inside
# the token statements (``idp.oauth.token_store``), checked as their write runs so that a store
# taken away meanwhile is never missed. tests/test_store_held_rule.py proves that they agree on
# every combination of account and store, on SQLite and PostgreSQL.


def holds(account: Account, store: Store) -> bool:
    """Whether the account may work in the store now: it is active (R4, R5) and the store is
    one it is given (``is_given``)."""
    return account.is_active and is_given(account, store)


def is_given(account: Account, store: Store) -> bool:
    """The store is authorized (R8, R10), of the account's company, and the account's: the main
    account is given every such store, a sub-account those assigned to it (R9). What a departed
    account keeps and has again when re-enabled (R4); ``Account.stores`` lists these. One key
    lookup for a sub-account, not its whole list of stores."""
    if not (store.is_authorized and store.company_id == account.company_id):
        return False
    if account.is_main:
        return True
    if "assignments" in account.__dict__:  # already loaded: no query
        return any(a.store_id == store.id for a in account.assignments)
    return (
        db.session.scalar(
            select(StoreAssignment.id).where(
                StoreAssignment.account_id == account.id, StoreAssignment.store_id == store.id
            )
        )
        is not None
    )


def holds_sql(account: Table | Alias, store: Table | Alias) -> ColumnElement[bool]:
    """``holds`` as an SQL condition on an ``accounts`` row and a ``stores`` row (the tables, or
    aliases of them)."""
    assignments = StoreAssignment.__table__
    return and_(
        account.c.status == ACTIVE,
        store.c.status == STORE_AUTHORIZED,
        store.c.company_id == account.c.company_id,
        or_(
            account.c.kind == MAIN,
            exists().where(
                assignments.c.account_id == account.c.id,
                assignments.c.store_id == store.c.id,
            ),
        ),
    )
