"""Stores: the owner authorizes them (R8), gives them to sub-accounts one by one or in batches
(R11), chooses defaults (R9), de-authorizes them (R10), and records who operates them (R12)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_ngettext
from sqlalchemy import delete, func, select

from idp.defaults import MAX_BATCH
from idp.errors import Conflict, Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Marketplace, Store, StoreAssignment, StoreOperator
from idp.models.accounts import ACTIVE, SUB
from idp.models.base import utcnow
from idp.models.companies import (
    OPERATE_BY_PRODUCT,
    OPERATE_BY_STORE,
    STORE_AUTHORIZED,
    STORE_DEAUTHORIZED,
)
from idp.models.groups import StaffGroup, group_members
from idp.services import audit, versions
from idp.services.accounts import mark_departed
from idp.services.authz import require_owner, require_same_company, require_sub_account
from idp.services.tx import transaction

ADD, REMOVE, RESET = "add", "remove", "reset"
BATCH_MODES = (ADD, REMOVE, RESET)


def marketplaces() -> list[Marketplace]:
    return db.session.query(Marketplace).order_by(Marketplace.code).all()


def list_stores(actor: Account, *, include_deauthorized: bool = False) -> list[Store]:
    require_owner(actor)
    query = db.session.query(Store).filter(Store.company_id == actor.company_id)
    if not include_deauthorized:
        query = query.filter(Store.status == STORE_AUTHORIZED)
    return query.order_by(Store.marketplace_code, Store.id).all()


def holder_counts(actor: Account) -> dict[int, int]:
    """How many sub-accounts hold each store of the company (departed ones included)."""
    require_owner(actor)
    rows = db.session.execute(
        select(StoreAssignment.store_id, func.count())
        .join(Store, Store.id == StoreAssignment.store_id)
        .where(Store.company_id == actor.company_id)
        .group_by(StoreAssignment.store_id)
    ).all()
    return dict(rows)


def get_store(actor: Account, ident: str | Store) -> Store:
    """A store of the actor's company, by public id or ``marketplace/external_id``."""
    if isinstance(ident, Store):
        return require_same_company(actor, ident, "store")
    if not isinstance(ident, str) or len(ident) > 200 or "\x00" in ident:
        raise NotFound(_l("No such store in your company"))
    query = db.session.query(Store).filter(Store.company_id == actor.company_id)
    if "/" in ident:
        code, _, external = ident.partition("/")
        query = query.filter(Store.marketplace_code == code, Store.external_id == external)
    else:
        query = query.filter(Store.public_id == ident)
    return require_same_company(actor, query.one_or_none(), "store")


def check_assignable(actor: Account, stores: Iterable[Store | str]) -> list[Store]:
    """R8: only the company's authorized stores can be given. Keeps the order given (R9)."""
    result: list[Store] = []
    for ident in stores:
        store = get_store(actor, ident)
        if not store.is_authorized:
            raise InvalidInput(
                _l("The store '%(store)s' is not authorized; authorize it first", store=store.name),
                field="stores",
            )
        if store not in result:
            result.append(store)
    return result


@transaction
def authorize_store(actor: Account, marketplace: str, external_id: str, name: str) -> Store:
    """R8: the owner authorizes a marketplace store (again, if it was de-authorized)."""
    require_owner(actor)
    if db.session.get(Marketplace, marketplace) is None:
        raise InvalidInput(
            _l("Unknown marketplace '%(marketplace)s'", marketplace=marketplace),
            field="marketplace",
        )
    external_id, name = (external_id or "").strip(), (name or "").strip()
    if not external_id or len(external_id) > 80:
        raise InvalidInput(_l("A store id has 1 to 80 characters"), field="external_id")
    if not name or len(name) > 120:
        raise InvalidInput(_l("A store name has 1 to 120 characters"), field="name")
    store = (
        db.session.query(Store)
        .filter_by(
            company_id=actor.company_id, marketplace_code=marketplace, external_id=external_id
        )
        .one_or_none()
    )
    if store is not None and store.is_authorized:
        raise Conflict(
            _l(
                "The store %(marketplace)s/%(store_id)s is already authorized",
                marketplace=marketplace,
                store_id=external_id,
            )
        )
    if store is None:
        store = Store(
            company_id=actor.company_id,
            marketplace_code=marketplace,
            external_id=external_id,
            name=name,
        )
        db.session.add(store)
    else:
        store.status, store.name = STORE_AUTHORIZED, name
        store.authorized_at, store.deauthorized_at = utcnow(), None
    db.session.flush()
    audit.record(
        actor,
        "store.authorized",
        company_id=actor.company_id,
        target=store,
        marketplace=marketplace,
        external_id=external_id,
        name=name,
    )
    return store


def edit_version(store: Store) -> str:
    """What the owner changes of a store (its state, name and operators: R10, R12), for the
    admin API's ``ETag`` (``versions``)."""
    return versions.fingerprint(
        {
            "status": store.status,
            "name": store.name,
            "mode": store.operation_mode,
            "operators": sorted(o.account_id for o in store.operators),
        }
    )


