"""R4: sub-accounts are never deleted; disabled ones are departed, keep their name, are listed and
searchable, can be re-enabled or handed over. R5 (the part owned by accounts): a departed account
cannot sign in. R16: the owner resets a password; a new one must be chosen at next sign-in."""

import pytest

from idp.errors import AuthenticationFailed, Conflict
from idp.extensions import db
from idp.models import Account, SsoSession
from idp.services import accounts
from idp.services.accounts import AccountDisabled


def test_r4_disabled_account_is_departed_not_deleted_and_keeps_its_name(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    accounts.disable_sub_account(owner, alice)
    assert db.session.get(Account, alice.id).status == "departed"
    assert accounts.list_staff(owner) == []
    assert [a.name for a in accounts.list_staff(owner, departed=True)] == ["alice"]
    with pytest.raises(Conflict, match="taken"):
        make.staff(owner, "Alice")


def test_r4_departed_staff_can_be_searched(ctx, make):
    owner = make.company("acme")
    for name in ("alice", "alina", "bob"):
        accounts.disable_sub_account(owner, make.staff(owner, name))
    found = accounts.list_staff(owner, departed=True, search="ALI")
    assert sorted(a.name for a in found) == ["alice", "alina"]
    assert accounts.list_staff(owner, departed=True, search="%") == []


def test_r4_re_enabled_account_signs_in_again(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    accounts.disable_sub_account(owner, alice)
    with pytest.raises(Conflict, match="already disabled"):
        accounts.disable_sub_account(owner, alice)
    accounts.enable_sub_account(owner, alice)
    assert accounts.authenticate("acme:alice", make.PASSWORD).id == alice.id
    with pytest.raises(Conflict, match="not disabled"):
        accounts.enable_sub_account(owner, alice)


def test_r4_hand_over_to_another_person_by_changing_its_information(ctx, make):
    owner = make.company("acme")
    dave = make.staff(owner, "dave", email="dave@example.com", phone="+65 9000 0001")
    sub = dave.public_id
    accounts.disable_sub_account(owner, dave)
    accounts.update_sub_account(
        owner,
        dave,
        name="erin",
        email="erin@example.com",
        phone="+65 9000 0002",
        password="erin-new-password",
    )
    accounts.enable_sub_account(owner, dave)
    erin = accounts.authenticate("acme:erin", "erin-new-password")
    assert erin.public_id == sub  # the stable ``sub`` survives the rename
    assert erin.must_change_password
    assert accounts.find_by_login_name("acme:dave") is None
    make.staff(owner, "dave2", email="dave@example.com")  # the old email is free again


def test_r5_departed_account_cannot_sign_in_and_is_told_why(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    accounts.disable_sub_account(owner, alice)
    with pytest.raises(AccountDisabled, match="disabled"):
        accounts.authenticate("acme:alice", make.PASSWORD)
    with pytest.raises(AuthenticationFailed, match="incorrect"):
        accounts.authenticate("acme:alice", "wrong password!")  # state told only to the holder


def test_r5_disabling_ends_sessions_and_tokens_in_the_same_transaction(ctx, make):
    from idp.oauth import sessions

    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    session, cookie = sessions.create(alice, amr=["pwd"])
    session_id = session.id
    accounts.mark_departed(alice)  # the disabling step, not committed yet
    db.session.rollback()
    assert sessions.find(cookie) is not None  # taken back with the transaction
    accounts.disable_sub_account(owner, alice)
    assert sessions.find(cookie) is None
    assert db.session.get(SsoSession, session_id).ended_at is not None


def test_r16_owner_resets_password_and_staff_must_choose_a_new_one(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    generated = accounts.reset_sub_account_password(owner, alice)
    assert len(generated) >= 12
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate("acme:alice", make.PASSWORD)
    signed_in = accounts.authenticate("acme:alice", generated)
    assert signed_in.must_change_password
    accounts.change_own_password(signed_in, generated, "alice chose this one")
    assert not accounts.authenticate("acme:alice", "alice chose this one").must_change_password


def test_r16_owner_sets_a_chosen_password_checked_against_the_policy(ctx, make):
    from idp.errors import InvalidInput

    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    with pytest.raises(InvalidInput, match="at least 8"):
        accounts.reset_sub_account_password(owner, alice, "short")
    assert accounts.authenticate("acme:alice", make.PASSWORD)  # unchanged
    assert accounts.reset_sub_account_password(owner, alice, "owner-chosen-pw") == "owner-chosen-pw"
    assert accounts.authenticate("acme:alice", "owner-chosen-pw").must_change_password


@pytest.mark.parametrize("operation", ["update", "disable", "reset", "enable", "default_store"])
def test_r4_sub_account_operations_never_target_the_main_account(ctx, make, operation):
    """The owner cannot rename, disable or reset itself through the staff operations (it would
    be locked out); the main account is simply not a sub-account."""
    from idp.errors import NotFound
    from idp.services import stores

    owner = make.company("acme")
    store = make.store(owner)
    calls = {
        "update": lambda: accounts.update_sub_account(owner, owner, name="boss"),
        "disable": lambda: accounts.disable_sub_account(owner, owner),
        "reset": lambda: accounts.reset_sub_account_password(owner, owner),
        "enable": lambda: accounts.enable_sub_account(owner, owner),
        "default_store": lambda: stores.set_default_store(owner, owner, store),
    }
    with pytest.raises(NotFound, match="No such sub-account"):
        calls[operation]()
    assert accounts.authenticate("acme", make.PASSWORD).is_active


def test_roles_may_be_named_by_id_and_name_at_once(ctx, make):
    from idp.services import roles

    owner = make.company("acme")
    night = roles.create_role(owner, "Night shift", ["chat:read"])
    alice = make.staff(owner, "alice", roles=[night.id, "night shift"])
    assert [r.name for r in alice.roles] == ["Night shift"]
