"""Issue 17, the account centre's sessions page: an account sees where it is signed in (device,
address, started, last seen, apps) and signs out one session or all the others; each ends the
session, makes its refresh tokens fail and its access tokens inactive, and tells its apps
(back-channel logout, as R5). And R22's "new sign-in from a new device" security notice."""

from __future__ import annotations

import re

from idp.extensions import db
from idp.models import AuditEvent, LogoutDelivery, OutboxMessage, SsoSession
from idp.services import outbox
from tests import oidc_flow as flow
from tests.sql import Statements

pytest_plugins = ["tests.oidc_fixtures", "tests.smtp"]  # owner, alice, rp; smtp

WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def device(ctx, user_agent: str):
    web = flow.browser(ctx)
    web.environ_base["HTTP_USER_AGENT"] = user_agent
    return web


def signed_in_with_tokens(web, rp, make) -> dict:
    """A browser signed in as alice, and the tokens an app got in that session."""
    return flow.token_set(web, rp, login="acme:alice", password=make.PASSWORD)


def live() -> list[SsoSession]:
    db.session.expire_all()
    return db.session.query(SsoSession).filter(SsoSession.ended_at.is_(None)).all()


def csrf(web) -> str:
    return flow.form_fields(web.get("/account/password").get_data(as_text=True))["csrf_token"]


def new_sign_in_notices() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(kind="new_sign_in").all()


def test_the_page_lists_each_live_session_with_its_device_address_and_apps(ctx, rp, alice, make):
    laptop, phone = device(ctx, WINDOWS_CHROME), device(ctx, IPHONE)
    signed_in_with_tokens(laptop, rp, make)
    flow.sign_in(phone, "acme:alice", make.PASSWORD)

    page = laptop.get("/account/sessions")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Chrome on Windows" in html and "Mobile Safari on iPhone" in html
    assert laptop.environ_base["REMOTE_ADDR"] in html and phone.environ_base["REMOTE_ADDR"] in html
    assert "Seller center" in html  # the app the laptop's session signed in to
    assert html.count("this device") == 1
    # In Chinese too.
    laptop.set_cookie("idp_lang", "zh_Hans")
    assert "此设备" in laptop.get("/account/sessions").get_data(as_text=True)


