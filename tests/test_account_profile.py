"""R20 (issue 17): the account centre's profile. Every account, main or sub, changes its own
name and gender at once; a new email or mobile is saved only once the one-time code sent to the
NEW address (R14's verification service, through a real SMTP server on loopback, or the SMS
outbox) is typed in, and it then counts as verified (a muted staff member's mute lifts). R3
holds: another account's address is refused on the form. Apps see the change at once (the
claims caches, issue 14). The owner edits staff gender in the console (R18) from the same list."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from html import unescape
from typing import TYPE_CHECKING

import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.extensions import db
from idp.models import Account, AuditEvent, OutboxMessage
from idp.services import accounts, outbox, passkeys, profile, totp, verification
from tests import oidc_flow as flow
from tests.authenticator import Authenticator
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from tests.smtp import SmtpServer

pytest_plugins = ["tests.smtp"]  # the smtp fixture: a real SMTP server on loopback

NEW_EMAIL = "Alice.New@Example.com"


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def alice(owner, make) -> Account:
    shop = make.store(owner, "shopee-sg")
    return make.staff(
        owner, "alice", stores_=[shop], email="alice@acme.example", phone="+65 8123 4567"
    )


@pytest.fixture
def bob(owner, make) -> Account:
    """Muted (R14): neither his email nor his phone is verified."""
    return make.staff(owner, "bob", email="bob@acme.example", verified=False)


def signed_in(ctx, login: str, make):
    web = flow.browser(ctx)
    assert flow.sign_in(web, login, make.PASSWORD).status_code == 302
    return web


def csrf(web) -> str:
    page = web.get("/account/profile")
    assert page.status_code == 200, page.status_code
    return flow.form_fields(page.get_data(as_text=True))["csrf_token"]


def post(web, path: str, **data):
    return web.post(path, data={"csrf_token": csrf(web), **data})


def change_contact(web, channel: str, password: str = PASSWORD, **data):
    """The email or mobile form: the new address, behind the step-up (the password here; an
    account with a second factor adds ``code`` or a passkey's ``assertion``)."""
    return post(web, "/account/profile/contact", channel=channel, password=password, **data)


def error_of(response) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:800]
    return unescape(found.group(1))


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def texted_code(to: str) -> str:
    row = (
        db.session.query(OutboxMessage)
        .filter_by(kind="verification_code", channel="sms", recipient=to)
        .order_by(OutboxMessage.id.desc())
        .first()
    )
    assert row is not None, f"no text to {to}"
    return code_in(row.text_body)


def actions(account: Account) -> list[str]:
    db.session.expire_all()
    rows = db.session.query(AuditEvent).filter_by(target_id=account.public_id)
    return [e.action for e in rows.order_by(AuditEvent.id)]


# --- name and gender ----------------------------------------------------------------------------


def test_r20_name_and_gender_are_saved_audited_and_seen_by_apps_at_once(ctx, alice, make):
    rp = flow.register()
    web = signed_in(ctx, "acme:alice", make)
    before = flow.token_set(web, rp, prompt="none")
    assert flow.userinfo(web, before["access_token"]).get_json()["name"] == "alice"

    saved = post(web, "/account/profile", name="  Alice Tan 陈 ", gender="female")
    assert saved.status_code == 302
    page = web.get("/account/profile").get_data(as_text=True)
    assert "Your profile was saved." in page and 'value="Alice Tan 陈"' in page
    account = fresh(alice)
    assert (account.nickname, account.gender) == ("Alice Tan 陈", "female")
    assert "account.profile_changed" in actions(alice)

    # The claims caches see the change: the same token's userinfo, and a new ID token.
    info = flow.userinfo(web, before["access_token"]).get_json()
    assert (info["name"], info["gender"]) == ("Alice Tan 陈", "female")
    again = flow.token_set(web, rp, prompt="none")
    assert flow.jwt_payload(again["id_token"])["name"] == "Alice Tan 陈"

    # "Prefer not to say" is kept, and no app is told a gender.
    assert post(web, "/account/profile", name="", gender="undisclosed").status_code == 302
    assert fresh(alice).gender == profile.UNDISCLOSED
    info = flow.userinfo(web, before["access_token"]).get_json()
    assert "gender" not in info and info["name"] == "alice"


