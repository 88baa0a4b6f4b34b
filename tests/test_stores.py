"""R8–R12: authorized stores, defaults, de-authorization, batch assignment, store operators."""

import pytest
from sqlalchemy import text

from idp.errors import Conflict, Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.models import Account
from idp.services import accounts, groups, stores


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme")
    sg, my, tw = (
        make.store(owner, m, i)
        for m, i in (("shopee-sg", "1"), ("shopee-my", "2"), ("shopee-tw", "3"))
    )
    return owner, sg, my, tw


def held(account: Account) -> list[str]:
    db.session.refresh(account)
    return [s.external_id for s in account.stores]


def default(account: Account) -> str | None:
    db.session.refresh(account)
    return account.default_store.external_id if account.default_store else None


def test_r8_only_authorized_stores_can_be_given(acme, make):
    owner, sg, my, tw = acme
    stores.deauthorize_store(owner, tw)
    with pytest.raises(InvalidInput, match="not authorized"):
        make.staff(owner, "alice", stores_=[sg, tw])
    assert accounts.list_staff(owner) == []
    with pytest.raises(InvalidInput, match="Unknown marketplace"):
        stores.authorize_store(owner, "ebay-mars", "1", "Nope")
    with pytest.raises(Conflict, match="already authorized"):
        stores.authorize_store(owner, "shopee-sg", "1", "Again")


def test_r8_reauthorizing_a_store_brings_it_back(acme):
    owner, sg, *_ = acme
    stores.deauthorize_store(owner, sg)
    again = stores.authorize_store(owner, "shopee-sg", "1", "Acme SG renamed")
    assert again.id == sg.id and again.is_authorized and again.name == "Acme SG renamed"


def test_r8_main_account_holds_every_authorized_store(acme):
    owner, sg, my, tw = acme
    stores.deauthorize_store(owner, my)
    assert [s.external_id for s in owner.stores] == ["1", "3"]


def test_r9_first_store_given_becomes_default(acme, make):
    owner, sg, my, tw = acme
    alice = make.staff(owner, "alice", stores_=[my, sg])
    assert default(alice) == "2"
    bob = make.staff(owner, "bob")
    assert default(bob) is None
    stores.assign_stores(owner, [bob], [tw, sg], "add")
    assert default(bob) == "3"


def test_r9_owner_changes_the_default_but_only_to_a_held_store(acme, make):
    owner, sg, my, tw = acme
    alice = make.staff(owner, "alice", stores_=[sg, my])
    stores.set_default_store(owner, alice, my)
    assert default(alice) == "2"
    with pytest.raises(InvalidInput, match="does not hold"):
        stores.set_default_store(owner, alice, tw)
    assert default(alice) == "2"


def test_r9_sub_account_cannot_choose_its_own_default(acme, make):
    owner, sg, my, _ = acme
    alice = make.staff(owner, "alice", stores_=[sg, my])
    with pytest.raises(Forbidden):
        stores.set_default_store(alice, alice, my)
    assert default(alice) == "1"


def test_r10_deauthorized_store_leaves_everyone_and_default_moves_to_earliest(acme, make):
    owner, sg, my, tw = acme
    alice = make.staff(owner, "alice", stores_=[tw, sg, my])  # given: tw, sg, my
    stores.set_default_store(owner, alice, my)
    bob = make.staff(owner, "bob", stores_=[my, tw])
    plan = stores.deauthorize_store(owner, my)
    assert sorted(step.account.name for step in plan) == ["alice", "bob"]
    assert held(alice) == ["3", "1"] and default(alice) == "3"  # the one given earliest
    assert held(bob) == ["3"] and default(bob) == "3"
    assert not my.is_authorized


def test_r10_account_left_with_no_store_is_disabled(acme, make):
    owner, sg, my, _ = acme
    alice = make.staff(owner, "alice", stores_=[sg])
    bob = make.staff(owner, "bob", stores_=[sg, my])
    stores.deauthorize_store(owner, sg)
    assert db.session.get(Account, alice.id).status == "departed"
    assert db.session.get(Account, bob.id).status == "active"
    assert default(alice) is None


def test_r10_deauthorization_removes_group_memberships_of_that_store(acme, make):
    owner, sg, my, _ = acme
    alice = make.staff(owner, "alice", stores_=[sg, my])
    presale = groups.create_group(owner, sg, "Pre-sale")
    groups.add_member(owner, presale, alice)
    stores.deauthorize_store(owner, sg)
    db.session.refresh(presale)
    assert presale.members == []


def _fail_when_departing(name_key: str) -> None:
    """A real database trigger that aborts the transaction half way through R10."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            text(f"""
            CREATE FUNCTION fail_departure() RETURNS trigger AS $$
            BEGIN
              IF NEW.status = 'departed' AND NEW.name_key = '{name_key}' THEN
                RAISE EXCEPTION 'injected failure';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        )
        db.session.execute(
            text("""CREATE TRIGGER fail_departure BEFORE UPDATE ON accounts
            FOR EACH ROW EXECUTE FUNCTION fail_departure()""")
        )
    else:
        db.session.execute(
            text(f"""
            CREATE TRIGGER fail_departure BEFORE UPDATE ON accounts
            WHEN NEW.status = 'departed' AND NEW.name_key = '{name_key}'
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END""")
        )
    db.session.commit()