def test_sign_out_all_others_ends_them_their_tokens_and_tells_their_apps(ctx, rp, alice, make):
    rp_with_logout = flow.register(
        "Chat console", backchannel_logout_uri="https://chat.example/bcl"
    )
    mine, other = device(ctx, WINDOWS_CHROME), device(ctx, IPHONE)
    flow.sign_in(mine, "acme:alice", make.PASSWORD)
    theirs = signed_in_with_tokens(other, rp, make)
    flow.token_set(other, rp_with_logout)  # the same session signs in to a second app
    assert flow.introspect(other, rp, theirs["access_token"])["active"] is True

    response = mine.post("/account/sessions/end-others", data={"csrf_token": csrf(mine)})
    assert response.status_code == 302

    [kept] = live()
    assert kept.user_agent == WINDOWS_CHROME  # this one stays
    assert flow.location(other.get("/account/sessions")).startswith("/login")
    assert flow.refresh(other, rp, theirs["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert flow.introspect(other, rp, theirs["access_token"])["active"] is False
    db.session.expire_all()
    assert db.session.query(LogoutDelivery).count() == 1  # the app with a back-channel URI
    assert mine.get("/account/sessions").status_code == 200
    [entry] = db.session.query(AuditEvent).filter_by(action="account.other_sessions_ended").all()
    assert entry.actor_id == alice.id


def test_sign_out_one_ends_exactly_that_session(ctx, rp, alice, make):
    mine, phone, tablet = (device(ctx, WINDOWS_CHROME), device(ctx, IPHONE), flow.browser(ctx))
    for web in (mine, phone, tablet):
        flow.sign_in(web, "acme:alice", make.PASSWORD)
    phone_sid = next(s.sid for s in live() if s.user_agent == IPHONE)

    response = mine.post("/account/sessions/end", data={"csrf_token": csrf(mine), "sid": phone_sid})
    assert response.status_code == 302
    assert len(live()) == 2 and IPHONE not in {s.user_agent for s in live()}
    assert flow.location(phone.get("/account/sessions")).startswith("/login")
    assert tablet.get("/account/sessions").status_code == 200


def test_another_accounts_session_cannot_be_ended_from_here(ctx, owner, alice, make):
    make.staff(owner, "bob")
    bob_web, alice_web = flow.browser(ctx), flow.browser(ctx)
    flow.sign_in(bob_web, "acme:bob", make.PASSWORD)
    flow.sign_in(alice_web, "acme:alice", make.PASSWORD)
    bobs = next(s for s in live() if s.account.name == "bob")

    for sid in (bobs.sid, "no-such-session", "x" * 5000, ""):
        response = alice_web.post(
            "/account/sessions/end", data={"csrf_token": csrf(alice_web), "sid": sid}
        )
        assert response.status_code == 404
        assert "That session has already ended" in response.get_data(as_text=True)
    assert len(live()) == 2
    assert bob_web.get("/account/sessions").status_code == 200


def test_the_current_session_is_ended_by_signing_out_not_from_the_list(ctx, alice, make):
    web = flow.browser(ctx)
    flow.sign_in(web, "acme:alice", make.PASSWORD)
    [mine] = live()
    response = web.post("/account/sessions/end", data={"csrf_token": csrf(web), "sid": mine.sid})
    assert response.status_code == 400
    assert "sign out" in response.get_data(as_text=True)
    assert len(live()) == 1


def test_the_forms_need_a_csrf_token(ctx, alice, make):
    mine, other = flow.browser(ctx), flow.browser(ctx)
    flow.sign_in(mine, "acme:alice", make.PASSWORD)
    flow.sign_in(other, "acme:alice", make.PASSWORD)
    assert mine.post("/account/sessions/end-others").status_code == 400
    assert len(live()) == 2


def test_signed_out_visitors_are_sent_to_sign_in(ctx):
    web = flow.browser(ctx)
    assert flow.location(web.get("/account/sessions")).startswith("/login")
    refused = web.post("/account/sessions/end-others", data={"csrf_token": "forged"})
    assert refused.status_code == 400 or flow.location(refused).startswith("/login")


def test_last_seen_and_address_are_noted_at_most_once_a_minute(ctx, alice, make):
    web = flow.browser(ctx)
    flow.sign_in(web, "acme:alice", make.PASSWORD)
    first_address = web.environ_base["REMOTE_ADDR"]
    web.get("/account")
    [session] = live()
    seen_at = session.last_seen_at
    assert session.ip == first_address and seen_at is not None
    # the sign-in noted it: the pages right after it write nothing (an UPDATE less per sign-in)
    assert seen_at == session.created_at

    web.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    web.get("/account")
    [session] = live()
    assert (session.ip, session.last_seen_at) == (first_address, seen_at)  # within the minute

    ctx.extensions["idp.kv"].delete(f"seen:{session.id}")  # as when the minute has passed
    web.get("/account")
    [session] = live()
    assert session.ip == "198.51.100.9" and session.last_seen_at >= seen_at


# --- R22: "new sign-in from a new device" ---------------------------------------------------


def test_a_new_device_gets_a_notice_a_known_one_does_not(ctx, smtp, owner, make):
    make.staff(owner, "alice", email="alice@acme.example")
    laptop = device(ctx, WINDOWS_CHROME)
    flow.sign_in(laptop, "acme:alice", make.PASSWORD)
    assert new_sign_in_notices() == []  # the first device is learned, not announced

    flow.sign_in(laptop, "acme:alice", make.PASSWORD)  # the same browser: its device cookie
    assert new_sign_in_notices() == []

    phone = device(ctx, IPHONE)
    flow.sign_in(phone, "acme:alice", make.PASSWORD)
    [notice] = new_sign_in_notices()
    assert notice.recipient == "alice@acme.example"
    outbox.deliver_due()
    [email] = smtp.wait_for(1)
    text = email.get_body(("plain",)).get_content()
    assert "Mobile Safari on iPhone" in text and phone.environ_base["REMOTE_ADDR"] in text
    assert "http://localhost/account/sessions" in text
    assert WINDOWS_CHROME not in text

    flow.sign_in(phone, "acme:alice", make.PASSWORD)  # now known
    assert len(new_sign_in_notices()) == 1


def test_the_notice_is_sent_even_to_an_account_that_opted_out_of_everything(ctx, smtp, owner, make):
    alice = make.staff(owner, "alice", email="alice@acme.example")
    flow.sign_in(device(ctx, WINDOWS_CHROME), "acme:alice", make.PASSWORD)
    alice = db.session.get(type(alice), alice.id)
    alice.email_opt_out = sorted(outbox.SECURITY_KINDS)
    db.session.commit()

    flow.sign_in(device(ctx, IPHONE), "acme:alice", make.PASSWORD)
    outbox.deliver_due()
    [email] = smtp.wait_for(1)
    assert email["Subject"] == "New sign-in to your account"


def test_the_device_cookie_is_long_lived_httponly_and_only_its_hash_is_kept(ctx, alice, make):
    web = flow.browser(ctx)
    response = flow.sign_in(web, "acme:alice", make.PASSWORD)
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("idp_device=")]
    attributes = [a.strip() for a in header.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Lax" in attributes
    assert int(re.search(r"Max-Age=(\d+)", header).group(1)) >= 365 * 24 * 3600
    value = attributes[0].removeprefix("idp_device=")
    [session] = live()
    assert session.device_hash and value not in (session.device_hash, "")
    # A forged, oversized or malformed device cookie is replaced, never trusted or a 500.
    for forged in ("x", "é" * 40, "y" * 5000):
        other = flow.browser(ctx)
        other.set_cookie("idp_device", forged)
        response = flow.sign_in(other, "acme:alice", make.PASSWORD)
        assert response.status_code == 302
        assert any(h.startswith("idp_device=") for h in response.headers.getlist("Set-Cookie"))


def _posted_sign_in(web, make):
    """The login form's POST alone (its GET sends no SQL), with the statements it sent (not
    the outbox sender's, which may be delivering a notice meanwhile)."""
    fields = flow.form_fields(web.get("/login?next=/").get_data(as_text=True))
    with Statements() as sql:
        response = web.post(
            "/login", data={**fields, "login": "acme:alice", "password": make.PASSWORD}
        )
    assert response.status_code == 302
    return [" ".join(statement.split()) for statement in sql.here]


def test_a_password_sign_in_asks_one_question_about_the_device_and_none_about_passkeys(
    ctx, owner, make
):
    """What issue 17 added to every password sign-in stays cheap (the bench's sign-in): whether
    the account holds a passkey (R19) comes with its row, and whether the device is known (R22)
    is one statement, from a new browser as from a known one."""
    make.staff(owner, "alice", email="alice@acme.example")
    laptop = device(ctx, WINDOWS_CHROME)
    flow.sign_in(laptop, "acme:alice", make.PASSWORD)  # the account's first device, on record

    again = device(ctx, WINDOWS_CHROME)  # the laptop's browser, its session cookie gone
    again.set_cookie("idp_device", laptop.get_cookie("idp_device").value)
    for web, notices in ((device(ctx, IPHONE), 1), (again, 1)):
        sent = _posted_sign_in(web, make)
        selects = [s for s in sent if s.startswith("SELECT")]
        # the account (and whether it holds a passkey), then the device
        assert len(selects) == 2, [s[:90] for s in selects]
        assert "FROM passkeys" in selects[0] and "FROM sso_sessions" in selects[1]
        writes = sorted(s.split()[2] for s in sent if s.startswith("INSERT"))
        assert writes == (
            ["outbox_messages", "sso_sessions"] if web is not again else ["sso_sessions"]
        )
        assert len(sent) == len(selects) + len(writes)
        assert len(new_sign_in_notices()) == notices
