"""R19 and issue 17 section 6 in Chromium: a passkey is registered on the account centre's page
and then used, for a passwordless sign-in and as the second step after the password, through
Chromium's virtual authenticator (DevTools ``WebAuthn`` domain). WebAuthn needs a secure
context, and http://localhost is one: this provider is served as http://localhost:<port>, with
rpId ``localhost``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from werkzeug.serving import make_server

from idp.app import create_app, settings_of
from idp.extensions import db
from idp.models import Company, OutboxMessage, SsoSession
from idp.services import passkeys, passwords
from tests.apps import close
from tests.live import _placeholder

pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="module")
def _localhost_provider(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _placeholder, threaded=True)
    url = f"http://localhost:{server.server_port}"
    live = create_app(replace(settings_of(app), issuer=url))
    server.app = live
    thread = threading.Thread(target=server.serve_forever, name="idp-localhost", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        close(live)


@pytest.fixture
def base(ctx, _localhost_provider) -> str:
    return _localhost_provider


@pytest.fixture
def alice(ctx, make):
    return make.staff(make.company("acme"), "alice", email="alice@acme.example")


@pytest.fixture
def chromium_with_authenticator(browser):
    """A fresh browser context with a platform authenticator that verifies its user."""
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    yield context, page
    context.close()


def password_sign_in(page, base: str, login: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    with page.expect_navigation():  # wait_for_load_state could still see the form loaded
        page.click("main form button[type=submit]")


def latest_session() -> SsoSession:
    db.session.expire_all()
    return db.session.query(SsoSession).order_by(SsoSession.id.desc()).first()


def test_r19_a_passkey_registered_in_chromium_signs_in_alone_and_as_second_factor(
    base, alice, make, chromium_with_authenticator
):
    context, page = chromium_with_authenticator
    password_sign_in(page, base, "acme:alice", make.PASSWORD)
    page.goto(f"{base}/account/security")
    page.fill("#f-passkey-name", "Test laptop")
    page.click("button[data-passkey=register]")  # no password typed: the ceremony waits for it
    assert page.evaluate("document.querySelector('#f-passkey-password').validity.valueMissing")
    assert passkeys.list_for(alice) == []
    page.fill("#f-passkey-password", make.PASSWORD)
    with page.expect_navigation():  # the ceremony, then the form's redirect
        page.click("button[data-passkey=register]")
    page.wait_for_selector("main p.success")  # the page again, after the form's redirect
    assert "Test laptop" in page.inner_text("main table")
    (passkey,) = passkeys.list_for(alice)
    assert passkey.name == "Test laptop"

    # Passwordless: no login name typed, the authenticator offers its discoverable passkey.
    context.clear_cookies()
    page.goto(f"{base}/login")
    page.click("button[data-passkey=authenticate]")
    page.wait_for_url(f"{base}/")
    assert "acme:alice" in page.inner_text(".topbar")
    session = latest_session()
    assert session.amr[1:] == ["user", "mfa"] and session.amr[0] in ("hwk", "swk")
    assert session.acr == "2"

    # The second step after the password: the passkey instead of a code.
    context.clear_cookies()
    password_sign_in(page, base, "acme:alice", make.PASSWORD)
    page.wait_for_url(f"{base}/login/2fa")
    page.click("button[data-passkey=authenticate]")
    page.wait_for_url(f"{base}/")
    session = latest_session()
    assert session.amr[0] == "pwd" and session.amr[2] == "mfa" and session.acr == "2"


# --- the step-up with a passkey: a new email (R20) and the wallet password (R15) ------------------


def add_passkey(page, base: str, password: str) -> None:
    """A passkey of the virtual authenticator, added on the account centre's page."""
    page.goto(f"{base}/account/security")
    page.fill("#f-passkey-name", "Test laptop")
    page.fill("#f-passkey-password", password)
    page.click("button[data-passkey=register]")
    page.wait_for_selector("main p.success")


def codes_to(address: str) -> int:
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(recipient=address).count()


def test_r20_r19_a_passkey_confirms_a_new_email_in_chromium(
    base, alice, make, chromium_with_authenticator
):
    _, page = chromium_with_authenticator
    password_sign_in(page, base, "acme:alice", make.PASSWORD)
    add_passkey(page, base, make.PASSWORD)
    page.goto(f"{base}/account/profile")
    form = page.locator("main form:has(input[name=channel][value=email])")
    assert form.locator("input[name=code]").count() == 0  # a passkey, no recovery codes yet
    form.locator("input[name=email]").fill("alice.new@example.com")
    form.locator("button[data-passkey]").click()  # no password typed: the ceremony waits for it
    assert form.locator("input[name=password]").evaluate("e => e.validity.valueMissing")
    form.locator("input[name=password]").fill(make.PASSWORD)
    form.locator("button[data-passkey]").click()
    page.wait_for_selector("main p.notice[role=status]")  # the contact card says it, once
    assert "We sent a 6-digit code to alice.new@example.com" in page.inner_text("main p.notice")
    assert page.locator("main p.success").count() == 0
    assert codes_to("alice.new@example.com") == 1


def test_r15_r19_a_passkey_only_owner_sets_the_wallet_password_with_it_in_chromium(
    base, ctx, make, chromium_with_authenticator
):
    owner = make.company("acme")
    _, page = chromium_with_authenticator
    password_sign_in(page, base, "acme", make.PASSWORD)
    add_passkey(page, base, make.PASSWORD)
    page.goto(f"{base}/console/wallet")
    form = page.locator("main form:has(input[name=new_password])")

    def fill() -> None:
        for name, value in (
            ("new_password", "wallet secret 42"),
            ("confirm_password", "wallet secret 42"),
            ("current_password", make.PASSWORD),
        ):
            form.locator(f"input[name={name}]").fill(value)

    # Without the passkey (the form as sent without its script): refused, nothing set.
    fill()
    form.evaluate("f => f.submit()")
    page.wait_for_selector("main p.error")
    assert "or confirm with a passkey" in page.inner_text("main p.error")
    db.session.expire_all()
    assert db.session.get(Company, owner.company_id).wallet_password_hash is None

    fill()
    form.locator("button[data-passkey]").click()
    page.wait_for_selector("main p.success")
    assert "The wallet password was set." in page.inner_text("main p.success")
    db.session.expire_all()
    stored = db.session.get(Company, owner.company_id).wallet_password_hash
    assert passwords.verify_password(stored, "wallet secret 42")
