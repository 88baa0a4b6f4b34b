"""R14: a sub-account is muted until it verifies its email or phone with a one-time code asked for
at sign-in. Muted tokens say ``muted: true`` and never carry messaging scopes (``chat:send``,
``messages:send``), whatever the app asks; verifying lifts the mute for new tokens at once.

Codes travel through the real outbox: emails are read from their outbox rows, texts from a real
HTTP SMS webhook on loopback. Time is moved with the app's injectable clock."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp.errors import Conflict, InvalidInput
from idp.extensions import db
from idp.models import Account, OutboxMessage, Store, VerificationCode
from idp.services import accounts, verification
from idp.services.verification import CodeRefused, ResendLimited
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.store_sso_helpers import TOKEN_EXCHANGE, exchange

MESSAGING = {"chat:send", "messages:send"}
APP_SCOPE = "openid profile chat:send messages:send"
BOB = "acme:bob"
SMS_TOKEN = "webhook-bearer-secret"


@dataclass
class Team:
    """acme with two stores; bob is a muted sub-account (email and phone on file, neither
    verified) holding both; alice is verified."""

    owner: Account
    bob: Account
    alice: Account
    sg: Store
    my: Store


@pytest.fixture
def team(ctx, make) -> Team:
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    bob = make.staff(
        owner,
        "bob",
        stores_=[sg, my],
        email="bob@acme.example",
        phone="+65 8123 4567",
        verified=False,
    )
    alice = make.staff(owner, "alice", stores_=[sg], email="alice@acme.example")
    return Team(owner, bob, alice, sg, my)


@pytest.fixture
def rp(ctx) -> flow.RP:
    """A chat console allowed to send messages, and to switch store by token exchange."""
    return flow.register(
        "Chat console",
        scope=APP_SCOPE,
        grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE],
    )


class Clock:
    """The app's clock (``idp.clock``), moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(ctx) -> Iterator[Clock]:
    fixed = Clock(datetime(2031, 5, 4, 9, 0, tzinfo=UTC))
    before = ctx.extensions.get("idp.clock")
    ctx.extensions["idp.clock"] = fixed
    try:
        yield fixed
    finally:
        if before is None:
            ctx.extensions.pop("idp.clock", None)
        else:
            ctx.extensions["idp.clock"] = before


class SmsGateway:
    """A production SMS provider's webhook, on loopback: records each POST (bearer token, content
    type, JSON body) and answers 200."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self._arrived = threading.Condition()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with gateway._arrived:
                    gateway.received.append(
                        {
                            "authorization": self.headers.get("Authorization", ""),
                            "content_type": self.headers.get("Content-Type", ""),
                            "body": json.loads(body),
                        }
                    )
                    gateway._arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"

    def wait_for(self, count: int = 1, timeout: float = 15.0) -> list[dict]:
        """The texts received, once ``count`` have arrived (the outbox sends in the background)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            assert len(self.received) >= count, f"{len(self.received)} of {count} texts arrived"
            return list(self.received)


@pytest.fixture
def sms_gateway(ctx) -> Iterator[SmsGateway]:
    """The app's settings point its SMS webhook at the gateway for this test, then go back."""
    gateway = SmsGateway()
    thread = threading.Thread(target=gateway.server.serve_forever, name="sms-gateway", daemon=True)
    thread.start()
    settings = ctx.extensions["idp.settings"]
    ctx.extensions["idp.settings"] = replace(
        settings, sms_webhook_url=gateway.url, sms_webhook_token=SMS_TOKEN
    )
    try:
        yield gateway
    finally:
        ctx.extensions["idp.settings"] = settings
        gateway.server.shutdown()
        gateway.server.server_close()
        thread.join(timeout=5)


# --- helpers --------------------------------------------------------------------------------


