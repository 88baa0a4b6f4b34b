"""R4: handing a sub-account to another person by changing its information ends everything of the
previous holder, whichever way the owner does it (the staff edit page and the API go through
``update_sub_account``): a new password, email or phone ends its SSO sessions and refresh tokens
and forgets its authenticator and recovery codes, in the same transaction, and the log says
"handed over". Other edits (nickname, notes, roles, stores) sign no one out.

The previous holder's tokens come from real /oauth/authorize → /oauth/token flows."""

from __future__ import annotations

from types import SimpleNamespace

import pyotp
import pytest

from idp.errors import Conflict
from idp.extensions import db
from idp.models import Account, AuditEvent, RecoveryCode
from idp.oauth import sessions
from idp.services import accounts, audit, totp
from tests import oidc_flow as flow
from tests.factories import PASSWORD

NEW_PASSWORD = "the new holder's password"


@pytest.fixture
def held(ctx, make):
    """alice, signed in to an app in her browser (an SSO session and a refresh token), with an
    authenticator and ten recovery codes."""
    owner = make.company("acme")
    store = make.store(owner)
    alice = make.staff(
        owner, "alice", stores_=[store], email="alice@acme.test", phone="+65 9000 0001"
    )
    rp = flow.register("Seller center")
    browser = flow.browser(ctx)
    tokens = flow.token_set(browser, rp, login="acme:alice", password=PASSWORD)
    secret = totp.begin_enrolment(alice).secret
    codes = totp.confirm_enrolment(alice, secret, pyotp.TOTP(secret).now())
    return SimpleNamespace(
        app=ctx,
        owner=owner,
        alice=alice,
        rp=rp,
        browser=browser,
        cookie=flow.sso_cookie(browser),
        refresh_token=tokens["refresh_token"],
        secret=secret,
        codes=codes,
    )


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


def signs_in_silently(held) -> bool:
    """The previous holder's browser opens the app again without typing a password (R26)."""
    _, challenge = flow.pkce()
    answer = flow.authorize(held.browser, held.rp, challenge)
    return flow.location(answer).startswith(held.rp.redirect_uri + "?")


HAND_OVERS = {
    "password": {"password": NEW_PASSWORD},
    "email": {"email": "erin@acme.test"},
    "phone": {"phone": "+65 9000 0002"},
}


@pytest.mark.parametrize("changes", HAND_OVERS.values(), ids=HAND_OVERS.keys())
def test_r4_hand_over_through_an_edit_ends_everything_of_the_previous_holder(held, changes):
    assert signs_in_silently(held)
    accounts.update_sub_account(held.owner, held.alice, nickname="Erin", **changes)

    refused = flow.refresh(flow.browser(held.app), held.rp, held.refresh_token)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert sessions.find(held.cookie) is None
    assert not signs_in_silently(held)  # sent to the sign-in page instead

    erin = fresh(held.alice)
    assert not totp.is_enrolled(erin)
    assert db.session.query(RecoveryCode).filter_by(account_id=erin.id).count() == 0
    with pytest.raises(Conflict, match="not on"):
        totp.verify(erin, pyotp.TOTP(held.secret).now())
    with pytest.raises(Conflict, match="not on"):
        totp.verify(erin, held.codes[1])

    entry = audit.events_for(held.owner.company_id)[0]
    assert (entry.action, entry.target_id) == ("subaccount.handed_over", erin.public_id)
    assert audit.label_of(entry.action) == "Sub-account handed over"
    assert "nickname" in entry.details["changes"]
    assert NEW_PASSWORD not in str(entry.details)


def test_r4_the_new_holder_signs_in_without_the_old_second_factor(held):
    accounts.update_sub_account(held.owner, held.alice, password=NEW_PASSWORD)
    answer = flow.sign_in(flow.browser(held.app), "acme:alice", NEW_PASSWORD)
    assert answer.status_code == 302
    assert not flow.location(answer).startswith("/login/2fa")  # no authenticator asked for


