"""R6: what a sub-account can never do, whatever its role: create or manage sub-accounts, choose a
default store (its own included), authorize or de-authorize stores, manage roles or groups. No role
can carry a main-only capability. R7: what it can do: change its own password, knowing it.

The acting sub-account holds every role there is, including one with every permission of the
catalogue, so that no role can be what lets it through. Each refused call is replayed by the main
account, where it succeeds: the kind of actor, and nothing else about the call, was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Row, select

from idp.errors import AuthenticationFailed, Forbidden
from idp.extensions import db
from idp.models import Account, Role, StaffGroup, Store
from idp.models.companies import OPERATE_BY_PRODUCT
from idp.services import accounts, groups, roles, stores
from idp.services.permissions import MAIN_ONLY, PERMISSIONS
from idp.services.roles import permissions_of
from idp.services.stores import ADD, REMOVE, RESET
from tests.factories import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def db_rows() -> dict[str, list[Row]]:
    """Every row of every table, read back through the session after a flush, so that a change a
    service left pending counts as much as one it committed."""
    db.session.flush()
    return {
        table.name: list(db.session.execute(select(table).order_by(*table.primary_key.columns)))
        for table in db.metadata.sorted_tables
    }


def assert_nothing_written(before: dict[str, list[Row]]) -> None:
    after = db_rows()
    written = {
        name: {
            "removed": [row for row in rows if row not in after[name]],
            "added": [row for row in after[name] if row not in rows],
        }
        for name, rows in before.items()
        if after[name] != rows
    }
    assert not written, f"a refused call wrote to the database: {written}"


@dataclass
class Shop:
    owner: Account
    sg: Store
    tw: Store
    everything: Role  # every permission of the catalogue
    spare: Role  # held by no one
    alice: Account  # the acting sub-account: every role, stores sg then tw, in ``group``
    bob: Account  # other staff, store sg
    carol: Account  # departed
    group: StaffGroup  # on sg


@pytest.fixture
def shop(ctx, make) -> Shop:
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg")
    tw = make.store(owner, "shopee-tw")
    everything = roles.create_role(owner, "Everything", list(PERMISSIONS))
    spare = roles.create_role(owner, "Spare", ["reports:view"])
    every_role = [r.name for r in roles.list_roles(owner) if r.id != spare.id]
    alice = make.staff(owner, "alice", stores_=[sg, tw], roles=every_role)
    bob = make.staff(owner, "bob", stores_=[sg])
    carol = make.staff(owner, "carol", stores_=[sg])
    accounts.disable_sub_account(owner, carol)
    group = groups.create_group(owner, sg, "after-sale")
    groups.add_member(owner, group, alice)
    return Shop(owner, sg, tw, everything, spare, alice, bob, carol, group)


def test_r6_the_acting_sub_account_holds_every_permission(shop):
    assert permissions_of(shop.alice) == sorted(PERMISSIONS)
    assert {r.id for r in shop.alice.roles} == {
        r.id for r in roles.list_roles(shop.owner) if r.id != shop.spare.id
    }


# --- every owner-only operation, with a sub-account as the actor ----------------------------

OwnerOnly = Callable[[Account, Shop], object]

OWNER_ONLY = [
    # sub-accounts
    pytest.param(lambda actor, s: accounts.get_sub_account(actor, "bob"), id="get_sub_account"),
    pytest.param(lambda actor, s: accounts.list_staff(actor), id="list_staff"),
    pytest.param(
        lambda actor, s: accounts.list_staff(actor, departed=True), id="list_staff-departed"
    ),
    pytest.param(
        lambda actor, s: accounts.create_sub_account(
            actor, name="eve", password=PASSWORD, roles=["Everything"], stores=[s.sg]
        ),
        id="create_sub_account",
    ),
    pytest.param(
        lambda actor, s: accounts.update_sub_account(actor, s.bob, nickname="Bobby"),
        id="update_sub_account-other",
    ),
    pytest.param(
        lambda actor, s: accounts.update_sub_account(
            actor, s.bob, name="mole", password=NEW_PASSWORD
        ),
        id="update_sub_account-hand-over",
    ),
    pytest.param(
        lambda actor, s: accounts.update_sub_account(actor, s.alice, roles=["Spare"]),
        id="update_sub_account-own-roles",
    ),
    pytest.param(
        lambda actor, s: accounts.update_sub_account(actor, s.alice, notes="promoted"),
        id="update_sub_account-own-notes",
    ),
    pytest.param(
        lambda actor, s: accounts.disable_sub_account(actor, s.bob), id="disable_sub_account"
    ),
    pytest.param(
        lambda actor, s: accounts.disable_sub_account(actor, s.alice), id="disable_sub_account-self"
    ),
    pytest.param(
        lambda actor, s: accounts.enable_sub_account(actor, s.carol), id="enable_sub_account"
    ),
    pytest.param(
        lambda actor, s: accounts.reset_sub_account_password(actor, s.bob, NEW_PASSWORD),
        id="reset_sub_account_password",
    ),
    pytest.param(
        lambda actor, s: accounts.reset_sub_account_password(actor, s.alice),
        id="reset_sub_account_password-self",
    ),
    # stores
    pytest.param(lambda actor, s: stores.list_stores(actor), id="list_stores"),
    pytest.param(
        lambda actor, s: stores.authorize_store(actor, "lazada-my", "NEW-1", "New"),
        id="authorize_store",
    ),
    pytest.param(lambda actor, s: stores.deauthorize_store(actor, s.tw), id="deauthorize_store"),
    pytest.param(
        lambda actor, s: stores.assign_stores(actor, [s.bob], [s.tw], ADD), id="assign_stores-add"
    ),
    pytest.param(
        lambda actor, s: stores.assign_stores(actor, [s.alice], [s.tw], REMOVE),
        id="assign_stores-remove-own",
    ),
    pytest.param(
        lambda actor, s: stores.assign_stores(actor, [s.bob], [s.tw], RESET),
        id="assign_stores-reset",
    ),
    pytest.param(
        lambda actor, s: stores.set_default_store(actor, s.alice, s.tw), id="set_default_store-own"
    ),
    pytest.param(
        lambda actor, s: stores.set_default_store(actor, s.bob, s.sg), id="set_default_store-other"
    ),
    pytest.param(
        lambda actor, s: stores.set_store_operators(
            actor, s.sg, OPERATE_BY_PRODUCT, [s.alice, s.bob]
        ),
        id="set_store_operators",
    ),
    # roles
    pytest.param(lambda actor, s: roles.list_roles(actor), id="list_roles"),
    pytest.param(lambda actor, s: roles.get_role(actor, "Everything"), id="get_role"),
    pytest.param(
        lambda actor, s: roles.create_role(actor, "Mine", ["chat:read"]), id="create_role"
    ),
    pytest.param(
        lambda actor, s: roles.update_role(actor, s.everything, name="Renamed"), id="update_role"
    ),
    pytest.param(
        lambda actor, s: roles.update_role(actor, s.spare, permissions=["chat:send"]),
        id="update_role-permissions",
    ),
    pytest.param(lambda actor, s: roles.delete_role(actor, s.spare), id="delete_role"),
    # groups
    pytest.param(lambda actor, s: groups.list_groups(actor), id="list_groups"),
    pytest.param(lambda actor, s: groups.get_group(actor, s.group.id), id="get_group"),
    pytest.param(lambda actor, s: groups.create_group(actor, s.sg, "pre-sale"), id="create_group"),
    pytest.param(lambda actor, s: groups.add_member(actor, s.group, s.bob), id="add_member"),
    pytest.param(
        lambda actor, s: groups.remove_member(actor, s.group, s.alice), id="remove_member-self"
    ),
    pytest.param(lambda actor, s: groups.delete_group(actor, s.group), id="delete_group"),
]


@pytest.mark.parametrize("op", OWNER_ONLY)
def test_r6_sub_account_with_every_permission_cannot_do_owner_only_operations(
    shop: Shop, op: OwnerOnly
):
    before = db_rows()
    with pytest.raises(Forbidden):
        op(shop.alice, shop)
    assert_nothing_written(before)
    op(shop.owner, shop)  # the very same call by the main account goes through


# --- no role carries a main-only capability -------------------------------------------------


@pytest.mark.parametrize("capability", sorted(MAIN_ONLY))
def test_r6_no_role_can_be_created_with_a_main_only_capability(shop, capability):
    before = db_rows()
    with pytest.raises(Forbidden) as refused:
        roles.create_role(shop.owner, "Treasurer", ["finance:view", capability])
    assert refused.value.field == "permissions"
    assert_nothing_written(before)


@pytest.mark.parametrize("capability", sorted(MAIN_ONLY))
@pytest.mark.parametrize("role", ["everything", "builtin"])
def test_r6_no_role_can_be_given_a_main_only_capability(shop, capability, role):
    target = shop.everything if role == "everything" else roles.get_role(shop.owner, "Finance")
    before = db_rows()
    with pytest.raises(Forbidden) as refused:
        roles.update_role(
            shop.owner, target, name="Treasurer", permissions=[*target.permissions, capability]
        )
    assert refused.value.field == "permissions"
    assert_nothing_written(before)  # not even the new name


def test_r6_sub_account_permissions_never_include_a_main_only_capability(shop):
    for account in (shop.alice, shop.bob, shop.carol):
        assert not set(permissions_of(account)) & set(MAIN_ONLY)


def test_r6_main_account_permissions_include_every_main_only_capability(shop):
    assert set(permissions_of(shop.owner)) == set(PERMISSIONS) | set(MAIN_ONLY)


# --- R7: a sub-account changes its own password ---------------------------------------------


def test_r7_sub_account_changes_its_own_password(shop):
    accounts.change_own_password(shop.alice, PASSWORD, NEW_PASSWORD)
    assert accounts.authenticate("acme:alice", NEW_PASSWORD).id == shop.alice.id
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate("acme:alice", PASSWORD)


@pytest.mark.parametrize("current", ["not the password", NEW_PASSWORD, ""])
def test_r7_wrong_current_password_is_refused_and_nothing_changes(shop, current):
    before = db_rows()
    with pytest.raises(Forbidden) as refused:
        accounts.change_own_password(shop.alice, current, "another new passphrase")
    assert refused.value.field == "current_password"
    assert_nothing_written(before)
    assert accounts.authenticate("acme:alice", PASSWORD).id == shop.alice.id
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate("acme:alice", "another new passphrase")


def test_r7_sub_account_replaces_the_password_its_owner_reset(shop):
    temporary = accounts.reset_sub_account_password(shop.owner, shop.alice)
    assert db.session.get(Account, shop.alice.id).must_change_password
    accounts.change_own_password(shop.alice, temporary, NEW_PASSWORD)
    assert not db.session.get(Account, shop.alice.id).must_change_password
    assert accounts.authenticate("acme:alice", NEW_PASSWORD).id == shop.alice.id
    for old in (temporary, PASSWORD):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate("acme:alice", old)