def emailed_code(to: str) -> str:
    """The code in the newest verification email to ``to``, read from the outbox."""
    message = (
        db.session.query(OutboxMessage)
        .filter_by(kind="verification_code", channel="email", recipient=to)
        .order_by(OutboxMessage.id.desc())
        .first()
    )
    assert message is not None, f"no verification email to {to}"
    return re.search(r"\b(\d{6})\b", message.text_body).group(1)


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


@dataclass
class Visit:
    """A browser stopped on the verification page on its way back to ``/oauth/authorize``."""

    page: str
    verifier: str

    @property
    def fields(self) -> dict[str, str]:
        return flow.form_fields(self.page)

    @property
    def later(self) -> str:
        return unescape(re.search(r'<a id="later" href="([^"]+)"', self.page).group(1))


def sign_in_for_app(web, rp: flow.RP, login: str = BOB) -> Visit:
    """The app sends the browser to sign in, asking for the messaging scopes; a muted account
    lands on the verification page."""
    verifier, challenge = flow.pkce()
    page = flow.authorize(web, rp, challenge, login=login, password=PASSWORD, scope=APP_SCOPE)
    assert page.status_code == 200, page.status_code
    assert page.request.path == "/verify"
    return Visit(page.get_data(as_text=True), verifier)


def back_to_app(web, rp: flow.RP, response, verifier: str) -> dict:
    """Follow the provider's redirects to the app's redirect URI and redeem the code there."""
    for _ in range(5):
        if flow.location(response).startswith(rp.redirect_uri):
            break
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        response = web.get(flow.location(response))
    tokens = flow.exchange(web, rp, flow.code_from(response, rp), verifier)
    assert tokens.status_code == 200, tokens.get_json()
    return tokens.get_json()


def app_tokens(web, rp: flow.RP, login: str = BOB) -> dict:
    """Sign in (choosing "later" when asked to verify) and get the app's tokens."""
    visit = sign_in_for_app(web, rp, login)
    return back_to_app(web, rp, web.get(visit.later), visit.verifier)


def assert_muted(web, rp: flow.RP, tokens: dict, muted: bool) -> None:
    """What every app sees: the token response, the access and ID tokens, userinfo and
    introspection agree on ``muted``, and the messaging scopes are there exactly when unmuted."""
    access = flow.jwt_payload(tokens["access_token"])
    messaging = set() if muted else MESSAGING
    assert set(tokens["scope"].split()) & MESSAGING == messaging
    assert set(access["scope"].split()) & MESSAGING == messaging
    assert access["muted"] is muted
    assert flow.jwt_payload(tokens["id_token"])["muted"] is muted
    info = flow.userinfo(web, tokens["access_token"])
    assert info.status_code == 200 and info.get_json()["muted"] is muted
    introspected = flow.introspect(web, rp, tokens["access_token"])
    assert introspected["active"] is True and introspected["muted"] is muted
    assert set(introspected["scope"].split()) & MESSAGING == messaging


# --- sign-in and tokens ---------------------------------------------------------------------


def test_r14_muted_sub_account_signing_in_is_sent_to_verify(team, web):
    response = flow.sign_in(web, BOB, PASSWORD, "/login?next=/stores")
    assert response.status_code == 302
    assert flow.location(response) == "/verify?next=/stores"
    page = web.get(flow.location(response)).get_data(as_text=True)
    # Both ways are offered, masked: enough to recognise, not to harvest.
    assert "b•••@acme.example" in page and "+••••••4567" in page
    assert "bob@acme.example" not in page and "8123" not in page
    assert 'name="csrf_token"' in page and 'href="/verify/later?next=/stores"' in page


def test_r14_verified_staff_and_owner_are_not_asked(team, ctx):
    for login in ("acme:alice", "acme"):
        response = flow.sign_in(flow.browser(ctx), login, PASSWORD, "/login?next=/stores")
        assert flow.location(response) == "/stores", login