def _drop_trigger() -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("DROP TRIGGER IF EXISTS fail_departure ON accounts"))
        db.session.execute(text("DROP FUNCTION IF EXISTS fail_departure()"))
    else:
        db.session.execute(text("DROP TRIGGER IF EXISTS fail_departure"))
    db.session.commit()


def test_r10_failure_half_way_leaves_nothing_changed(acme, make):
    owner, sg, my, _ = acme
    alice = make.staff(owner, "alice", stores_=[sg, my])  # processed first: loses sg
    zed = make.staff(owner, "zed", stores_=[sg])  # processed last: would be disabled -> fails
    presale = groups.create_group(owner, sg, "Pre-sale")
    groups.add_member(owner, presale, alice)
    _fail_when_departing("zed")
    try:
        with pytest.raises(Exception):  # noqa: B017 - any failure must roll everything back
            stores.deauthorize_store(owner, sg)
    finally:
        _drop_trigger()
    db.session.expire_all()
    assert held(alice) == ["1", "2"] and default(alice) == "1"
    assert held(zed) == ["1"] and zed.status == "active"
    assert stores.get_store(owner, sg.public_id).is_authorized
    assert [m.name for m in groups.get_group(owner, presale.id).members] == ["alice"]


def test_r11_batch_add_remove_reset(acme, make):
    owner, sg, my, tw = acme
    alice = make.staff(owner, "alice", stores_=[sg])
    bob = make.staff(owner, "bob", stores_=[my])
    stores.assign_stores(owner, [alice, bob], [tw, sg], "add")
    assert held(alice) == ["1", "3"] and held(bob) == ["2", "3", "1"]
    stores.assign_stores(owner, ["alice", bob.public_id], [sg], "remove")
    assert held(alice) == ["3"] and default(alice) == "3"
    assert held(bob) == ["2", "3"] and default(bob) == "2"
    stores.assign_stores(owner, [alice, bob], [my, sg], "reset")
    assert held(alice) == ["2", "1"] and held(bob) == ["2", "1"]
    assert default(alice) == "2" and default(bob) == "2"


def test_r11_reset_keeps_the_order_of_stores_already_held(acme, make):
    owner, sg, my, tw = acme
    alice = make.staff(owner, "alice", stores_=[sg, my, tw])
    stores.set_default_store(owner, alice, tw)
    stores.assign_stores(owner, [alice], [tw, my], "reset")
    assert held(alice) == ["2", "3"] and default(alice) == "3"


@pytest.mark.parametrize(
    "bad",
    [
        "unknown store",
        "deauthorized store",
        "other company account",
        "bad mode",
        "no stores",
        "no accounts",
    ],
)
def test_r11_batch_is_all_or_nothing(acme, make, bad):
    owner, sg, my, tw = acme
    alice = make.staff(owner, "alice", stores_=[sg])
    bob = make.staff(owner, "bob", stores_=[sg])
    globex = make.company("globex")
    stranger = make.staff(globex, "carl")
    stores.deauthorize_store(owner, tw)
    targets, chosen, mode = [alice, bob], [my], "add"
    if bad == "unknown store":
        chosen = [my, "st_doesnotexist"]
    elif bad == "deauthorized store":
        chosen = [my, tw]
    elif bad == "other company account":
        targets = [alice, bob, stranger]
    elif bad == "bad mode":
        mode = "replace"
    elif bad == "no stores":
        chosen = []
    else:
        targets = []
    with pytest.raises((InvalidInput, NotFound)):
        stores.assign_stores(owner, targets, chosen, mode)
    assert held(alice) == ["1"] and held(bob) == ["1"]


def test_r12_store_operators_default_to_main_and_grant_nothing(acme, make):
    owner, sg, my, _ = acme
    alice = make.staff(owner, "alice", stores_=[my])
    assert stores.store_operators(sg) == [owner] and sg.operation_mode == "by_store"
    bob = make.staff(owner, "bob", stores_=[my])
    stores.set_store_operators(owner, sg, "by_product", [alice, bob])
    assert [a.name for a in stores.store_operators(sg)] == ["alice", "bob"]
    assert held(alice) == ["2"]  # reporting only: alice was not given the store
    with pytest.raises(InvalidInput, match="one operator"):
        stores.set_store_operators(owner, sg, "by_store", [alice, bob])
    stores.set_store_operators(owner, sg, "by_store", ["alice"])
    assert [a.name for a in stores.store_operators(sg)] == ["alice"]
    with pytest.raises(InvalidInput, match="by_store or by_product"):
        stores.set_store_operators(owner, sg, "by_region", [])
