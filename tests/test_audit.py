"""The audit log: every change an owner makes is recorded with who (the actor's login name), what
(the action), when, which company, and before/after where it helps. A refused change leaves no
record, and no record ever holds a password or its hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from idp.errors import DomainError
from idp.models import AuditEvent
from idp.services import accounts, groups, roles, stores
from idp.services.audit import events_for

NEW_PASSWORD = "a brand new secret"


@pytest.fixture
def w(ctx, make):
    """acme with stores sg and my; alice (sg, my; in sg's Pre-sale group), bob (sg), dave
    (departed) and a custom role; beside it, the company globex with a change of its own."""
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    alice = make.staff(owner, "alice", stores_=[sg, my], email="alice@acme.test")
    bob = make.staff(owner, "bob", stores_=[sg])
    dave = make.staff(owner, "dave", stores_=[sg])
    accounts.disable_sub_account(owner, dave)
    role = roles.create_role(owner, "Night shift", ["chat:read"])
    group = groups.create_group(owner, sg, "Pre-sale")
    groups.add_member(owner, group, alice)
    other = make.company("globex")
    make.staff(other, "alice", stores_=[make.store(other)])
    return SimpleNamespace(
        owner=owner,
        sg=sg,
        my=my,
        alice=alice,
        bob=bob,
        dave=dave,
        role=role,
        group=group,
        other=other,
    )


def newest(w, action: str | None = None) -> AuditEvent:
    events = [e for e in events_for(w.owner.company_id) if action in (None, e.action)]
    assert events, f"no {action} event"
    return events[0]


OWNER_CHANGES = {
    "subaccount.created": lambda w: accounts.create_sub_account(
        w.owner, name="carol", password=NEW_PASSWORD, stores=[w.sg]
    ),
    "subaccount.updated": lambda w: accounts.update_sub_account(w.owner, w.alice, nickname="Ali"),
    "subaccount.handed_over": lambda w: accounts.update_sub_account(
        w.owner, w.alice, email="erin@acme.test"
    ),
    "subaccount.disabled": lambda w: accounts.disable_sub_account(w.owner, w.alice),
    "subaccount.enabled": lambda w: accounts.enable_sub_account(w.owner, w.dave),
    "subaccount.password_reset": lambda w: accounts.reset_sub_account_password(w.owner, w.alice),
    "store.authorized": lambda w: stores.authorize_store(w.owner, "lazada-sg", "77", "Acme LZ"),
    "store.deauthorized": lambda w: stores.deauthorize_store(w.owner, w.my),
    "stores.batch_add": lambda w: stores.assign_stores(w.owner, [w.bob], [w.my], "add"),
    "stores.batch_remove": lambda w: stores.assign_stores(w.owner, [w.alice], [w.my], "remove"),
    "stores.batch_reset": lambda w: stores.assign_stores(
        w.owner, [w.alice, w.bob], [w.my], "reset"
    ),
    "subaccount.default_store_changed": lambda w: stores.set_default_store(w.owner, w.alice, w.my),
    "store.operators_changed": lambda w: stores.set_store_operators(
        w.owner, w.sg, "by_product", [w.alice, "main"]
    ),
    "role.created": lambda w: roles.create_role(w.owner, "Day shift", ["orders:view"]),
    "role.updated": lambda w: roles.update_role(w.owner, w.role, permissions=["chat:send"]),
    "role.deleted": lambda w: roles.delete_role(w.owner, w.role),
    "group.created": lambda w: groups.create_group(w.owner, w.my, "After-sale"),
    "group.member_added": lambda w: groups.add_member(w.owner, w.group, w.bob),
    "group.member_removed": lambda w: groups.remove_member(w.owner, w.group, w.alice),
}


@pytest.mark.parametrize("action", OWNER_CHANGES)
def test_every_owner_change_records_who_what_when_and_which_company(w, action):
    before = len(events_for(w.owner.company_id))
    started = datetime.now(UTC)
    OWNER_CHANGES[action](w)

    assert len(events_for(w.owner.company_id)) == before + 1
    event = newest(w)
    assert event.action == action
    assert (event.actor, event.actor_id) == ("acme", w.owner.id)
    assert event.company_id == w.owner.company_id
    assert event.created_at.tzinfo is not None
    assert started - timedelta(seconds=1) <= event.created_at <= datetime.now(UTC)
    assert all(e.company_id == w.other.company_id for e in events_for(w.other.company_id))


def test_created_sub_account_names_it_its_roles_and_stores(w):
    carol = accounts.create_sub_account(
        w.owner, name="carol", password=NEW_PASSWORD, roles=["Night shift"], stores=[w.my, w.sg]
    )
    event = newest(w, "subaccount.created")
    assert (event.target_type, event.target_id) == ("account", carol.public_id)
    assert event.details == {
        "name": "carol",
        "roles": ["Night shift"],
        "stores": [w.my.public_id, w.sg.public_id],
    }


def test_update_records_before_and_after_of_changed_fields_only(w):
    accounts.update_sub_account(
        w.owner, w.alice, nickname="Ali", gender="female", notes=None, roles=["Night shift"]
    )
    event = newest(w, "subaccount.updated")
    assert event.target_id == w.alice.public_id
    assert event.details == {
        "changes": {
            "nickname": {"before": None, "after": "Ali"},
            "gender": {"before": None, "after": "female"},
            "roles": {"before": [], "after": ["Night shift"]},
        }
    }


def test_r4_hand_over_records_its_changes_the_same_way(w):
    """A new email hands the account over (R4): one entry, saying so, with the same changes."""
    accounts.update_sub_account(w.owner, w.alice, nickname="Ali", email="ali@acme.test")
    event = newest(w)
    assert (event.action, event.target_id) == ("subaccount.handed_over", w.alice.public_id)
    assert event.details == {
        "changes": {
            "nickname": {"before": None, "after": "Ali"},
            "email": {"before": "alice@acme.test", "after": "ali@acme.test"},
        }
    }


def test_disable_and_enable_name_the_account(w):
    accounts.disable_sub_account(w.owner, w.alice)
    accounts.enable_sub_account(w.owner, w.alice)
    disabled, enabled = newest(w, "subaccount.disabled"), newest(w, "subaccount.enabled")
    assert disabled.target_id == enabled.target_id == w.alice.public_id
    assert disabled.details == {"reason": "owner"}


def _hand_over(w, password: str) -> str:
    """R4: the owner hands alice's account to someone else with a new password."""
    accounts.update_sub_account(w.owner, w.alice, password=password)
    return password


@pytest.mark.parametrize(
    "reset",
    [
        lambda w: accounts.reset_sub_account_password(w.owner, w.alice),
        lambda w: accounts.reset_sub_account_password(w.owner, w.alice, NEW_PASSWORD),
        lambda w: _hand_over(w, NEW_PASSWORD),
    ],
    ids=["generated", "chosen-by-owner", "hand-over"],
)
def test_password_changes_are_recorded_without_the_password_or_its_hash(w, reset):
    password = reset(w)
    event = newest(w)
    assert event.action in ("subaccount.password_reset", "subaccount.handed_over")
    assert event.target_id == w.alice.public_id
    for recorded in events_for(w.owner.company_id):
        text = json.dumps(recorded.details, ensure_ascii=False)
        assert password not in text
        assert w.alice.password_hash not in text and "$argon2" not in text


def test_store_authorization_and_deauthorization(w):
    lz = stores.authorize_store(w.owner, "lazada-sg", "77", "Acme LZ")
    event = newest(w, "store.authorized")
    assert (event.target_type, event.target_id) == ("store", lz.public_id)
    assert event.details == {"marketplace": "lazada-sg", "external_id": "77", "name": "Acme LZ"}

    stores.assign_stores(w.owner, [w.bob], [w.my], "reset")  # bob's only store is now my
    stores.deauthorize_store(w.owner, w.my)
    event = newest(w, "store.deauthorized")
    assert event.target_id == w.my.public_id
    assert event.details == {
        "removed_from": ["acme:alice", "acme:bob"],
        "disabled": ["acme:bob"],
        "defaults_moved": {"acme:bob": None},  # alice's default (sg) stays
    }


def test_batch_assignment_records_before_and_after_per_account(w):
    stores.assign_stores(w.owner, [w.alice, w.bob], [w.my], "reset")
    event = newest(w, "stores.batch_reset")
    assert event.details == {
        "stores": [w.my.public_id],
        "changes": {
            "acme:alice": {"before": [w.sg.public_id, w.my.public_id], "after": [w.my.public_id]},
            "acme:bob": {"before": [w.sg.public_id], "after": [w.my.public_id]},
        },
    }


def test_default_store_change_records_before_and_after(w):
    stores.set_default_store(w.owner, w.alice, w.my)
    event = newest(w, "subaccount.default_store_changed")
    assert event.target_id == w.alice.public_id
    assert event.details == {"before": w.sg.public_id, "after": w.my.public_id}


def test_operator_changes_chain_before_to_the_previous_after(w):
    stores.set_store_operators(w.owner, w.sg, "by_product", [w.alice, w.bob])
    first = newest(w, "store.operators_changed")
    assert first.target_id == w.sg.public_id
    assert first.details["before"]["mode"] == "by_store"
    assert first.details["after"] == {"mode": "by_product", "operators": ["acme:alice", "acme:bob"]}

    stores.set_store_operators(w.owner, w.sg, "by_store", ["main"])
    second = newest(w, "store.operators_changed")
    assert second.details["before"] == first.details["after"]
    assert second.details["after"] == {"mode": "by_store", "operators": ["acme"]}


def test_role_changes_record_names_and_permissions(w):
    roles.update_role(w.owner, w.role, name="Late shift", permissions=["chat:send", "chat:read"])
    assert newest(w, "role.updated").details == {
        "before": {"name": "Night shift", "permissions": ["chat:read"]},
        "after": {"name": "Late shift", "permissions": ["chat:read", "chat:send"]},
    }
    roles.delete_role(w.owner, w.role)
    assert newest(w, "role.deleted").details == {"name": "Late shift"}
    roles.create_role(w.owner, "Day shift", ["orders:view"])
    created = newest(w, "role.created")
    assert (created.target_type, created.details) == (
        "role",
        {"name": "Day shift", "permissions": ["orders:view"]},
    )


def test_group_changes_name_the_group_store_and_member(w):
    groups.create_group(w.owner, w.my, "After-sale")
    assert newest(w, "group.created").details == {"store": w.my.public_id, "name": "After-sale"}
    groups.add_member(w.owner, w.group, w.bob)
    groups.remove_member(w.owner, w.group, w.alice)
    where = {"group": "Pre-sale", "store": w.sg.public_id}
    assert newest(w, "group.member_added").details == {**where, "account": "acme:bob"}
    assert newest(w, "group.member_removed").details == {**where, "account": "acme:alice"}


REFUSED = {
    "all-digit name": lambda w: accounts.create_sub_account(
        w.owner, name="123", password=NEW_PASSWORD
    ),
    "taken name": lambda w: accounts.create_sub_account(
        w.owner, name="ALICE", password=NEW_PASSWORD
    ),
    "already departed": lambda w: accounts.disable_sub_account(w.owner, w.dave),
    "staff acting as owner": lambda w: accounts.disable_sub_account(w.alice, w.bob),
    "batch with an unknown account": lambda w: stores.assign_stores(
        w.owner, [w.bob, "ghost"], [w.my], "add"
    ),
    "default store not held": lambda w: stores.set_default_store(w.owner, w.bob, w.my),
    "role still held": lambda w: (
        accounts.update_sub_account(w.owner, w.bob, roles=[w.role.id]),
        roles.delete_role(w.owner, w.role),
    ),
    "main-only permission": lambda w: roles.create_role(w.owner, "Cashier", ["wallet:manage"]),
    "member without the store": lambda w: groups.add_member(
        w.owner, groups.create_group(w.owner, w.my, "After-sale"), w.bob
    ),
}


@pytest.mark.parametrize("refusal", REFUSED)
def test_a_refused_change_writes_no_audit_event(w, refusal):
    with pytest.raises(DomainError):
        REFUSED[refusal](w)
    # the last recorded change is still the last one that succeeded (if any happened in setup)
    last_ok = {
        "role still held": "subaccount.updated",
        "member without the store": "group.created",
    }.get(refusal, "group.member_added")
    assert newest(w).action == last_ok
    assert w.owner.company.sub_account_count == 3


def test_changes_made_with_the_idp_command_name_the_operator_not_the_owner(w, run):
    """Issue 12: an operator's command was recorded as the owner's own action."""
    from idp.services.audit import os_user

    run("staff", "disable", "acme", "bob")
    run("store", "authorize", "acme", "lazada-sg", "3001", "Acme Lazada")
    events = events_for(w.owner.company_id, limit=2)
    assert [e.action for e in events] == ["store.authorized", "subaccount.disabled"]
    for event in events:
        assert event.actor == f"cli:{os_user()}" and event.actor_id is None
        assert event.details["acting_for"] == "acme"
    # the owner's own actions still name the owner
    accounts.enable_sub_account(w.owner, w.bob)
    assert (
        events_for(w.owner.company_id, limit=1)[0].actor,
        events_for(w.owner.company_id, limit=1)[0].actor_id,
    ) == ("acme", w.owner.id)