def test_r14_muted_token_never_carries_messaging_scopes(team, web, rp):
    tokens = app_tokens(web, rp)
    assert set(tokens["scope"].split()) == {"openid", "profile"}
    assert_muted(web, rp, tokens, muted=True)
    # A refreshed token is no different.
    refreshed = flow.refresh(web, rp, tokens["refresh_token"]).get_json()
    assert flow.jwt_payload(refreshed["access_token"])["muted"] is True
    assert not set(refreshed["scope"].split()) & MESSAGING


def test_r14_emailed_code_lifts_the_mute_for_new_tokens_at_once(team, web, rp):
    before = app_tokens(web, rp)  # muted: "later" once
    web = flow.browser(web.application)
    visit = sign_in_for_app(web, rp)
    sent = web.post("/verify/send", data={**visit.fields, "channel": "email"})
    assert sent.status_code == 302 and flow.location(sent).startswith("/verify?next=")
    page = web.get(flow.location(sent)).get_data(as_text=True)
    assert "We sent a 6-digit code to b•••@acme.example" in page and "5 attempts left" in page

    verified = web.post("/verify", data={**visit.fields, "code": emailed_code("bob@acme.example")})
    assert verified.status_code == 302
    assert flow.location(verified).startswith("/oauth/authorize?")
    after = back_to_app(web, rp, verified, visit.verifier)
    assert_muted(web, rp, after, muted=False)
    assert fresh(team.bob).email_verified_at is not None and not fresh(team.bob).is_muted
    # Tokens issued before keep what they said; a new sign-in is not asked to verify again.
    assert flow.introspect(web, rp, before["access_token"])["muted"] is True
    again = flow.sign_in(flow.browser(web.application), BOB, PASSWORD, "/login?next=/stores")
    assert flow.location(again) == "/stores"


def test_r14_texted_code_through_the_sms_webhook_lifts_the_mute(team, web, rp, sms_gateway):
    visit = sign_in_for_app(web, rp)
    sent = web.post("/verify/send", data={**visit.fields, "channel": "phone"})
    assert sent.status_code == 302
    (text,) = sms_gateway.wait_for(1)
    assert text["authorization"] == f"Bearer {SMS_TOKEN}"
    assert text["content_type"] == "application/json"
    assert text["body"]["to"] == "+6581234567" and isinstance(text["body"]["id"], int)
    assert "acme:bob" in text["body"]["text"] and "10 minutes" in text["body"]["text"]
    code = re.search(r"\b(\d{6})\b", text["body"]["text"]).group(1)

    verified = web.post("/verify", data={**visit.fields, "code": code})
    assert_muted(web, rp, back_to_app(web, rp, verified, visit.verifier), muted=False)
    assert fresh(team.bob).phone_verified_at is not None


def test_r14_later_keeps_the_account_muted(team, web, rp):
    visit = sign_in_for_app(web, rp)
    later = web.get(visit.later)
    assert later.status_code == 302 and flow.location(later).startswith("/oauth/authorize?")
    assert_muted(web, rp, back_to_app(web, rp, later, visit.verifier), muted=True)
    assert fresh(team.bob).is_muted
    # This session is not asked again on its way; opened by hand the page still works.
    assert flow.location(web.get("/verify?next=/stores")) == "/stores"
    assert web.get("/verify").status_code == 200
    # The next sign-in asks again.
    again = flow.sign_in(flow.browser(web.application), BOB, PASSWORD, "/login?next=/stores")
    assert flow.location(again) == "/verify?next=/stores"


def test_r14_main_account_is_never_muted(team, web, rp):
    tokens = app_tokens_for_owner(web, rp)
    assert_muted(web, rp, tokens, muted=False)
    assert flow.location(web.get("/verify?next=/stores")) == "/stores"
    with pytest.raises(Conflict, match="never muted"):
        verification.send_code(team.owner, "email")
    assert verification.verify_code(team.owner, "123456") is team.owner  # nothing to do
    assert db.session.query(VerificationCode).count() == 0