@pytest.mark.parametrize(
    "changes",
    [
        {"nickname": "Ali"},
        {"notes": "moved to the night shift"},
        {"roles": []},
        {"email": "Alice@acme.test"},  # the same address, written differently (R3's key)
    ],
    ids=["nickname", "notes", "roles", "email-spelling"],
)
def test_r4_other_edits_are_no_hand_over_and_sign_no_one_out(held, changes):
    accounts.update_sub_account(held.owner, held.alice, **changes)

    refreshed = flow.refresh(flow.browser(held.app), held.rp, held.refresh_token)
    assert refreshed.status_code == 200, refreshed.get_json()
    assert sessions.find(held.cookie) is not None
    assert signs_in_silently(held)
    assert totp.is_enrolled(fresh(held.alice))
    assert db.session.query(AuditEvent).filter_by(action="subaccount.handed_over").count() == 0


def test_r4_hand_over_ends_nothing_when_the_edit_is_refused(held, make):
    """The ending is part of the edit's transaction: a refused edit leaves it all working."""
    make.staff(held.owner, "bob", email="bob@acme.test")
    with pytest.raises(Conflict, match="already used"):
        accounts.update_sub_account(
            held.owner, held.alice, password=NEW_PASSWORD, email="bob@acme.test"
        )
    assert sessions.find(held.cookie) is not None
    assert totp.is_enrolled(fresh(held.alice))
    refreshed = flow.refresh(flow.browser(held.app), held.rp, held.refresh_token)
    assert refreshed.status_code == 200, refreshed.get_json()


@pytest.mark.parametrize("how", ["hand_over", "edit"])
def test_r4_r20_r21_the_new_holder_shows_nothing_personal_of_the_previous_one(held, how):
    """Found in review: a handed-over account kept the previous holder's approved photo (the
    ``picture`` claim), the photo waiting for review, their gender and their privacy level."""
    from idp.models import Avatar
    from idp.models.accounts import DEFAULT_PRIVACY, PRIVACY_NO_APP
    from idp.models.avatars import APPROVED, PENDING
    from idp.oauth import claims
    from idp.services import avatars, privacy, profile
    from tests.avatar_files import jpeg

    alice = fresh(held.alice)
    profile.update_profile(alice, name="Alice Tan", gender="female")
    shown = avatars.approve(held.owner, avatars.submit(alice, jpeg()).public_id).public_id
    waiting = avatars.submit(fresh(alice), jpeg(color=(10, 10, 10))).public_id
    privacy.set_level(fresh(alice), PRIVACY_NO_APP)
    assert "picture" in claims.profile(alice.public_id, None).claims

    if how == "hand_over":
        accounts.disable_sub_account(held.owner, fresh(alice))
        accounts.hand_over(held.owner, fresh(alice), password=NEW_PASSWORD, nickname="Carol")
    else:
        accounts.update_sub_account(held.owner, fresh(alice), email="carol@acme.test")

    carol = fresh(alice)
    assert (carol.picture_id, carol.gender, carol.privacy) == (None, None, DEFAULT_PRIVACY)
    assert "picture" not in claims.profile(carol.public_id, None).claims
    states = dict(db.session.query(Avatar.public_id, Avatar.status).filter_by(account_id=carol.id))
    assert states[shown] != APPROVED and states[waiting] != PENDING
    assert avatars.served(shown, 128) is None
    assert avatars.waiting_copy(held.owner, waiting, 128) is None
    assert avatars.queue(held.owner) == []


def test_r4_a_gender_given_with_the_hand_over_is_the_new_holders(held):
    accounts.update_sub_account(held.owner, held.alice, gender="female")
    accounts.update_sub_account(held.owner, fresh(held.alice), password=NEW_PASSWORD, gender="male")
    assert fresh(held.alice).gender == "male"