def _check_version(store: Store, expected: str | None) -> None:
    versions.check(
        store,
        expected,
        edit_version,
        _l(
            "The store %(store)s was changed by someone else since you read it; "
            "make your change again.",
            store=store.name,
        ),
    )


def _settle_default(account: Account) -> None:
    """R9/R10: keep the default among the held stores; else the one given earliest; else none."""
    held = [a.store_id for a in sorted(account.assignments, key=lambda a: a.id or 0)]
    if account.default_store_id not in held:
        account.default_store_id = held[0] if held else None


def _drop_group_memberships(account_ids: list[int], store_id: int) -> None:
    """A staff group is per store (R23): losing the store means leaving its groups."""
    if not account_ids:
        return
    group_ids = select(StaffGroup.id).where(StaffGroup.store_id == store_id)
    db.session.execute(
        delete(group_members).where(
            group_members.c.account_id.in_(account_ids), group_members.c.group_id.in_(group_ids)
        )
    )


@dataclass(frozen=True)
class Deauthorization:
    """What de-authorizing a store does to one sub-account that holds it (R10)."""

    account: Account
    default_before: Store | None
    default_after: Store | None
    disabled: bool

    @property
    def default_moves(self) -> bool:
        return self.default_before is not None and self.default_before != self.default_after


def plan_deauthorization(actor: Account, store: Store) -> list[Deauthorization]:
    """R10's preview and its plan, one function for both, so the preview is what happens: each
    sub-account holding the store, its default store before and after (the store given
    earliest among those left), and whether it is disabled for holding none."""
    require_owner(actor)
    require_same_company(actor, store, "store")
    holders = (
        db.session.query(Account)
        .join(StoreAssignment, StoreAssignment.account_id == Account.id)
        .filter(StoreAssignment.store_id == store.id)
        .order_by(Account.name_key)
        .all()
    )
    plan = []
    for account in holders:
        left = [
            a.store
            for a in sorted(account.assignments, key=lambda a: a.id or 0)
            if a.store_id != store.id
        ]
        default = account.default_store
        after = default if default is not None and default in left else (left[0] if left else None)
        plan.append(Deauthorization(account, default, after, not left and account.status == ACTIVE))
    return plan


@transaction
def deauthorize_store(
    actor: Account, store: Store, *, expected_version: str | None = None
) -> list[Deauthorization]:
    """R10, in one transaction, as ``plan_deauthorization`` says: the store leaves every
    sub-account that had it; a default moves to the store given earliest; an account left with
    no store is disabled (R5). Returns the plan carried out."""
    require_owner(actor)
    require_same_company(actor, store, "store")
    _check_version(store, expected_version)
    if not store.is_authorized:
        raise Conflict(_l("The store '%(store)s' is not authorized", store=store.name))
    plan = plan_deauthorization(actor, store)
    affected = [step.account for step in plan]
    for step in plan:
        account = step.account
        for assignment in [a for a in account.assignments if a.store_id == store.id]:
            account.assignments.remove(assignment)
        account.default_store_id = step.default_after.id if step.default_after else None
        if step.disabled:
            mark_departed(account)
    _drop_group_memberships([a.id for a in affected], store.id)
    store.status, store.deauthorized_at = STORE_DEAUTHORIZED, utcnow()
    db.session.execute(delete(StoreOperator).where(StoreOperator.store_id == store.id))
    store.operation_mode = OPERATE_BY_STORE
    from idp.oauth import sessions

    sessions.revoke_for_removed_store(store, affected)  # R10: their tokens for it stop at once
    db.session.flush()
    audit.record(
        actor,
        "store.deauthorized",
        company_id=actor.company_id,
        target=store,
        removed_from=[a.login_name for a in affected],
        disabled=[step.account.login_name for step in plan if step.disabled],
        defaults_moved={
            step.account.login_name: step.default_after.public_id if step.default_after else None
            for step in plan
            if step.default_moves
        },
    )
    return plan


def _sub_accounts(actor: Account, accounts: Iterable[Account | str]) -> list[Account]:
    from idp.services.accounts import get_sub_account

    result: list[Account] = []
    for item in accounts:
        account = (
            require_same_company(actor, item, "sub-account")
            if isinstance(item, Account)
            else get_sub_account(actor, item)
        )
        if account.kind != SUB:
            raise InvalidInput(_l("Stores are assigned to sub-accounts only"), field="accounts")
        if account not in result:
            result.append(account)
    return result