def app_tokens_for_owner(web, rp: flow.RP) -> dict:
    verifier, challenge = flow.pkce()
    response = flow.authorize(web, rp, challenge, login="acme", password=PASSWORD, scope=APP_SCOPE)
    return back_to_app(web, rp, response, verifier)


def test_r14_token_exchange_keeps_a_muted_account_muted(team, web, rp):
    subject = app_tokens(web, rp)["access_token"]
    wider = exchange(web, rp, subject, team.my.public_id, scope=APP_SCOPE)
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    exchanged = exchange(web, rp, subject, team.my.public_id)
    assert exchanged.status_code == 200, exchanged.get_json()
    body = exchanged.get_json()
    claims = flow.jwt_payload(body["access_token"])
    assert claims["store"] == team.my.public_id and claims["muted"] is True
    assert not set(body["scope"].split()) & MESSAGING
    assert not set(claims["scope"].split()) & MESSAGING
    assert flow.introspect(web, rp, body["access_token"])["muted"] is True


# --- the code -------------------------------------------------------------------------------


def test_r14_code_is_six_digits_stored_hashed_valid_ten_minutes(team, clock):
    pending = verification.send_code(team.bob, "email")
    code = emailed_code("bob@acme.example")
    row = db.session.query(VerificationCode).one()
    assert re.fullmatch(r"\d{6}", code) and code not in row.code_hash
    assert (row.channel, row.destination, row.attempts) == ("email", "bob@acme.example", 0)
    assert row.created_at == clock.now and row.expires_at == clock.now + timedelta(minutes=10)
    assert pending.destination == "b•••@acme.example" and pending.attempts_left == 5


def test_r14_wrong_code_is_refused(team, web, rp):
    visit = sign_in_for_app(web, rp)
    web.post("/verify/send", data={**visit.fields, "channel": "email"})
    right = emailed_code("bob@acme.example")
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = web.post("/verify", data={**visit.fields, "code": wrong})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "That code is not correct; 4 attempts left" in page
    assert 'name="code"' in page  # the same page, to try again
    assert fresh(team.bob).is_muted


def test_r14_five_wrong_attempts_kill_the_code(team):
    verification.send_code(team.bob, "email")
    right = emailed_code("bob@acme.example")
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeRefused, match=f"{left} attempts? left"):
            verification.verify_code(team.bob, wrong)
    with pytest.raises(CodeRefused, match="5th try: this code no longer works"):
        verification.verify_code(team.bob, wrong)
    with pytest.raises(CodeRefused, match="tried 5 times, or replaced"):
        verification.verify_code(team.bob, right)
    assert fresh(team.bob).is_muted
    assert verification.pending_code(team.bob) is None


def test_r14_code_expires_after_ten_minutes(team, clock):
    verification.send_code(team.bob, "email")
    code = emailed_code("bob@acme.example")
    clock.advance(minutes=9, seconds=59)
    assert verification.pending_code(team.bob) is not None
    clock.advance(seconds=1)
    assert verification.pending_code(team.bob) is None
    with pytest.raises(CodeRefused, match="expired"):
        verification.verify_code(team.bob, code)
    assert fresh(team.bob).is_muted


def test_r14_code_works_once_and_in_time(team, clock):
    verification.send_code(team.bob, "email")
    code = emailed_code("bob@acme.example")
    clock.advance(minutes=9)
    verification.verify_code(team.bob, f" {code[:3]}-{code[3:]} ")  # as people type it
    assert not fresh(team.bob).is_muted
    with pytest.raises(CodeRefused, match="No code is waiting"):
        verification.verify_code(team.bob, code)


def test_r14_full_width_digits_are_accepted(team):
    verification.send_code(team.bob, "email")
    code = emailed_code("bob@acme.example")
    verification.verify_code(team.bob, "".join(chr(ord(c) + 0xFEE0) for c in code))  # ０-９
    assert not fresh(team.bob).is_muted


