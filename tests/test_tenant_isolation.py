"""Tenant isolation: a company's owner reads and changes its own company only.

For every service operation that takes an actor, acme's owner acting on globex's accounts, stores,
roles or groups gets ``NotFound`` (the very answer a missing object gets, so globex's objects are
never revealed), and nothing at all is written. List operations return acme's rows only.

Each refused call is followed by a control: the same call made by globex's own owner succeeds, which
proves that tenancy, and nothing else about the call, was the reason for the refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Row, select

from idp.errors import NotFound
from idp.extensions import db
from idp.models import Account, Role, StaffGroup, Store
from idp.models.companies import OPERATE_BY_PRODUCT, OPERATE_BY_STORE
from idp.services import accounts, groups, roles, stores
from idp.services.permissions import TEMPLATES
from idp.services.stores import ADD, REMOVE, RESET
from tests.factories import PASSWORD

SHARED_STORE_ID = "SG-100"  # both companies run a shopee-sg store with this marketplace id
NEW_PASSWORD = "a brand new passphrase"


# --- what is in the database ----------------------------------------------------------------


def db_rows() -> dict[str, list[Row]]:
    """Every row of every table, read back through the session after a flush, so that a change a
    service left pending counts as much as one it committed."""
    db.session.flush()
    return {
        table.name: list(db.session.execute(select(table).order_by(*table.primary_key.columns)))
        for table in db.metadata.sorted_tables
    }


def rows_written_since(before: dict[str, list[Row]]) -> dict[str, dict[str, list[Row]]]:
    after = db_rows()
    return {
        name: {
            "removed": [row for row in rows if row not in after[name]],
            "added": [row for row in after[name] if row not in rows],
        }
        for name, rows in before.items()
        if after[name] != rows
    }


def assert_nothing_written(before: dict[str, list[Row]]) -> None:
    written = rows_written_since(before)
    assert not written, f"a refused call wrote to the database: {written}"


# --- two companies of the same shape --------------------------------------------------------


@dataclass
class Tenant:
    owner: Account
    sg: Store  # shopee-sg/SG-100: the same marketplace store id as the other company's
    tw: Store
    retired: Store  # de-authorized
    staff: Account  # holds sg then tw, holds ``role``, member of ``group``
    newcomer: Account  # holds sg only, no role, in no group
    departed: Account
    role: Role  # custom, held by ``staff``
    spare_role: Role  # custom, held by no one
    group: StaffGroup  # on sg

    @property
    def secrets(self) -> list[str]:
        """What would tell another tenant that this company or its objects exist."""
        people = [self.owner, self.staff, self.newcomer, self.departed]
        return [
            self.owner.company.name,
            *(p.public_id for p in people),
            *(p.name for p in people),
            *(s.public_id for s in (self.sg, self.tw, self.retired)),
            self.tw.external_id,
            self.retired.external_id,
            self.role.name,
            self.spare_role.name,
            self.group.name,
        ]


def _tenant(make, company: str, staff: str, newcomer: str, departed: str) -> Tenant:
    owner = make.company(company)
    sg = make.store(owner, "shopee-sg", SHARED_STORE_ID)
    tw = make.store(owner, "shopee-tw", f"{company.upper()}-TW")
    retired = make.store(owner, "lazada-my", f"{company.upper()}-OLD")
    stores.deauthorize_store(owner, retired)
    role = roles.create_role(owner, f"{company} night shift", ["chat:read", "chat:send"])
    spare_role = roles.create_role(owner, f"{company} spare", ["reports:view"])
    staff_account = make.staff(
        owner, staff, stores_=[sg, tw], roles=[role.name], email=f"{staff}@{company}.test"
    )
    newcomer_account = make.staff(owner, newcomer, stores_=[sg], email=f"{newcomer}@{company}.test")
    departed_account = make.staff(owner, departed, stores_=[sg], email=f"{departed}@{company}.test")
    accounts.disable_sub_account(owner, departed_account)
    group = groups.create_group(owner, sg, f"{company} after-sale")
    groups.add_member(owner, group, staff_account)
    return Tenant(
        owner,
        sg,
        tw,
        retired,
        staff_account,
        newcomer_account,
        departed_account,
        role,
        spare_role,
        group,
    )


@pytest.fixture
def acme(ctx, make) -> Tenant:
    return _tenant(make, "acme", "alice", "annika", "amelia")


@pytest.fixture
def globex(ctx, make) -> Tenant:
    return _tenant(make, "globex", "bobby", "benedikt", "beatrix")


# --- every operation on the other company's objects -----------------------------------------

# An operation made by ``me``'s owner, on objects of ``them`` (and sometimes of ``me``).
Op = Callable[[Tenant, Tenant], object]


def case(op: Op, name: str, *, control: bool = True):
    """``control``: replaying the call as ``them`` on ``them`` must succeed. Off where even the
    objects' own owner would be refused: a main account given to a sub-account operation, a store
    that is not authorized."""
    return pytest.param(op, control, id=name)


def assert_refused_as_not_found(op: Op, acme: Tenant, globex: Tenant, control: bool) -> None:
    before = db_rows()
    with pytest.raises(NotFound) as refused:
        op(acme, globex)
    assert_nothing_written(before)
    message = str(refused.value.to_dict())
    leaked = [s for s in globex.secrets if s.casefold() in message.casefold()]
    assert not leaked, f"the refusal names the other company's objects: {message}"
    if control:
        op(globex, globex)  # the very same call by the objects' own owner goes through


READS = [
    case(
        lambda me, them: accounts.get_sub_account(me.owner, them.staff.public_id),
        "get_sub_account-by-public-id",
    ),
    case(
        lambda me, them: accounts.get_sub_account(me.owner, them.staff.name),
        "get_sub_account-by-name",
    ),
    case(
        lambda me, them: accounts.get_sub_account(me.owner, them.departed.name),
        "get_sub_account-departed-by-name",
    ),
    case(lambda me, them: stores.get_store(me.owner, them.tw), "get_store-object"),
    case(lambda me, them: stores.get_store(me.owner, them.tw.public_id), "get_store-by-public-id"),
    case(
        lambda me, them: stores.get_store(me.owner, f"shopee-tw/{them.tw.external_id}"),
        "get_store-by-marketplace-id",
    ),
    case(lambda me, them: stores.get_store(me.owner, them.retired), "get_store-deauthorized"),
    case(
        lambda me, them: stores.check_assignable(me.owner, [me.sg, them.tw]),
        "check_assignable-objects",
    ),
    case(
        lambda me, them: stores.check_assignable(me.owner, [them.tw.public_id]),
        "check_assignable-public-ids",
    ),
    case(lambda me, them: roles.get_role(me.owner, them.role.id), "get_role-by-id"),
    case(lambda me, them: roles.get_role(me.owner, them.role.name), "get_role-by-name"),
    case(lambda me, them: groups.get_group(me.owner, them.group.id), "get_group"),
    case(lambda me, them: groups.list_groups(me.owner, them.sg), "list_groups-of-store-object"),
    case(
        lambda me, them: groups.list_groups(me.owner, them.sg.public_id),
        "list_groups-of-store-public-id",
    ),
]


@pytest.mark.parametrize(("op", "control"), READS)
def test_tenant_owner_cannot_read_other_company_objects(acme, globex, op, control):
    assert_refused_as_not_found(op, acme, globex, control)


STAFF_CHANGES = [
    case(
        lambda me, them: accounts.create_sub_account(
            me.owner, name="eve", password=PASSWORD, stores=[them.tw]
        ),
        "create_sub_account-with-their-store",
    ),
    case(
        lambda me, them: accounts.create_sub_account(
            me.owner, name="eve", password=PASSWORD, stores=[them.tw.public_id]
        ),
        "create_sub_account-with-their-store-public-id",
    ),
    case(
        lambda me, them: accounts.create_sub_account(
            me.owner, name="eve", password=PASSWORD, roles=[them.role.name]
        ),
        "create_sub_account-with-their-role-name",
    ),
    case(
        lambda me, them: accounts.create_sub_account(
            me.owner, name="eve", password=PASSWORD, roles=[them.role.id]
        ),
        "create_sub_account-with-their-role-id",
    ),
    case(
        lambda me, them: accounts.update_sub_account(me.owner, them.staff, nickname="Mole"),
        "update_sub_account-nickname",
    ),
    case(
        lambda me, them: accounts.update_sub_account(
            me.owner, them.departed, name="mole", email="mole@acme.test", password=NEW_PASSWORD
        ),
        "update_sub_account-hand-over-departed",
    ),
    case(
        lambda me, them: accounts.update_sub_account(me.owner, them.owner, nickname="Mole"),
        "update_sub_account-their-main-account",
        control=False,
    ),
    case(
        lambda me, them: accounts.update_sub_account(me.owner, me.newcomer, roles=[them.role.id]),
        "update_sub_account-mine-with-their-role-id",
    ),
    case(
        lambda me, them: accounts.update_sub_account(me.owner, me.newcomer, roles=[them.role.name]),
        "update_sub_account-mine-with-their-role-name",
    ),
    case(
        lambda me, them: accounts.disable_sub_account(me.owner, them.staff), "disable_sub_account"
    ),
    case(
        lambda me, them: accounts.disable_sub_account(me.owner, them.owner),
        "disable_sub_account-their-main-account",
        control=False,
    ),
    case(
        lambda me, them: accounts.enable_sub_account(me.owner, them.departed), "enable_sub_account"
    ),
    case(
        lambda me, them: accounts.reset_sub_account_password(me.owner, them.staff),
        "reset_sub_account_password-generated",
    ),
    case(
        lambda me, them: accounts.reset_sub_account_password(me.owner, them.staff, NEW_PASSWORD),
        "reset_sub_account_password-chosen",
    ),
    case(
        lambda me, them: accounts.reset_sub_account_password(me.owner, them.owner, NEW_PASSWORD),
        "reset_sub_account_password-their-main-account",
        control=False,
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [them.newcomer], [me.tw], ADD),
        "assign_stores-add-to-their-account",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [them.staff], [me.sg], REMOVE),
        "assign_stores-remove-from-their-account",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [them.staff], [me.tw], RESET),
        "assign_stores-reset-their-account",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [them.newcomer.public_id], [me.tw]),
        "assign_stores-their-account-public-id",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [me.newcomer, them.newcomer], [me.tw]),
        "assign_stores-batch-mixing-mine-and-theirs",
    ),
    case(
        lambda me, them: stores.set_default_store(me.owner, them.staff, me.sg),
        "set_default_store-their-account",
    ),
    case(
        lambda me, them: stores.set_store_operators(
            me.owner, me.sg, OPERATE_BY_PRODUCT, [me.staff, them.staff]
        ),
        "set_store_operators-their-account-as-operator",
    ),
    case(
        lambda me, them: stores.set_store_operators(
            me.owner, me.sg, OPERATE_BY_STORE, [them.staff.public_id]
        ),
        "set_store_operators-their-account-public-id-as-operator",
    ),
    case(
        lambda me, them: stores.set_store_operators(
            me.owner, me.sg, OPERATE_BY_STORE, [them.owner]
        ),
        "set_store_operators-their-main-account-as-operator",
    ),
    case(
        lambda me, them: stores.set_store_operators(
            me.owner, me.sg, OPERATE_BY_STORE, [them.owner.public_id]
        ),
        "set_store_operators-their-main-account-public-id-as-operator",
    ),
]


@pytest.mark.parametrize(("op", "control"), STAFF_CHANGES)
def test_tenant_owner_cannot_change_other_company_staff(acme, globex, op, control):
    assert_refused_as_not_found(op, acme, globex, control)


STORE_CHANGES = [
    case(lambda me, them: stores.deauthorize_store(me.owner, them.tw), "deauthorize_store"),
    case(
        lambda me, them: stores.assign_stores(me.owner, [me.newcomer], [them.tw], ADD),
        "assign_stores-add-their-store",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [me.staff], [them.tw], REMOVE),
        "assign_stores-remove-their-store",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [me.staff], [them.tw], RESET),
        "assign_stores-reset-to-their-store",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [me.newcomer], [them.tw.public_id]),
        "assign_stores-their-store-public-id",
    ),
    case(
        lambda me, them: stores.assign_stores(me.owner, [me.newcomer], [them.retired], ADD),
        "assign_stores-their-deauthorized-store",
        control=False,
    ),
    case(
        lambda me, them: stores.set_default_store(me.owner, me.staff, them.tw),
        "set_default_store-their-store",
    ),
    case(
        lambda me, them: stores.set_default_store(me.owner, me.staff, them.tw.public_id),
        "set_default_store-their-store-public-id",
    ),
    case(
        lambda me, them: stores.set_store_operators(me.owner, them.sg, OPERATE_BY_PRODUCT, []),
        "set_store_operators-their-store",
    ),
    case(
        lambda me, them: groups.create_group(me.owner, them.sg, "pre-sale"),
        "create_group-on-their-store",
    ),
    case(
        lambda me, them: groups.create_group(me.owner, them.tw.public_id, "pre-sale"),
        "create_group-on-their-store-public-id",
    ),
]


@pytest.mark.parametrize(("op", "control"), STORE_CHANGES)
def test_tenant_owner_cannot_change_other_company_stores(acme, globex, op, control):
    assert_refused_as_not_found(op, acme, globex, control)


ROLE_CHANGES = [
    case(lambda me, them: roles.update_role(me.owner, them.role, name="moles"), "update_role-name"),
    case(
        lambda me, them: roles.update_role(me.owner, them.role, permissions=["finance:view"]),
        "update_role-permissions",
    ),
    case(
        lambda me, them: roles.update_role(me.owner, them.role, description="hijacked"),
        "update_role-description",
    ),
    case(lambda me, them: roles.delete_role(me.owner, them.spare_role), "delete_role"),
]


@pytest.mark.parametrize(("op", "control"), ROLE_CHANGES)
def test_tenant_owner_cannot_change_other_company_roles(acme, globex, op, control):
    assert_refused_as_not_found(op, acme, globex, control)


GROUP_CHANGES = [
    case(
        lambda me, them: groups.add_member(me.owner, them.group, them.newcomer),
        "add_member-their-account-to-their-group",
    ),
    case(
        lambda me, them: groups.add_member(me.owner, them.group, me.newcomer),
        "add_member-my-account-to-their-group",
    ),
    case(
        lambda me, them: groups.add_member(me.owner, me.group, them.newcomer),
        "add_member-their-account-to-my-group",
    ),
    case(
        lambda me, them: groups.add_member(me.owner, me.group, them.owner),
        "add_member-their-main-account-to-my-group",
    ),
    case(
        lambda me, them: groups.remove_member(me.owner, them.group, them.staff),
        "remove_member-their-account-from-their-group",
    ),
    case(
        lambda me, them: groups.remove_member(me.owner, them.group, me.staff),
        "remove_member-my-account-from-their-group",
    ),
    case(
        lambda me, them: groups.remove_member(me.owner, me.group, them.staff),
        "remove_member-their-account-from-my-group",
    ),
    case(lambda me, them: groups.delete_group(me.owner, them.group), "delete_group"),
]


@pytest.mark.parametrize(("op", "control"), GROUP_CHANGES)
def test_tenant_owner_cannot_change_other_company_groups(acme, globex, op, control):
    assert_refused_as_not_found(op, acme, globex, control)


# --- a foreign object is indistinguishable from a missing one -------------------------------

MISSING_ID = 10**9

# (call with an identifier, the other company's identifier, an identifier nobody has)
LOOKUPS = [
    pytest.param(
        lambda me, ident: accounts.get_sub_account(me.owner, ident),
        lambda them: them.staff.public_id,
        "acct_00000000000000000000",
        id="get_sub_account-by-public-id",
    ),
    pytest.param(
        lambda me, ident: accounts.get_sub_account(me.owner, ident),
        lambda them: them.staff.name,
        "nobody",
        id="get_sub_account-by-name",
    ),
    pytest.param(
        lambda me, ident: stores.get_store(me.owner, ident),
        lambda them: them.tw.public_id,
        "st_00000000000000000000",
        id="get_store-by-public-id",
    ),
    pytest.param(
        lambda me, ident: stores.get_store(me.owner, ident),
        lambda them: f"shopee-tw/{them.tw.external_id}",
        "shopee-tw/NOPE",
        id="get_store-by-marketplace-id",
    ),
    pytest.param(
        lambda me, ident: roles.get_role(me.owner, ident),
        lambda them: them.role.id,
        MISSING_ID,
        id="get_role-by-id",
    ),
    pytest.param(
        lambda me, ident: roles.get_role(me.owner, ident),
        lambda them: them.role.name,
        "no such role",
        id="get_role-by-name",
    ),
    pytest.param(
        lambda me, ident: groups.get_group(me.owner, ident),
        lambda them: them.group.id,
        MISSING_ID,
        id="get_group",
    ),
    pytest.param(
        lambda me, ident: accounts.create_sub_account(
            me.owner, name="eve", password=PASSWORD, roles=[ident]
        ),
        lambda them: them.role.name,
        "no such role",
        id="create_sub_account-role",
    ),
    pytest.param(
        lambda me, ident: stores.assign_stores(me.owner, [ident], [me.sg]),
        lambda them: them.newcomer.public_id,
        "acct_00000000000000000000",
        id="assign_stores-account",
    ),
]


@pytest.mark.parametrize(("call", "their_ident", "missing_ident"), LOOKUPS)
def test_tenant_other_company_object_looks_exactly_like_a_missing_one(
    acme, globex, call, their_ident, missing_ident
):
    answers = []
    for ident in (their_ident(globex), missing_ident):
        with pytest.raises(NotFound) as refused:
            call(acme, ident)
        answers.append((type(refused.value), refused.value.to_dict()))
    assert answers[0] == answers[1]


# --- lists hold one's own rows only ---------------------------------------------------------


def _ids(rows) -> list[int]:
    return [row.id for row in rows]


LISTS = [
    pytest.param(
        lambda me: accounts.list_staff(me.owner),
        lambda me: sorted([me.staff, me.newcomer], key=lambda a: a.name_key),
        id="list_staff",
    ),
    pytest.param(
        lambda me: accounts.list_staff(me.owner, departed=True),
        lambda me: [me.departed],
        id="list_staff-departed",
    ),
    pytest.param(
        lambda me: stores.list_stores(me.owner), lambda me: [me.sg, me.tw], id="list_stores"
    ),
    pytest.param(
        lambda me: stores.list_stores(me.owner, include_deauthorized=True),
        lambda me: [me.retired, me.sg, me.tw],
        id="list_stores-with-deauthorized",
    ),
    pytest.param(lambda me: groups.list_groups(me.owner), lambda me: [me.group], id="list_groups"),
    pytest.param(
        lambda me: groups.list_groups(me.owner, f"shopee-sg/{SHARED_STORE_ID}"),
        lambda me: [me.group],
        id="list_groups-of-store-with-shared-marketplace-id",
    ),
]


@pytest.mark.parametrize(("listing", "expected"), LISTS)
def test_tenant_lists_return_only_own_rows(acme, globex, listing, expected):
    for me in (acme, globex):
        rows = listing(me)
        assert _ids(rows) == _ids(expected(me))
        assert {row.company_id for row in rows} == {me.owner.company_id}


def test_tenant_list_roles_returns_only_own_roles(acme, globex):
    builtin = {name for name, _, _ in TEMPLATES.values()}
    for me, them in ((acme, globex), (globex, acme)):
        listed = roles.list_roles(me.owner)
        assert {r.name for r in listed} == builtin | {me.role.name, me.spare_role.name}
        assert {r.company_id for r in listed} == {me.owner.company_id}
        assert not set(_ids(listed)) & set(_ids(roles.list_roles(them.owner)))


@pytest.mark.parametrize(
    ("term", "departed"),
    [
        pytest.param(lambda t: t.staff.name, False, id="their-staff-name"),
        pytest.param(lambda t: t.departed.name, True, id="their-departed-staff-name"),
        pytest.param(lambda t: t.owner.company.name, False, id="their-email-domain"),
        pytest.param(lambda t: t.owner.company.name, True, id="their-departed-email-domain"),
    ],
)
def test_tenant_staff_search_never_finds_other_company_staff(acme, globex, term, departed):
    assert accounts.list_staff(acme.owner, departed=departed, search=term(globex)) == []
    # the term does find globex's own staff for globex's owner
    found = accounts.list_staff(globex.owner, departed=departed, search=term(globex))
    assert found
    assert {a.company_id for a in found} == {globex.owner.company_id}


# --- the same marketplace store in two companies: two rows, each company its own -------------


@pytest.mark.parametrize("which", ["tw", "retired"], ids=["authorized", "deauthorized"])
def test_tenant_authorizing_a_store_id_another_company_holds_makes_a_row_of_ones_own(
    acme, globex, which
):
    theirs: Store = getattr(globex, which)
    code, external_id = theirs.marketplace_code, theirs.external_id
    before = db_rows()

    mine = stores.authorize_store(acme.owner, code, external_id, "Acme's own store")

    assert mine.company_id == acme.owner.company_id
    assert mine.id != theirs.id and mine.public_id != theirs.public_id
    assert mine.is_authorized
    written = rows_written_since(before)
    assert set(written) == {"stores", "audit_events"}  # globex's rows untouched, none removed
    assert written["stores"]["removed"] == written["audit_events"]["removed"] == []
    assert [row.id for row in written["stores"]["added"]] == [mine.id]
    assert [row.company_id for row in written["audit_events"]["added"]] == [mine.company_id]
    assert stores.get_store(acme.owner, f"{code}/{external_id}").id == mine.id
    assert stores.get_store(globex.owner, f"{code}/{external_id}").id == theirs.id


def test_tenant_shared_marketplace_store_id_resolves_to_ones_own_store(acme, globex):
    shared = f"shopee-sg/{SHARED_STORE_ID}"
    for me in (acme, globex):
        assert stores.get_store(me.owner, shared).id == me.sg.id
        assert _ids(stores.check_assignable(me.owner, [shared])) == [me.sg.id]
        group = groups.create_group(me.owner, shared, "pre-sale")
        assert (group.store_id, group.company_id) == (me.sg.id, me.owner.company_id)
    stores.deauthorize_store(acme.owner, acme.sg)
    assert db.session.get(Store, globex.sg.id).is_authorized
    assert [s.public_id for s in globex.staff.stores] == [globex.sg.public_id, globex.tw.public_id]


def test_tenant_names_taken_in_another_company_are_free_in_ones_own(acme, globex, make):
    """A Conflict here would tell acme that globex uses the name."""
    bobby = make.staff(acme.owner, globex.staff.name)
    role = roles.create_role(acme.owner, globex.role.name, ["chat:read"])
    group = groups.create_group(acme.owner, acme.sg, globex.group.name)
    assert {bobby.company_id, role.company_id, group.company_id} == {acme.owner.company_id}
    assert accounts.get_sub_account(globex.owner, globex.staff.name).id == globex.staff.id
    assert roles.get_role(globex.owner, globex.role.name).id == globex.role.id
