"""Who may act: owner-only operations and tenant scoping. A company's owner acts on its own
company only; another company's objects are reported as not found (never as forbidden), so a
tenant cannot even learn that they exist."""

from __future__ import annotations

from idp.errors import Forbidden, NotFound
from idp.models import Account


def require_owner(actor: Account) -> Account:
    """R6: managing sub-accounts, stores, roles and groups belongs to the main account alone."""
    if actor is None or not actor.is_main:
        raise Forbidden("Only the company's main account can do this")
    if not actor.is_active:
        raise Forbidden("This account is not active")
    return actor


def require_same_company(actor: Account, obj, what: str):
    if obj is None or obj.company_id != actor.company_id:
        raise NotFound(f"No such {what} in your company")
    return obj


def require_sub_account(actor: Account, account: Account | None) -> Account:
    """The target of a sub-account operation must be a sub-account of the actor's company: the
    main account cannot be renamed, disabled or reset through them (it would lock the owner out)."""
    require_same_company(actor, account, "sub-account")
    if account.is_main:
        raise NotFound("No such sub-account in your company")
    return account


CONSUMER_REFUSED = "Staff sub-accounts cannot sign in to buyer apps"


def may_use_app(account_type: str, client) -> bool:
    """R6: sub-accounts never sign in to consumer (buyer) apps, whatever the grant.
    ``account_type`` is ``Account.kind`` (the ``account_type`` claim): ``main`` or ``sub``."""
    from idp.models.accounts import MAIN
    from idp.models.oauth import CONSUMER

    return account_type == MAIN or client.app_type != CONSUMER