def test_r14_a_new_code_voids_the_older_ones(team, clock):
    verification.send_code(team.bob, "email")
    old = emailed_code("bob@acme.example")
    clock.advance(seconds=61)
    verification.send_code(team.bob, "email")
    new = emailed_code("bob@acme.example")
    if old != new:
        with pytest.raises(CodeRefused, match="not correct"):
            verification.verify_code(team.bob, old)
    rows = db.session.query(VerificationCode).order_by(VerificationCode.id).all()
    assert rows[0].expires_at == clock.now  # voided
    verification.verify_code(team.bob, new)
    assert not fresh(team.bob).is_muted


def test_r14_resend_is_limited(team, clock, web, rp):
    verification.send_code(team.bob, "email")
    with pytest.raises(ResendLimited, match="ask for a new one in 60 seconds") as limited:
        verification.send_code(team.bob, "phone")
    assert limited.value.retry_after == 60
    clock.advance(seconds=45)
    with pytest.raises(ResendLimited, match="in 15 seconds"):
        verification.send_code(team.bob, "email")
    for _ in range(4):  # five within the hour
        clock.advance(seconds=61)
        verification.send_code(team.bob, "email")
    clock.advance(seconds=61)
    # 09:05:50 now; the first was sent at 09:00: the sixth may go one hour after it.
    with pytest.raises(
        ResendLimited, match=r"5 codes within an hour.*in 55 minutes \(at 10:00\s*AM \(UTC\)\)"
    ):
        verification.send_code(team.bob, "email")
    clock.now = datetime(2031, 5, 4, 10, 0, 1, tzinfo=UTC)
    verification.send_code(team.bob, "email")
    assert db.session.query(OutboxMessage).filter_by(kind="verification_code").count() == 6

    # The page says the same, with 429.
    visit = sign_in_for_app(web, rp)
    refused = web.post("/verify/send", data={**visit.fields, "channel": "email"})
    assert refused.status_code == 429
    assert "You can ask for a new one in 60 seconds" in refused.get_data(as_text=True)


def test_r14_concurrent_requests_send_one_code(team, ctx):
    """Five requests at once for one account: the limit holds, one code goes out."""
    barrier, outcomes = threading.Barrier(5), []

    def ask() -> None:
        with ctx.app_context():
            try:
                account = db.session.get(Account, team.bob.id)
                barrier.wait(timeout=10)
                verification.send_code(account, "email")
                outcomes.append("sent")
            except ResendLimited:
                outcomes.append("limited")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["limited"] * 4 + ["sent"]
    assert db.session.query(VerificationCode).count() == 1


def test_r14_code_proves_only_the_destination_it_went_to(team):
    verification.send_code(team.bob, "email")
    code = emailed_code("bob@acme.example")
    accounts.update_sub_account(team.owner, team.bob, email="robert@acme.example")  # R18
    with pytest.raises(CodeRefused, match="email address changed since the code was sent"):
        verification.verify_code(team.bob, code)
    assert fresh(team.bob).is_muted


# --- the page -------------------------------------------------------------------------------


def test_r14_verify_page_needs_a_signed_in_session(team, web):
    response = web.get("/verify?next=/stores")
    assert response.status_code == 302
    assert flow.location(response).startswith("/login?next=")
    assert flow.query(flow.location(response))["next"] == "/verify?next=/stores"
    assert flow.location(web.get("/verify/later?next=/stores")).startswith("/login?")


