"""Roles (catalogue, built-in templates from the seeds, at most 30 custom ones), R18 (the owner
edits a sub-account's information, role and stores) and R23 (staff groups per store)."""

import pytest

from idp.errors import Conflict, InvalidInput, LimitReached, NotFound
from idp.extensions import db
from idp.services import accounts, groups, roles, stores
from idp.services.permissions import MAX_CUSTOM_ROLES, PERMISSIONS, TEMPLATES


def test_builtin_role_templates_come_from_the_seeds(ctx, make):
    owner = make.company("acme")
    names = {r.name for r in roles.list_roles(owner)}
    assert {
        "Sales Assistant",
        "Sales Representative",
        "Sales Manager",
        "Customer Service",
        "Operations",
        "Marketing",
        "Logistics",
        "Design",
        "Finance",
    } <= names
    assert all(set(perms) <= set(PERMISSIONS) for _, _, perms in TEMPLATES.values())


def test_custom_roles_are_limited_to_30(ctx, make):
    owner = make.company("acme")
    for i in range(MAX_CUSTOM_ROLES):
        roles.create_role(owner, f"Role {i}", ["chat:read"])
    with pytest.raises(LimitReached, match="at most 30 custom roles"):
        roles.create_role(owner, "One too many", ["chat:read"])


def test_role_permissions_are_checked_against_the_catalogue(ctx, make):
    owner = make.company("acme")
    with pytest.raises(InvalidInput, match="Unknown permission 'chat:shout'"):
        roles.create_role(owner, "Loud", ["chat:read", "chat:shout"])
    with pytest.raises(Conflict, match="exists already"):
        roles.create_role(owner, "customer service", ["chat:read"])
    night = roles.create_role(owner, "Night shift", ["chat:send", "chat:read", "chat:read"])
    assert night.permissions == ["chat:read", "chat:send"]


def test_a_held_role_cannot_be_deleted(ctx, make):
    owner = make.company("acme")
    night = roles.create_role(owner, "Night shift", ["chat:read"])
    alice = make.staff(owner, "alice", roles=["Night shift"])
    with pytest.raises(Conflict, match="held by 1"):
        roles.delete_role(owner, night)
    accounts.update_sub_account(owner, alice, roles=[])
    roles.delete_role(owner, night)
    assert "Night shift" not in {r.name for r in roles.list_roles(owner)}


def test_r18_owner_changes_nickname_email_phone_notes_role_and_stores(ctx, make):
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    alice = make.staff(owner, "alice", roles=["Customer Service"], stores_=[sg])
    accounts.update_sub_account(
        owner,
        alice,
        nickname="Ali",
        email="ali@example.com",
        phone="+65 8000 0000",
        notes="night shift",
        roles=["Operations", "Marketing"],
    )
    stores.assign_stores(owner, [alice], [my], "add")
    db.session.expire_all()
    assert (alice.nickname, alice.email, alice.phone, alice.notes) == (
        "Ali",
        "ali@example.com",
        "+65 8000 0000",
        "night shift",
    )
    assert sorted(r.name for r in alice.roles) == ["Marketing", "Operations"]
    assert "marketing:manage" in roles.permissions_of(alice)
    assert "refunds:handle" not in roles.permissions_of(alice)
    assert [s.id for s in alice.stores] == [sg.id, my.id]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"nickname": "x" * 61}, "at most 60"),
        ({"notes": "x" * 1001}, "at most 1000"),
        ({"roles": ["No such role"]}, "does not exist"),
        ({"phone": "call me"}, "not a phone number"),
        ({"status": "active"}, "Cannot change: status"),
        ({"name": "bob"}, "taken"),
    ],
)
def test_r18_bad_edits_are_refused_and_nothing_changes(ctx, make, changes, error):
    owner = make.company("acme")
    alice = make.staff(owner, "alice", email="alice@example.com")
    make.staff(owner, "bob")
    with pytest.raises((InvalidInput, Conflict, NotFound)) as err:
        accounts.update_sub_account(owner, alice, email="new@example.com", **changes)
    assert error in err.value.message
    db.session.expire_all()
    assert (alice.name, alice.email, alice.nickname) == ("alice", "alice@example.com", None)


def test_r23_groups_per_store_and_membership(ctx, make):
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    alice = make.staff(owner, "alice", stores_=[sg])
    presale = groups.create_group(owner, sg, "Pre-sale")
    aftersale = groups.create_group(owner, sg, "After-sale")
    groups.create_group(owner, my, "Pre-sale")  # same name, another store: fine
    with pytest.raises(Conflict, match="already has a group"):
        groups.create_group(owner, sg, "pre-sale")
    groups.add_member(owner, presale, alice)
    groups.add_member(owner, aftersale, alice)
    assert [g.name for g in groups.groups_of(alice)] == ["After-sale", "Pre-sale"]
    with pytest.raises(Conflict, match="already in"):
        groups.add_member(owner, presale, alice)
    groups.remove_member(owner, aftersale, alice)
    assert [g.name for g in groups.groups_of(alice)] == ["Pre-sale"]


def test_r23_member_must_hold_the_groups_store(ctx, make):
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    bob = make.staff(owner, "bob", stores_=[my])
    presale = groups.create_group(owner, sg, "Pre-sale")
    with pytest.raises(InvalidInput, match="does not hold"):
        groups.add_member(owner, presale, bob)
    assert groups.groups_of(bob) == []


def test_r23_losing_the_store_in_a_batch_removes_group_membership(ctx, make):
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    alice = make.staff(owner, "alice", stores_=[sg, my])
    groups.add_member(owner, groups.create_group(owner, sg, "Pre-sale"), alice)
    stores.assign_stores(owner, [alice], [sg], "remove")
    assert groups.groups_of(alice) == []


def test_r23_group_on_deauthorized_store_is_refused(ctx, make):
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg")
    stores.deauthorize_store(owner, sg)
    with pytest.raises(InvalidInput, match="not authorized"):
        groups.create_group(owner, sg, "Pre-sale")