def test_r20_the_owner_edits_its_own_profile_too(ctx, owner, make):
    web = signed_in(ctx, "acme", make)
    assert post(web, "/account/profile", name="Acme Boss", gender="male").status_code == 302
    assert (fresh(owner).nickname, fresh(owner).gender) == ("Acme Boss", "male")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "x" * 61, "gender": ""}, "name", "Name has at most 60 characters"),
        ({"name": "ok", "gender": "f"}, "gender", "Choose a gender from the list"),
        ({"name": "a\x07b", "gender": ""}, "name", "cannot be shown"),
        ({"name": "a" * 5000, "gender": "x" * 5000}, "name", "at most 60"),
    ],
)
def test_r20_bad_name_or_gender_is_refused_on_the_form(ctx, alice, make, data, field, message):
    web = signed_in(ctx, "acme:alice", make)
    refused = post(web, "/account/profile", **data)
    assert refused.status_code == 400
    assert message in error_of(refused)
    assert f'<p class="field field-error">\n  <label for="f-{field}"' in refused.get_data(
        as_text=True
    )
    assert (fresh(alice).nickname, fresh(alice).gender) == (None, None)


def test_r20_a_nul_in_the_name_is_refused_before_the_database(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    refused = post(web, "/account/profile", name="a\x00b", gender="")
    assert refused.status_code == 400
    assert "NUL character" in refused.get_data(as_text=True)
    assert fresh(alice).nickname is None


FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(name=st.text(max_size=80), gender=st.text(max_size=20))
def test_r20_any_name_and_gender_are_saved_or_refused_never_a_500(ctx, alice, make, name, gender):
    """Fuzzed (Hypothesis): NULs, surrogates' neighbours, control and wide characters."""
    web = signed_in(ctx, "acme:alice", make)
    answer = post(web, "/account/profile", name=name, gender=gender)
    assert answer.status_code in (302, 400), answer.status_code
    if answer.status_code == 302:
        account = fresh(alice)
        assert account.nickname == (name.strip() or None)
        assert account.gender in (*profile.GENDERS, None)


def test_r20_every_profile_form_needs_its_csrf_token(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    for path, data in (
        ("/account/profile", {"name": "Forged", "gender": "male"}),
        ("/account/profile/contact", {"channel": "email", "email": "evil@example.com"}),
        ("/account/profile/confirm", {"code": "123456"}),
        ("/account/profile/cancel", {}),
    ):
        assert web.post(path, data=data).status_code == 400, path
    assert fresh(alice).nickname is None
    assert db.session.query(OutboxMessage).filter_by(recipient="evil@example.com").count() == 0


def test_r20_the_profile_needs_a_signed_in_account(ctx, alice):
    web = flow.browser(ctx)
    assert flow.location(web.get("/account/profile")).startswith("/login")
    assert flow.location(web.get("/account/apps")).startswith("/login")


# --- a new email or mobile: a code to the new address first ------------------------------------


def test_r20_a_new_email_is_saved_only_once_the_code_sent_to_it_is_typed_in(
    ctx, alice, make, smtp: SmtpServer
):
    web = signed_in(ctx, "acme:alice", make)
    sent = change_contact(web, channel="email", email=NEW_EMAIL)
    assert sent.status_code == 302
    page = web.get("/account/profile").get_data(as_text=True)
    # shown as typed (their own input, masked only to others), and said once (no flash too)
    assert f"We sent a 6-digit code to {NEW_EMAIL}" in page and "•" not in page
    assert page.count("We sent") == 1
    assert fresh(alice).email == "alice@acme.example"  # not yet

    outbox.deliver_due()
    (email,) = smtp.wait_for(1)
    assert email["To"] == NEW_EMAIL  # the NEW address, not the current one
    code = code_in(text_of(email))

    confirmed = post(web, "/account/profile/confirm", code=code)
    assert confirmed.status_code == 302
    account = fresh(alice)
    assert (account.email, account.email_key) == (NEW_EMAIL, "alice.new@example.com")
    assert account.email_verified_at is not None
    assert "Your email address was changed and verified." in web.get("/account/profile").get_data(
        as_text=True
    )
    assert actions(alice)[-3:] == [
        "account.contact_change_code_sent",
        "account.verified",
        "account.contact_changed",
    ]
    # The code works once.
    again = post(web, "/account/profile/confirm", code=code)
    assert again.status_code == 400


def test_r20_r14_a_muted_staff_member_changing_its_email_is_verified_and_unmuted(
    ctx, bob, make, smtp: SmtpServer
):
    rp = flow.register()
    web = signed_in(ctx, "acme:bob", make)
    assert fresh(bob).is_muted
    assert change_contact(web, channel="email", email="bob@new.example").status_code == 302
    outbox.deliver_due()
    (email,) = smtp.wait_for(1)
    assert post(web, "/account/profile/confirm", code=code_in(text_of(email))).status_code == 302
    account = fresh(bob)
    assert not account.is_muted and account.email == "bob@new.example"
    tokens = flow.token_set(web, rp, prompt="none")
    assert flow.jwt_payload(tokens["access_token"])["muted"] is False
    info = flow.userinfo(web, tokens["access_token"]).get_json()
    assert (info["email"], info["email_verified"]) == ("bob@new.example", True)


def test_r20_a_new_mobile_is_saved_once_the_texted_code_is_typed_in(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    sent = change_contact(web, channel="phone", phone="+65 9000 1111")
    assert sent.status_code == 302
    assert fresh(alice).phone == "+65 8123 4567"
    code = texted_code("+6590001111")
    assert post(web, "/account/profile/confirm", code=code).status_code == 302
    account = fresh(alice)
    assert (account.phone, account.phone_key) == ("+65 9000 1111", "+6590001111")
    assert account.phone_verified_at is not None


def notices_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    """The "address changed" notices (R22) the SMTP server received for ``address``."""
    outbox.deliver_due()
    return [
        m
        for m in smtp.settle()
        if m["To"] == address and m["Subject"].startswith(("Your email", "Your mobile"))
    ]


def test_r20_r22_the_old_email_is_told_of_a_new_one_even_unsubscribed(
    ctx, alice, make, smtp: SmtpServer
):
    """Issue 17: how a hijacked account's owner finds out. The notice goes to the address the
    account had, whatever its subscriptions, with the new one masked; the new address (which
    just proved itself) is not sent it."""
    from idp.services import subscriptions

    subscriptions.set_subscriptions(fresh(alice), [])  # every optional email turned off
    web = signed_in(ctx, "acme:alice", make)
    change_contact(web, channel="email", email=NEW_EMAIL)
    outbox.deliver_due()
    code = code_in(text_of(next(m for m in smtp.wait_for(1) if m["To"] == NEW_EMAIL)))
    assert notices_to(smtp, "alice@acme.example") == []  # nothing changed yet
    assert post(web, "/account/profile/confirm", code=code).status_code == 302

    (notice,) = notices_to(smtp, "alice@acme.example")
    assert notice["Subject"] == "Your email address was changed"
    text = text_of(notice)
    assert "changed to A••••••••@Example.com" in text and NEW_EMAIL not in text
    assert "tell your company's owner" in text
    assert "List-Unsubscribe" not in notice  # a security notice cannot be turned off
    assert notices_to(smtp, NEW_EMAIL) == []


def test_r20_r22_a_new_mobile_is_told_to_the_email(ctx, alice, make, smtp: SmtpServer):
    web = signed_in(ctx, "acme:alice", make)
    change_contact(web, channel="phone", phone="+65 9000 1111")
    assert notices_to(smtp, "alice@acme.example") == []
    assert post(web, "/account/profile/confirm", code=texted_code("+6590001111")).status_code == 302
    (notice,) = notices_to(smtp, "alice@acme.example")
    assert notice["Subject"] == "Your mobile number was changed"
    assert "changed to +••••••1111." in text_of(notice) and "9000" not in text_of(notice)


def test_r20_r22_a_main_account_is_told_a_reset_link_would_reach_the_new_email(
    ctx, owner, make, smtp: SmtpServer
):
    """A main account's password-reset link goes to its email (R17): once the email changed,
    "reset your password" would help the hijacker, so the notice says what to do instead."""
    before = owner.email
    web = signed_in(ctx, "acme", make)
    change_contact(web, channel="email", email="boss@new.example")
    row = db.session.query(OutboxMessage).filter_by(recipient="boss@new.example").one()
    assert post(web, "/account/profile/confirm", code=code_in(row.text_body)).status_code == 302
    (notice,) = notices_to(smtp, before)
    assert "a password-reset link would now go to the new address" in text_of(notice)


def test_r20_a_wrong_code_is_refused_and_nothing_is_saved(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    change_contact(web, channel="email", email=NEW_EMAIL)
    code = code_in(db.session.query(OutboxMessage).filter_by(recipient=NEW_EMAIL).one().text_body)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    refused = post(web, "/account/profile/confirm", code=wrong)
    assert refused.status_code == 400
    assert "That code is not correct; 4 attempts left" in error_of(refused)
    assert fresh(alice).email == "alice@acme.example"
    not_digits = post(web, "/account/profile/confirm", code="12ab")
    assert not_digits.status_code == 400 and "6-digit code" in error_of(not_digits)


def test_r20_a_code_of_the_verification_page_cannot_change_an_address(ctx, bob, make):
    """R14's code proves the current address; it never confirms a change, and the other way
    round."""
    web = signed_in(ctx, "acme:bob", make)
    verification.send_code(fresh(bob), "email")
    verify_code = code_in(
        db.session.query(OutboxMessage).filter_by(recipient="bob@acme.example").one().text_body
    )
    refused = post(web, "/account/profile/confirm", code=verify_code)
    assert refused.status_code == 400
    assert "No change is waiting for a code" in error_of(refused)
    assert fresh(bob).is_muted


def test_r20_cancel_drops_the_waiting_change(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    change_contact(web, channel="email", email=NEW_EMAIL)
    code = code_in(db.session.query(OutboxMessage).filter_by(recipient=NEW_EMAIL).one().text_body)
    assert post(web, "/account/profile/cancel").status_code == 302
    assert (
        "Code"
        not in web.get("/account/profile").get_data(as_text=True).split("contact-title")[1][:400]
    )
    assert post(web, "/account/profile/confirm", code=code).status_code == 400
    assert fresh(alice).email == "alice@acme.example"


@pytest.mark.parametrize(
    ("channel", "value", "status", "message"),
    [
        ("email", "owner-of-globex", 400, "is not an email address"),
        ("email", "a" * 250 + "@x.io", 400, "is not an email address"),
        ("email", "", 400, "Enter the new email address"),
        ("email", "ALICE@acme.example", 400, "This is already your email address"),
        ("phone", "call me maybe", 400, "is not a phone number"),
        ("phone", "+1 23", 400, "is not a phone number"),
        ("phone", "+" + "1" * 16, 400, "A phone number has 6 to 15 digits"),
        ("phone", "+65 8123-4567", 400, "This is already your mobile number"),
        ("sms", "+65 9000 0000", 400, "Choose to change your email or your mobile"),
    ],
)
def test_r20_malformed_or_unchanged_addresses_are_refused(
    ctx, alice, make, channel, value, status, message
):
    web = signed_in(ctx, "acme:alice", make)
    refused = change_contact(web, channel=channel, **{channel: value})
    assert refused.status_code == status
    assert message in error_of(refused)
    assert db.session.query(OutboxMessage).filter_by(kind="verification_code").count() == 0


def test_r03_an_address_of_another_account_of_any_company_is_refused(ctx, alice, make):
    globex = make.company("globex")
    make.staff(globex, "gary", email="gary@globex.example", phone="+86 138 0000 0000")
    web = signed_in(ctx, "acme:alice", make)
    for channel, value, message in (
        ("email", "GARY@globex.example", "This email address is already used by another account"),
        ("phone", "+86 13800000000", "This phone number is already used by another account"),
        ("email", globex.email, "This email address is already used by another account"),
    ):
        refused = change_contact(web, channel=channel, **{channel: value})
        assert refused.status_code == 409, value
        assert error_of(refused) == message
        assert f'value="{value}"' in refused.get_data(as_text=True)  # what was typed stays
    assert db.session.query(OutboxMessage).filter_by(kind="verification_code").count() == 0


def test_r03_an_address_taken_while_the_code_travelled_is_refused_at_confirmation(
    ctx, owner, alice, make
):
    web = signed_in(ctx, "acme:alice", make)
    change_contact(web, channel="email", email=NEW_EMAIL)
    code = code_in(db.session.query(OutboxMessage).filter_by(recipient=NEW_EMAIL).one().text_body)
    make.staff(fresh(owner), "carol", email="alice.new@example.com")  # meanwhile
    refused = post(web, "/account/profile/confirm", code=code)
    assert refused.status_code == 409
    assert error_of(refused) == "This email address is already used by another account"
    assert fresh(alice).email == "alice@acme.example"


def test_r20_codes_to_new_addresses_share_r14_resend_limit(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    assert change_contact(web, channel="email", email=NEW_EMAIL).status_code == 302
    again = change_contact(web, channel="email", email="other@example.com")
    assert again.status_code == 429
    assert "A code was sent less than a minute ago" in error_of(again)


# --- the step-up before a code goes to a new address (R17, R19, R20) ---------------------------


def sent_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    """What the real SMTP server received for ``address``, once the outbox was delivered."""
    outbox.deliver_due()
    return [m for m in smtp.settle() if m["To"] == address]


def codes_queued() -> int:
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(kind="verification_code").count()


def form_of(page: str, channel: str) -> str:
    """The email or mobile form of the profile page (``channel``)."""
    start = page.index(f'<input type="hidden" name="channel" value="{channel}">')
    return page[start : page.index("</form>", start)]


def enrol_totp(account: Account) -> tuple[str, list[str]]:
    """An authenticator app for ``account``, confirmed one step ago (the current code is free):
    its secret and recovery codes."""
    secret = totp.begin_enrolment(account).secret
    then = time.time() - 30
    codes = totp.confirm_enrolment(account, secret, pyotp.TOTP(secret).at(then), now=then)
    return secret, codes


@pytest.mark.parametrize("password", ["", "not my password"])
def test_r20_r17_a_new_email_of_the_main_account_needs_its_password_nothing_is_sent(
    ctx, owner, make, smtp: SmtpServer, password
):
    """A stolen session cookie must not move the main account's email, then take the account
    over with the emailed password reset (R17)."""
    before = owner.email
    web = signed_in(ctx, "acme", make)
    page = web.get("/account/profile").get_data(as_text=True)
    form = form_of(page, "email")  # no second factor: the password is all it asks
    assert 'name="password"' in form and 'name="code"' not in form
    assert "data-passkey" not in form

    refused = change_contact(web, "email", password=password, email="thief@evil.example")
    assert refused.status_code == 403
    assert error_of(refused) == "The current password is incorrect"
    form = form_of(refused.get_data(as_text=True), "email")
    assert '<p class="error" role="alert">The current password is incorrect</p>' in form
    assert '<p class="field field-error">\n    <label for="f-password-email"' in form
    assert 'value="thief@evil.example"' in form  # what was typed stays
    assert codes_queued() == 0 and sent_to(smtp, "thief@evil.example") == []
    assert "account.contact_change_code_sent" not in actions(owner)
    assert fresh(owner).email == before
    assert verification.pending_code(fresh(owner), verification.CHANGE) is None


def test_r20_a_wrong_password_learns_nothing_about_the_new_address(ctx, owner, alice, make):
    """The password comes first: a thief cannot ask whether an address has an account (R3)."""
    web = signed_in(ctx, "acme", make)
    refused = change_contact(web, "email", password="guess", email="alice@acme.example")
    assert refused.status_code == 403
    assert error_of(refused) == "The current password is incorrect"


def test_r20_r19_an_account_with_an_authenticator_app_must_give_its_code(
    ctx, alice, make, smtp: SmtpServer
):
    web = signed_in(ctx, "acme:alice", make)
    secret, _codes = enrol_totp(fresh(alice))
    form = form_of(web.get("/account/profile").get_data(as_text=True), "email")
    assert 'name="password"' in form and 'name="code"' in form

    for code, message in (
        ("", "Enter a code from your authenticator app, or confirm with a passkey"),
        ("000000" if pyotp.TOTP(secret).now() != "000000" else "111111", "not valid"),
    ):
        refused = change_contact(web, "email", code=code, email=NEW_EMAIL)
        assert refused.status_code in (401, 403), refused.status_code
        assert message in error_of(refused)
        form = form_of(refused.get_data(as_text=True), "email")
        assert '<p class="field field-error">\n    <label for="f-code-email"' in form
    assert codes_queued() == 0 and sent_to(smtp, NEW_EMAIL) == []

    sent = change_contact(web, "email", code=pyotp.TOTP(secret).now(), email=NEW_EMAIL)
    assert sent.status_code == 302
    (email,) = sent_to(smtp, NEW_EMAIL)
    assert post(web, "/account/profile/confirm", code=code_in(text_of(email))).status_code == 302
    assert fresh(alice).email == NEW_EMAIL


def test_r20_r19_a_recovery_code_confirms_a_new_mobile(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    _secret, (recovery, *_) = enrol_totp(fresh(alice))
    sent = change_contact(web, "phone", code=recovery, phone="+65 9000 1111")
    assert sent.status_code == 302
    assert post(web, "/account/profile/confirm", code=texted_code("+6590001111")).status_code == 302


def test_r20_r19_a_passkey_holder_confirms_with_the_passkey(ctx, alice, make, smtp: SmtpServer):
    """Below the browser (tests.authenticator); Chromium does the same in
    test_account_passkeys_browser."""
    web = signed_in(ctx, "acme:alice", make)
    device = Authenticator("http://localhost")
    ceremony = passkeys.begin_registration(fresh(alice))
    passkeys.finish_registration(fresh(alice), ceremony.id, device.create(ceremony.options), "Key")
    form = form_of(web.get("/account/profile").get_data(as_text=True), "email")
    assert 'data-passkey="authenticate"' in form and "/account/security/step-up" in form

    alone = change_contact(web, "email", email=NEW_EMAIL)  # the password alone
    assert alone.status_code == 403
    assert "confirm with a passkey" in error_of(alone)
    assert codes_queued() == 0

    token = csrf(web)
    options = web.post("/account/security/step-up", headers={"X-CSRFToken": token}).get_json()
    sent = web.post(
        "/account/profile/contact",
        data={
            "csrf_token": token,
            "channel": "email",
            "email": NEW_EMAIL,
            "password": PASSWORD,
            "assertion": device.get(options),
        },
    )
    assert sent.status_code == 302
    assert len(sent_to(smtp, NEW_EMAIL)) == 1


def test_r20_step_up_guesses_on_the_contact_form_are_throttled(ctx, owner, make):
    """Counted with the security page's step-ups (the account's second-factor limits): the form
    is no password oracle. From the 4th wrong guess a wait; even the right password waits."""
    web = signed_in(ctx, "acme", make)
    for _ in range(3):
        assert change_contact(web, "email", password="guess", email=NEW_EMAIL).status_code == 403
    held = change_contact(web, "email", email=NEW_EMAIL)
    assert held.status_code == 429
    assert "Try again in" in error_of(held)
    assert codes_queued() == 0


# --- the owner edits staff (R18) with the same rules ----------------------------------------------


def staff_page(web, account: Account):
    return web.get(f"/console/staff/{account.public_id}")


def test_r18_r20_the_owner_sets_staff_gender_from_the_same_list(ctx, owner, alice, make):
    web = signed_in(ctx, "acme", make)
    page = staff_page(web, alice).get_data(as_text=True)
    assert '<option value="undisclosed">Prefer not to say</option>' in page
    fields = flow.form_fields(page)
    form = {
        **fields,
        "name": "alice",
        "nickname": "",
        "email": "alice@acme.example",
        "phone": "+65 8123 4567",
        "notes": "",
        "stores": fresh(alice).stores[0].public_id,
        "gender": "other",
    }
    saved = web.post(f"/console/staff/{alice.public_id}", data=form)
    assert saved.status_code == 302, error_of(saved)
    assert fresh(alice).gender == "other"
    fields = flow.form_fields(staff_page(web, alice).get_data(as_text=True))
    refused = web.post(
        f"/console/staff/{alice.public_id}", data={**form, **fields, "gender": "robot"}
    )
    assert refused.status_code == 400 and error_of(refused) == "Choose a gender from the list"
    with pytest.raises(accounts.InvalidInput):
        accounts.update_sub_account(fresh(owner), fresh(alice), gender="f")
    # The console's edit-version check still guards the gender (two tabs).
    stale = web.post(f"/console/staff/{alice.public_id}", data={**form, "gender": "male"})
    assert stale.status_code == 409
    assert fresh(alice).gender == "other"


def test_r06_staff_pages_of_the_account_centre_show_nothing_owner_only(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    for path in ("/account/profile", "/account/apps"):
        page = web.get(path).get_data(as_text=True)
        assert "/console" not in page and "wallet" not in page.lower(), path


def test_r20_the_overview_says_what_the_profile_lacks(ctx, alice, make):
    web = signed_in(ctx, "acme:alice", make)
    page = unescape(web.get("/account").get_data(as_text=True))
    # alice's email is verified (the factory); her name, gender and mobile's proof are missing.
    assert "Your profile is 1 of 4 complete: add your name, gender, verified mobile" in page
    post(web, "/account/profile", name="Alice", gender="female")
    page = unescape(web.get("/account").get_data(as_text=True))
    assert "Your profile is 3 of 4 complete: add your verified mobile" in page