def test_r14_forms_need_csrf_and_next_stays_local(team, web):
    landing = flow.location(flow.sign_in(web, BOB, PASSWORD, "/login?next=/stores"))
    page = web.get(landing).get_data(as_text=True)
    fields = flow.form_fields(page)
    assert web.post("/verify/send", data={"channel": "email"}).status_code == 400  # no token
    assert db.session.query(VerificationCode).count() == 0
    web.post("/verify/send", data={**fields, "channel": "email"})
    code = emailed_code("bob@acme.example")
    done = web.post("/verify", data={**fields, "next": "https://evil.example/", "code": code})
    assert done.status_code == 302 and flow.location(done) == "/"


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"channel": "fax"}, 400, "Choose to verify your email or your phone"),
        ({"channel": ""}, 400, "Choose to verify your email or your phone"),
        ({"channel": "phone"}, 400, "Your account has no phone number"),
    ],
)
def test_r14_bad_channel_rerenders_with_a_message(ctx, make, web, form, status, message):
    owner = make.company("acme")
    make.staff(owner, "carol", email="carol@acme.example", verified=False)
    landing = flow.location(flow.sign_in(web, "acme:carol", PASSWORD, "/login?next=/stores"))
    fields = flow.form_fields(web.get(landing).get_data(as_text=True))
    response = web.post("/verify/send", data={**fields, **form})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page and 'name="channel"' in page


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "Enter the 6-digit code"),
        ("12345", "Enter the 6-digit code"),
        ("abcdef", "Enter the 6-digit code"),
        ("1" * 5000, "Enter the 6-digit code"),
        ("123456", "No code is waiting for this account; ask for a new one"),
    ],
)
def test_r14_bad_code_rerenders_with_a_message(team, web, code, message):
    landing = flow.location(flow.sign_in(web, BOB, PASSWORD, "/login?next=/stores"))
    fields = flow.form_fields(web.get(landing).get_data(as_text=True))
    response = web.post("/verify", data={**fields, "code": code})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert fresh(team.bob).is_muted


def test_r14_messaging_scopes_are_published(ctx, web):
    supported = web.get("/.well-known/openid-configuration").get_json()["scopes_supported"]
    assert {"chat:read", "chat:send", "messages:send"} <= set(supported)


def test_r14_a_missing_email_or_phone_is_named(team, make):
    nobody = make.staff(team.owner, "dan", verified=False)
    with pytest.raises(InvalidInput, match="no email address"):
        verification.send_code(nobody, "email")
    with pytest.raises(InvalidInput, match="no phone number"):
        verification.send_code(nobody, "phone")
    assert db.session.query(OutboxMessage).filter_by(kind="verification_code").count() == 0


def test_r14_handing_over_an_account_with_a_new_email_mutes_it_again(ctx, make):
    """R4's hand-over changes the email: the new holder has not verified it yet."""
    from idp.services import accounts as account_service

    owner = make.company("handover")
    dave = make.staff(owner, "dave", email="dave@handover.example")
    assert not dave.is_muted
    account_service.update_sub_account(owner, dave, email="erin@handover.example")
    assert dave.is_muted
    account_service.update_sub_account(owner, dave, nickname="Erin")  # other edits: no change
    assert dave.is_muted and dave.email_verified_at is None


def test_r14_in_production_a_text_without_a_gateway_is_not_printed_and_not_sent(ctx, capfd):
    """Development prints texts on the console. In production that would put verification codes
    in the process log: without IDP_SMS_WEBHOOK_URL the text stays unsent, with the reason."""
    from idp.services import outbox

    settings = ctx.extensions["idp.settings"]
    ctx.extensions["idp.settings"] = replace(settings, env="production", sms_webhook_url="")
    try:
        message = outbox.send_sms("verification_code", "+6581234567", "your code is 384813")
        db.session.commit()
        outbox.deliver_due()
        # The background sender may hold the row's lease: wait (still in production) until the
        # attempt is recorded, whoever made it.
        for _ in range(100):
            db.session.expire_all()
            if db.session.get(OutboxMessage, message.id).last_error:
                break
            time.sleep(0.1)
    finally:
        ctx.extensions["idp.settings"] = settings
    printed = capfd.readouterr()
    assert "384813" not in printed.out + printed.err
    row = db.session.get(OutboxMessage, message.id)
    db.session.refresh(row)
    assert row.sent_at is None and "IDP_SMS_WEBHOOK_URL" in row.last_error