def apply_assignment(account: Account, chosen: list[Store], mode: str) -> None:
    """R11 for one sub-account, in the caller's transaction: add ``chosen``, remove it, or reset
    to exactly it. Losing a store means leaving its groups (R23) and its tokens for it (R10);
    the default stays if still held, else the store given earliest (R9)."""
    chosen_ids = {s.id for s in chosen}
    held = {a.store_id for a in account.assignments}
    removed = set()
    if mode in (REMOVE, RESET):
        drop = held & chosen_ids if mode == REMOVE else held - chosen_ids
        for assignment in [a for a in account.assignments if a.store_id in drop]:
            account.assignments.remove(assignment)
        removed = drop
    if mode in (ADD, RESET):
        for store in chosen:
            if store.id not in held:
                account.assignments.append(StoreAssignment(store=store))
    db.session.flush()
    for store_id in removed:
        _drop_group_memberships([account.id], store_id)
        from idp.oauth import sessions

        sessions.revoke_for_removed_store(db.session.get(Store, store_id), [account])
    _settle_default(account)


@transaction
def assign_stores(
    actor: Account,
    accounts: Iterable[Account | str],
    stores: Iterable[Store | str],
    mode: str = ADD,
) -> list[Account]:
    """R11: for several sub-accounts at once, add stores to what they have, remove stores from
    what they have, or reset to exactly the given stores. Everything is checked before anything
    is written, and the whole batch is one transaction: all or nothing."""
    require_owner(actor)
    if mode not in BATCH_MODES:
        raise InvalidInput(
            _l("The batch mode is one of %(modes)s", modes=", ".join(BATCH_MODES)), field="mode"
        )
    targets = _sub_accounts(actor, accounts)
    if not targets:
        raise InvalidInput(_l("Choose at least one sub-account"), field="accounts")
    if len(targets) > MAX_BATCH:
        raise InvalidInput(
            lazy_ngettext(
                "At most %(num)d sub-account per batch",
                "At most %(num)d sub-accounts per batch",
                MAX_BATCH,
            ),
            field="accounts",
        )
    chosen = (
        check_assignable(actor, stores) if mode != REMOVE else [get_store(actor, s) for s in stores]
    )
    if not chosen:
        raise InvalidInput(_l("Choose at least one store"), field="stores")
    changes = {}
    for account in targets:
        before = [a.store.public_id for a in account.assignments]
        apply_assignment(account, chosen, mode)
        changes[account.login_name] = {
            "before": before,
            "after": [a.store.public_id for a in account.assignments],
        }
    audit.record(
        actor,
        f"stores.batch_{mode}",
        company_id=actor.company_id,
        stores=[s.public_id for s in chosen],
        changes=changes,
    )
    return targets


@transaction
def set_default_store(actor: Account, account: Account, store: Store | str) -> Account:
    """R9: the owner (never the sub-account itself, R6) picks the default among held stores."""
    if not actor.is_main:
        raise Forbidden(_l("Only the main account chooses a sub-account's default store"))
    require_owner(actor)
    require_sub_account(actor, account)
    store = get_store(actor, store)
    if store.id not in {a.store_id for a in account.assignments}:
        raise InvalidInput(
            _l(
                "'%(login)s' does not hold the store '%(store)s'",
                login=account.login_name,
                store=store.name,
            ),
            field="store",
        )
    before = account.default_store.public_id if account.default_store else None
    account.default_store_id = store.id
    audit.record(
        actor,
        "subaccount.default_store_changed",
        company_id=actor.company_id,
        target=account,
        before=before,
        after=store.public_id,
    )
    return account


@transaction
def set_store_operators(
    actor: Account,
    store: Store,
    mode: str,
    operators: Iterable[Account | str] = (),
    *,
    expected_version: str | None = None,
) -> Store:
    """R12: "by store" (one operator, the main account by default) or "by product" (several).
    A reporting attribute only: it grants no access."""
    require_owner(actor)
    require_same_company(actor, store, "store")
    _check_version(store, expected_version)
    if mode not in (OPERATE_BY_STORE, OPERATE_BY_PRODUCT):
        raise InvalidInput(_l("The operation mode is by_store or by_product"), field="mode")
    people: list[Account] = []
    for item in operators:
        if isinstance(item, Account):
            person = require_same_company(actor, item, "account")
        elif item in ("main", actor.public_id):
            person = actor
        else:
            from idp.services.accounts import get_sub_account

            person = get_sub_account(actor, item)
        if person not in people:
            people.append(person)
    if mode == OPERATE_BY_STORE and len(people) > 1:
        raise InvalidInput(_l("A store operated by store has one operator"), field="operators")
    before = {
        "mode": store.operation_mode,
        "operators": [a.login_name for a in store_operators(store)],
    }
    store.operation_mode = mode
    store.operators = [StoreOperator(store_id=store.id, account_id=p.id) for p in people]
    audit.record(
        actor,
        "store.operators_changed",
        company_id=actor.company_id,
        target=store,
        before=before,
        after={"mode": mode, "operators": [p.login_name for p in people]},
    )
    return store


def store_operators(store: Store) -> list[Account]:
    """R12 for reports: the listed operators, or the main account when none is listed."""
    if store.operators:
        return [db.session.get(Account, o.account_id) for o in store.operators]
    main = db.session.query(Account).filter_by(company_id=store.company_id, kind="main").one()
    return [main]
