"""R23: staff groups per store (pre-sale, after-sale customer service, …). Membership shows in
tokens as ``groups``. A member must hold the group's store."""

from __future__ import annotations

from sqlalchemy import select, update

from idp.defaults import MAX_ROW_ID
from idp.errors import Conflict, InvalidInput
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, NotificationRoute, StaffGroup, Store
from idp.models.groups import group_members
from idp.services import audit, versions
from idp.services.authz import require_owner, require_same_company
from idp.services.names import normalize
from idp.services.stores import get_store
from idp.services.tx import transaction


def list_groups(actor: Account, store: Store | str | None = None) -> list[StaffGroup]:
    require_owner(actor)
    query = db.session.query(StaffGroup).filter_by(company_id=actor.company_id)
    if store is not None:
        query = query.filter_by(store_id=get_store(actor, store).id)
    return query.order_by(StaffGroup.store_id, StaffGroup.name_key).all()


def get_group(actor: Account, group_id: int) -> StaffGroup:
    require_owner(actor)
    found = db.session.get(StaffGroup, group_id) if 0 < group_id <= MAX_ROW_ID else None
    return require_same_company(actor, found, "staff group")


def edit_version(group: StaffGroup) -> str:
    """A group's name and members (``versions``): the admin API's ``ETag``."""
    return versions.fingerprint(
        {"name": group.name, "members": sorted(a.public_id for a in group.members)}
    )


def _check_version(group: StaffGroup, expected: str | None) -> None:
    versions.check(
        group,
        expected,
        edit_version,
        _l(
            "The group %(group)s was changed by someone else since you read it; "
            "make your change again.",
            group=group.name,
        ),
    )


def _check_group_name(store: Store, name: str, except_id: int | None = None) -> str:
    """1 to 60 characters, and unique in its store (the same name in another store is fine)."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 60:
        raise InvalidInput(_l("A group name has 1 to 60 characters"), field="name")
    name = name.strip()
    query = db.session.query(StaffGroup.id).filter_by(store_id=store.id, name_key=normalize(name))
    if except_id is not None:
        query = query.filter(StaffGroup.id != except_id)
    if query.first():
        raise Conflict(
            _l(
                "The store '%(store)s' already has a group '%(group)s'",
                store=store.name,
                group=name,
            ),
            field="name",
        )
    return name


@transaction
def create_group(actor: Account, store: Store | str, name: str) -> StaffGroup:
    require_owner(actor)
    store = get_store(actor, store)
    if not store.is_authorized:
        raise InvalidInput(
            _l("The store '%(store)s' is not authorized", store=store.name), field="store"
        )
    name = _check_group_name(store, name)
    group = StaffGroup(
        company_id=actor.company_id, store_id=store.id, name=name, name_key=normalize(name)
    )
    db.session.add(group)
    db.session.flush()
    audit.record(
        actor, "group.created", company_id=actor.company_id, store=store.public_id, name=name
    )
    return group


@transaction
def rename_group(
    actor: Account, group: StaffGroup, name: str, *, expected_version: str | None = None
) -> StaffGroup:
    """Tokens carry the new name (``<store>/<group>``) from the next one issued."""
    require_owner(actor)
    require_same_company(actor, group, "staff group")
    _check_version(group, expected_version)
    name = _check_group_name(group.store, name, except_id=group.id)
    before = group.name
    group.name, group.name_key = name, normalize(name)
    audit.record(
        actor,
        "group.renamed",
        company_id=actor.company_id,
        store=group.store.public_id,
        before=before,
        after=name,
    )
    return group


@transaction
def add_member(
    actor: Account, group: StaffGroup, account: Account, *, expected_version: str | None = None
) -> StaffGroup:
    require_owner(actor)
    require_same_company(actor, group, "staff group")
    _check_version(group, expected_version)
    require_same_company(actor, account, "account")
    if not account.is_main and group.store_id not in {a.store_id for a in account.assignments}:
        raise InvalidInput(
            _l(
                "'%(login)s' does not hold the store '%(store)s'; assign it first",
                login=account.login_name,
                store=group.store.name,
            ),
            field="account",
        )
    if account in group.members:
        raise Conflict(
            _l("'%(login)s' is already in '%(group)s'", login=account.login_name, group=group.name)
        )
    group.members.append(account)
    audit.record(
        actor,
        "group.member_added",
        company_id=actor.company_id,
        group=group.name,
        store=group.store.public_id,
        account=account.login_name,
    )
    return group


@transaction
def remove_member(
    actor: Account, group: StaffGroup, account: Account, *, expected_version: str | None = None
) -> StaffGroup:
    require_owner(actor)
    require_same_company(actor, group, "staff group")
    _check_version(group, expected_version)
    require_same_company(actor, account, "account")
    if account not in group.members:
        raise Conflict(
            _l("'%(login)s' is not in '%(group)s'", login=account.login_name, group=group.name)
        )
    group.members.remove(account)
    audit.record(
        actor,
        "group.member_removed",
        company_id=actor.company_id,
        group=group.name,
        store=group.store.public_id,
        account=account.login_name,
    )
    return group


@transaction
def delete_group(actor: Account, group: StaffGroup, *, expected_version: str | None = None) -> None:
    require_owner(actor)
    require_same_company(actor, group, "staff group")
    _check_version(group, expected_version)
    audit.record(
        actor,
        "group.deleted",
        company_id=actor.company_id,
        group=group.name,
        store=group.store.public_id,
    )
    group.members = []
    # R25: a routing line that named the group falls back to the main account (PostgreSQL's
    # ON DELETE SET NULL does the same; SQLite enforces no foreign key and may reuse the id).
    db.session.execute(
        update(NotificationRoute)
        .where(NotificationRoute.group_id == group.id)
        .values(group_id=None)
    )
    # R24: a store whose inquiries went to this group stops allocating (to the whole store's staff
    # instead would reach people the owner did not choose) until the owner chooses again.
    if group.store.inquiry_group_id == group.id:
        group.store.inquiry_group_id, group.store.inquiry_allocation = None, False
        db.session.flush()
    db.session.delete(group)


def groups_of(account: Account) -> list[StaffGroup]:
    """The groups an account belongs to, for the ``groups`` claim."""
    return db.session.scalars(  # a plain join: a statement SQLAlchemy compiles once
        select(StaffGroup)
        .join(group_members, group_members.c.group_id == StaffGroup.id)
        .where(group_members.c.account_id == account.id)
        .order_by(StaffGroup.store_id, StaffGroup.name_key)
    ).all()
