"""Who may act: owner-only operations and tenant scoping. A company's owner acts on its own
company only; another company's objects are reported as not found (never as forbidden), so a
tenant cannot even learn that they exist."""

from __future__ import annotations

from idp.errors import Forbidden, NotFound
from idp.i18n import _l
from idp.models import Account


def require_owner(actor: Account) -> Account:
    """R6: managing sub-accounts, stores, roles and groups belongs to the main account alone."""
    if actor is None or not actor.is_main:
        raise Forbidden(_l("Only the company's main account can do this"))
    if not actor.is_active:
        raise Forbidden(_l("This account is not active"))
    return actor


# One whole sentence per kind of object (``what``), for translation.
_NO_SUCH = {
    "account": _l("No such account in your company"),
    "sub-account": _l("No such sub-account in your company"),
    "store": _l("No such store in your company"),
    "role": _l("No such role in your company"),
    "staff group": _l("No such staff group in your company"),
}


def require_same_company(actor: Account, obj, what: str):
    """``obj`` if it belongs to the actor's company, else ``NotFound``. ``what`` is one of
    ``_NO_SUCH``."""
    if obj is None or obj.company_id != actor.company_id:
        raise NotFound(_NO_SUCH[what] if what in _NO_SUCH else _l("Not found in your company"))
    return obj


def require_sub_account(actor: Account, account: Account | None) -> Account:
    """The target of a sub-account operation must be a sub-account of the actor's company: the
    main account cannot be renamed, disabled or reset through them (it would lock the owner out)."""
    require_same_company(actor, account, "sub-account")
    if account.is_main:
        raise NotFound(_NO_SUCH["sub-account"])
    return account


CONSUMER_REFUSED = _l("Staff sub-accounts cannot sign in to buyer apps")


def may_use_app(account_type: str, client) -> bool:
    """R6: sub-accounts never sign in to consumer (buyer) apps, whatever the grant.
    ``account_type`` is ``Account.kind`` (the ``account_type`` claim): ``main`` or ``sub``."""
    from idp.models.accounts import MAIN
    from idp.models.oauth import CONSUMER

    return account_type == MAIN or client.app_type != CONSUMER
