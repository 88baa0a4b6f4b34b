"""Sign-in under attack, through the real /login form: the same answer whether or not a name
exists, throttling and lockout (told to the owner at the next sign-in), and the TOTP second
factor (R19) that cannot be replayed.

The throttle keeps its counters in the app's kv store, which lives as long as the app, so every
test here signs in under a company name of its own."""

from __future__ import annotations

import html
import re
import time
import uuid

import pyotp
import pytest

from idp import i18n
from idp.extensions import db
from idp.kv import kv
from idp.models import Account
from idp.services import throttle, totp
from idp.services.accounts import WRONG_CREDENTIALS
from tests import oidc_flow as flow

WRONG = "not-the-password"


@pytest.fixture
def company(ctx, make) -> Account:
    """A company (its main account) whose name no other test uses."""
    return make.company(f"co{uuid.uuid4().hex[:12]}")


def error_of(response) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1).replace("&#39;", "'")


def sso_sessions() -> int:
    return flow.issued()["sso_sessions"]


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


# --- enumeration and throttling ----------------------------------------------------------------


def test_unknown_name_and_wrong_password_get_the_same_answer(web, company, make):
    alice = make.staff(company, "alice")
    name = company.company.name
    answers = [
        flow.sign_in(web, login, password)
        for login, password in [
            (f"{name}:alice", WRONG),
            (f"{name}:nobody", WRONG),
            (f"{name}xx", WRONG),
            (name, WRONG),
            (":::", WRONG),
        ]
    ]
    assert {r.status_code for r in answers} == {401}
    assert {error_of(r) for r in answers} == {WRONG_CREDENTIALS}
    assert flow.sso_cookie(web) is None and sso_sessions() == 0
    assert fresh(alice).lockout_notice_at is None


def test_repeated_failures_are_throttled_alike_for_existing_and_unknown_names(ctx, company, make):
    make.staff(company, "alice")
    name = company.company.name
    answers = {}
    for login in (f"{name}:alice", f"{name}:nobody"):
        web = flow.browser(ctx)
        statuses = [
            flow.sign_in(web, login, WRONG).status_code for _ in range(throttle.DELAY_AFTER)
        ]
        assert statuses == [401] * throttle.DELAY_AFTER
        throttled = flow.sign_in(web, login, make.PASSWORD)  # even the right password waits
        assert throttled.status_code == 429
        assert flow.sso_cookie(web) is None
        answers[login] = re.sub(r"\d+ seconds?", "N seconds", error_of(throttled))
    assert (
        answers[f"{name}:alice"]
        == answers[f"{name}:nobody"]
        == ("Too many failed sign-ins. Try again in N seconds.")
    )
    assert sso_sessions() == 0


def test_lockout_is_told_to_the_owner_at_the_next_successful_sign_in(ctx, web, company, make):
    name = company.company.name
    ip = web.environ_base["REMOTE_ADDR"]
    two_minutes_ago = time.time() - 120  # earlier failures, whose delays have run out
    for _ in range(throttle.LOCK_AFTER - 1):
        throttle.record_failure(kv(), name, ip, now=two_minutes_ago)
    assert fresh(company).lockout_notice_at is None

    assert flow.sign_in(web, name, WRONG).status_code == 401  # the failure that locks
    locked_at = fresh(company).lockout_notice_at
    assert locked_at is not None
    locked = flow.sign_in(web, name, make.PASSWORD)
    assert locked.status_code == 429 and "minutes" in error_of(locked)
    assert flow.sso_cookie(web) is None and fresh(company).lockout_notice_at == locked_at

    throttle.record_success(kv(), name, ip)  # time passes: the lock runs out
    signed_in = flow.sign_in(web, name, make.PASSWORD)
    assert signed_in.status_code == 302 and flow.location(signed_in) == "/login/notice"
    assert flow.sso_cookie(web) is not None
    assert fresh(company).lockout_notice_at is None
    notice = web.get("/login/notice")
    with ctx.test_request_context():  # shown in the page's language and the account's zone
        shown = i18n.when(locked_at, i18n.zone_of(company))
    assert html.escape(shown, quote=False) in notice.get_data(as_text=True)
    assert "change your password" in notice.get_data(as_text=True)
    assert web.get("/login/notice").status_code == 302  # told once


