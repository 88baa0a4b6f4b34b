"""R22: security notices cannot be turned off. Changing one's password, an owner's password reset,
a new second factor, a wallet password set or changed, and a wallet lock each queue an email in
the transaction of the change (an outbox row exists exactly when the change committed), to the
account concerned, whatever its ``email_opt_out`` says; an account without email gets none."""

from __future__ import annotations

import pytest

from idp.errors import DomainError
from idp.extensions import db
from idp.models import Account, OutboxMessage
from idp.services import accounts, outbox, totp, wallet
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.test_r15_wallet import WALLET_PW, enrol

NEW_PASSWORD = "a fresh passphrase"
NOTICES = ("password_changed", "password_reset_by_owner", "second_factor_added")
WALLET_NOTICES = ("wallet_changed", "wallet_locked")


def sent(kind: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = db.session.query(OutboxMessage).order_by(OutboxMessage.id)
    return query.filter_by(kind=kind).all() if kind else query.all()


def opt_out_of_everything(*people: Account) -> None:
    for account in people:
        account.email_opt_out = sorted(outbox.SECURITY_KINDS)
    db.session.commit()


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def alice(owner, make) -> Account:
    return make.staff(owner, "alice", email="alice@example.test")


@pytest.fixture
def bob(owner, make) -> Account:
    """Staff without an email address."""
    return make.staff(owner, "bob", phone="+65 8000 0001")


def set_wallet(owner: Account, new: str = WALLET_PW) -> None:
    wallet.set_wallet_password(owner, current_password=PASSWORD, totp_code=None, new_password=new)


def lock_wallet(owner: Account, make) -> None:
    store = make.store(owner)
    set_wallet(owner)
    for n in range(wallet.MAX_FAILURES):
        wallet.verify_wallet_password(store, f"wrong {n}!", client=None)


# What each notice answers to, and who receives it.
TRIGGERS = {
    "password_changed": lambda s: accounts.change_own_password(s.alice, PASSWORD, NEW_PASSWORD),
    "password_reset_by_owner": lambda s: accounts.reset_sub_account_password(s.owner, s.alice),
    "second_factor_added": lambda s: enrol(s.alice),
    "wallet_changed": lambda s: set_wallet(s.owner),
    "wallet_locked": lambda s: lock_wallet(s.owner, s.make),
}
RECIPIENT = {
    "password_changed": "alice",
    "password_reset_by_owner": "alice",
    "second_factor_added": "alice",
    "wallet_changed": "owner",
    "wallet_locked": "owner",
}


class Scene:
    def __init__(self, owner: Account, alice: Account, make) -> None:
        self.owner, self.alice, self.make = owner, alice, make


@pytest.mark.parametrize("kind", sorted(TRIGGERS))
def test_r22_each_security_notice_is_queued_to_the_account_concerned(owner, alice, make, kind):
    scene = Scene(owner, alice, make)
    TRIGGERS[kind](scene)
    [message] = sent(kind)
    to = getattr(scene, RECIPIENT[kind])
    assert (message.recipient, message.account_id, message.channel) == (to.email, to.id, "email")
    assert message.subject and message.text_body
    assert kind in outbox.SECURITY_KINDS


@pytest.mark.parametrize("kind", sorted(TRIGGERS))
def test_r22_security_notices_are_sent_even_when_opted_out(owner, alice, make, kind):
    opt_out_of_everything(owner, alice)
    TRIGGERS[kind](Scene(owner, alice, make))
    assert len(sent(kind)) == 1


def test_r22_the_reset_notice_never_holds_the_new_password(owner, alice):
    chosen = accounts.reset_sub_account_password(owner, alice, "owner chose this one")
    generated = accounts.reset_sub_account_password(owner, alice)
    for message in sent("password_reset_by_owner"):
        assert chosen not in message.text_body and generated not in message.text_body
        assert "acme:alice" in message.text_body


def test_r22_wallet_notices_name_the_company_and_hold_no_secret(owner, make):
    lock_wallet(owner, make)
    [changed] = sent("wallet_changed")
    [locked] = sent("wallet_locked")
    for message in (changed, locked):
        assert "acme" in message.subject and WALLET_PW not in message.text_body
    assert "was set" in changed.text_body
    set_wallet(owner, "a second wallet pw")
    assert "was changed" in sent("wallet_changed")[-1].text_body


def test_r22_an_account_without_email_gets_no_notice_and_the_change_still_happens(owner, bob):
    temporary = accounts.reset_sub_account_password(owner, bob)
    accounts.change_own_password(bob, temporary, NEW_PASSWORD)
    enrol(bob)
    assert sent() == []
    assert accounts.authenticate("acme:bob", NEW_PASSWORD).id == bob.id
    assert totp.is_enrolled(db.session.get(Account, bob.id))


REFUSED = {
    "password_changed": lambda s: accounts.change_own_password(s.alice, "wrong!", NEW_PASSWORD),
    "password_reset_by_owner": lambda s: accounts.reset_sub_account_password(
        s.owner, s.alice, "short"
    ),
    "second_factor_added": lambda s: totp.confirm_enrolment(
        s.alice, totp.begin_enrolment(s.alice).secret, "abcdef"
    ),
    "wallet_changed": lambda s: wallet.set_wallet_password(
        s.owner, current_password=PASSWORD, totp_code=None, new_password=PASSWORD
    ),
    "staff-resets-a-password": lambda s: accounts.reset_sub_account_password(s.alice, s.alice),
}


@pytest.mark.parametrize("refused", sorted(REFUSED))
def test_r22_a_refused_change_queues_no_notice(owner, alice, make, refused):
    with pytest.raises(DomainError):
        REFUSED[refused](Scene(owner, alice, make))
    assert sent() == []


def test_r22_changing_the_password_on_the_page_queues_the_notice(ctx, alice):
    opt_out_of_everything(alice)
    web = flow.browser(ctx)
    assert flow.sign_in(web, "acme:alice", PASSWORD).status_code == 302
    fields = flow.form_fields(web.get("/account/password").get_data(as_text=True))
    changed = web.post(
        "/account/password",
        data={**fields, "current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    [message] = sent("password_changed")
    assert message.recipient == "alice@example.test"