# --- the second factor (R19) -------------------------------------------------------------------


def enrol(account: Account) -> pyotp.TOTP:
    """TOTP enrolled with the code of the previous step, so the current one is still unused."""
    secret = totp.begin_enrolment(account).secret
    authenticator = pyotp.TOTP(secret)
    earlier = time.time() - totp.STEP_SECONDS
    totp.confirm_enrolment(account, secret, authenticator.at(earlier), now=earlier)
    return authenticator


def wrong_code(authenticator: pyotp.TOTP) -> str:
    now = time.time()
    valid = {authenticator.at(now + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_r19_second_factor_at_sign_in_puts_otp_in_amr_and_is_not_replayable(
    ctx, web, company, make
):
    alice = make.staff(company, "alice")
    login = f"{company.company.name}:alice"
    authenticator = enrol(alice)
    rp = flow.register()
    verifier, challenge = flow.pkce()

    sent = flow.authorize(web, rp, challenge)
    password_ok = flow.sign_in(web, login, make.PASSWORD, flow.location(sent))
    assert password_ok.status_code == 302 and flow.location(password_ok) == "/login/2fa"
    assert flow.sso_cookie(web) is None and sso_sessions() == 0
    page = web.get("/login/2fa")
    fields = flow.form_fields(page.get_data(as_text=True))

    refused = web.post("/login/2fa", data={**fields, "code": wrong_code(authenticator)})
    assert refused.status_code == 401 and flow.sso_cookie(web) is None and sso_sessions() == 0

    code = authenticator.now()
    accepted = web.post("/login/2fa", data={**fields, "code": code})
    assert accepted.status_code == 302 and flow.sso_cookie(web) is not None
    oauth_code = flow.code_from(web.get(flow.location(accepted)), rp)
    tokens = flow.exchange(web, rp, oauth_code, verifier).get_json()
    id_token = flow.jwt_payload(tokens["id_token"])
    assert "otp" in id_token["amr"] and "pwd" in id_token["amr"]
    assert id_token["acr"] == "2"

    thief = flow.browser(ctx)  # the same code, seen over the shoulder, for another sign-in
    assert flow.location(flow.sign_in(thief, login, make.PASSWORD)) == "/login/2fa"
    fields = flow.form_fields(thief.get("/login/2fa").get_data(as_text=True))
    replayed = thief.post("/login/2fa", data={**fields, "code": code})
    assert replayed.status_code == 401 and "not valid" in error_of(replayed)
    assert flow.sso_cookie(thief) is None and sso_sessions() == 1


def test_r19_the_second_step_takes_a_recovery_code_in_a_field_of_its_own(ctx, web, company, make):
    """A recovery code has letters (``hege-g2dc-3hfy``): typed into the authenticator's numeric
    field a phone offers only digits. It has a field of its own that asks for text, and the
    sign-in it passes says ``rc``."""
    alice = make.staff(company, "alice")
    secret = totp.begin_enrolment(alice).secret
    earlier = time.time() - totp.STEP_SECONDS
    codes = totp.confirm_enrolment(alice, secret, pyotp.TOTP(secret).at(earlier), now=earlier)
    login = f"{company.company.name}:alice"
    fields = second_step(web, login, make.PASSWORD)
    page = web.get("/login/2fa").get_data(as_text=True)
    inputs = re.findall(r'<input name="code"[^>]*>', page)
    assert len(inputs) == 2, inputs
    assert 'inputmode="numeric"' in inputs[0] and 'inputmode="text"' in inputs[1]
    assert "Ask your company's owner to reset your second factor" in html.unescape(page)

    refused = web.post("/login/2fa", data={**fields, "code": "abcd-efgh-ijkl"})
    assert refused.status_code == 401
    assert '<details class="recovery" open>' in refused.get_data(as_text=True)  # stays in view
    accepted = web.post("/login/2fa", data={**fields, "code": codes[0]})
    assert accepted.status_code == 302 and flow.sso_cookie(web) is not None


def test_r19_the_second_step_can_be_left_for_another_account(ctx, web, company, make):
    """ "Not acme:alice?": the password step is forgotten, the sign-in page comes back with the
    same destination, and the second step is not reachable any more."""
    alice = make.staff(company, "alice")
    enrol(alice)
    login = f"{company.company.name}:alice"
    assert flow.location(flow.sign_in(web, login, make.PASSWORD, "/login?next=/account")) == (
        "/login/2fa"
    )
    page = web.get("/login/2fa").get_data(as_text=True)
    assert f"Not {login}? Sign in as someone else" in html.unescape(page)
    fields = flow.form_fields(page)
    left = web.post("/login/2fa/cancel", data={"csrf_token": fields["csrf_token"]})
    assert left.status_code == 302 and flow.location(left) == "/login?next=/account"
    assert flow.location(web.get("/login/2fa")) == "/login"
    assert flow.sso_cookie(web) is None and sso_sessions() == 0
    forged = web.post("/login/2fa/cancel")  # no CSRF token: refused like every form
    assert forged.status_code == 400


def test_r19_company_requiring_totp_sends_staff_without_it_to_enrol(web, company, make):
    bob = make.staff(company, "bob")
    totp.set_required_for_staff(company, True)

    signed_in = flow.sign_in(web, f"{company.company.name}:bob", make.PASSWORD)
    assert signed_in.status_code == 302 and flow.location(signed_in) == "/login/2fa"
    enrol_redirect = web.get("/login/2fa")
    assert flow.location(enrol_redirect) == "/login/2fa/enrol"
    assert flow.sso_cookie(web) is None and sso_sessions() == 0

    page = web.get("/login/2fa/enrol")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html
    secret = re.search(r"<code>([A-Z2-7]+)</code>", html).group(1)
    fields = flow.form_fields(html)
    done = web.post("/login/2fa/enrol", data={**fields, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and flow.sso_cookie(web) is not None
    assert totp.is_enrolled(fresh(bob))


def shown_secret(page) -> str:
    return re.search(r"<code>([A-Z2-7]+)</code>", page.get_data(as_text=True)).group(1)


@pytest.mark.parametrize("path", ["/login/2fa/enrol", "/account/security/totp"])
def test_r19_a_mistyped_code_keeps_the_secret_being_set_up(web, company, make, path):
    """The person scanned the QR code; one mistyped code must not replace the secret their app
    now holds (issue 12), nor must reloading the page. Only asking for a new code does."""
    totp.set_required_for_staff(company, True)
    bob = make.staff(company, "bob")
    login = f"{company.company.name}:bob"
    if path == "/account/security/totp":  # enrolling by choice: a company that does not require it
        totp.set_required_for_staff(company, False)
        assert flow.sign_in(web, login, make.PASSWORD).status_code == 302
    else:
        assert flow.location(flow.sign_in(web, login, make.PASSWORD)) == "/login/2fa"
    page = web.get(path)
    secret = shown_secret(page)
    authenticator = pyotp.TOTP(secret)
    fields = {**flow.form_fields(page.get_data(as_text=True)), "password": make.PASSWORD}
    mistyped = web.post(path, data={**fields, "code": wrong_code(authenticator)})
    assert mistyped.status_code == 400 and "not valid" in error_of(mistyped)
    assert shown_secret(mistyped) == secret
    assert shown_secret(web.get(path)) == secret  # a reload shows the same one
    done = web.post(path, data={**fields, "code": authenticator.now()})
    assert done.status_code == 200 and "recovery" in done.get_data(as_text=True).lower()
    assert totp.is_enrolled(fresh(bob))


def test_r19_show_a_new_code_replaces_the_secret_being_set_up(web, company, make):
    make.staff(company, "bob")
    assert flow.sign_in(web, f"{company.company.name}:bob", make.PASSWORD).status_code == 302
    page = web.get("/account/security/totp")
    first = shown_secret(page)
    fields = flow.form_fields(page.get_data(as_text=True))
    renewed = web.post("/account/security/totp", data={**fields, "action": "restart"})
    assert renewed.status_code == 200 and shown_secret(renewed) != first
    stale = web.post(
        "/account/security/totp",
        data={**fields, "password": make.PASSWORD, "code": pyotp.TOTP(first).now()},
    )
    assert stale.status_code == 400  # the replaced secret no longer enrols


def second_step(web, login: str, password: str) -> dict[str, str]:
    """Pass the password step; the second-factor form's hidden fields."""
    assert flow.location(flow.sign_in(web, login, password)) == "/login/2fa"
    return flow.form_fields(web.get("/login/2fa").get_data(as_text=True))


def test_r19_lockout_notice_waits_for_a_sign_in_that_passes_the_second_factor(
    ctx, web, company, make
):
    """Knowing the password is not a successful sign-in when a second factor is due: it must not
    use up the owner's lockout notice."""
    name = company.company.name
    authenticator = enrol(company)
    ip = web.environ_base["REMOTE_ADDR"]
    for _ in range(throttle.LOCK_AFTER - 1):
        throttle.record_failure(kv(), name, ip, now=time.time() - 120)
    assert flow.sign_in(web, name, WRONG).status_code == 401
    locked_at = fresh(company).lockout_notice_at
    assert locked_at is not None
    throttle.record_success(kv(), name, ip)  # time passes: the lock runs out

    intruder = flow.browser(ctx)
    fields = second_step(intruder, name, make.PASSWORD)
    assert (
        intruder.post("/login/2fa", data={**fields, "code": wrong_code(authenticator)}).status_code
        == 401
    )
    assert fresh(company).lockout_notice_at == locked_at  # still waiting for the owner

    fields = second_step(web, name, make.PASSWORD)
    assert web.post("/login/2fa", data={**fields, "code": authenticator.now()}).status_code == 302
    assert fresh(company).lockout_notice_at is None


def test_r19_second_factor_guessing_is_throttled(web, company, make):
    """Six digits would be guessable without a limit: after as many wrong codes as lock a
    password, even the right code no longer signs in."""
    alice = make.staff(company, "alice")
    authenticator = enrol(alice)
    fields = second_step(web, f"{company.company.name}:alice", make.PASSWORD)
    wrong = wrong_code(authenticator)
    for _ in range(throttle.LOCK_AFTER):
        assert web.post("/login/2fa", data={**fields, "code": wrong}).status_code in (401, 429)
    final = web.post("/login/2fa", data={**fields, "code": authenticator.now()})
    assert final.status_code == 429 and "Too many" in error_of(final)
    assert flow.sso_cookie(web) is None and sso_sessions() == 0


def test_r16_an_owners_reset_lifts_the_lock_someone_else_caused(ctx, web, company, make):
    """Issue 12: anyone could keep a staff member out with 10 wrong guesses every 15 minutes,
    and the owner's reset did not help: the new password was refused until the lock ran out."""
    alice = make.staff(company, "alice")
    login = f"{company.company.name}:alice"
    attacker = flow.browser(ctx)
    for _ in range(throttle.LOCK_AFTER):
        throttle.record_failure(kv(), login, attacker.environ_base["REMOTE_ADDR"])
    assert flow.sign_in(web, login, make.PASSWORD).status_code == 429
    from idp.services import accounts

    password = accounts.reset_sub_account_password(company, fresh(alice), "set by the owner")
    signed_in = flow.sign_in(web, login, password)
    assert signed_in.status_code == 302, error_of(signed_in)
    assert flow.location(signed_in).startswith("/account/password")  # R16: choose a new one


def test_r16_an_owners_second_factor_reset_lifts_the_code_lock(ctx, company, make):
    alice = make.staff(company, "alice")
    enrol(alice)
    key = throttle.second_factor_key(alice)
    for _ in range(throttle.LOCK_AFTER):
        throttle.record_failure(kv(), key, "203.0.113.9")
    with pytest.raises(throttle.Throttled):
        throttle.check(kv(), key, "198.51.100.20")  # locked, from any address
    totp.reset_totp(company, fresh(alice))
    throttle.check(kv(), key, "198.51.100.20")  # lifted
    with pytest.raises(throttle.Throttled):
        throttle.check(kv(), key, "203.0.113.9")  # the guessing address still waits
