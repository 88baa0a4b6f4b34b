"""R22 in Chromium: the owner turns a kind of email off on the account page (security notices
shown on and locked), and a one-click link works in a browser that never signed in; both fit a
390 px phone without scrolling sideways."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import Account
from idp.services import subscriptions
from tests.factories import PASSWORD
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.browser"]  # browser: Chromium through Playwright

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def opt_outs(account: Account) -> set[str]:
    db.session.expire_all()
    return set(db.session.get(Account, account.id).email_opt_out)


def test_r22_owner_turns_a_kind_off_and_security_notices_stay_locked(browser, live_server, owner):  # noqa: F811
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login?next=/account/subscriptions")
        page.fill("input[name=login]", "acme")
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/account/subscriptions")
        locked = page.locator("fieldset[disabled] input[type=checkbox]")
        assert locked.count() >= 7 and all(b.is_checked() for b in locked.all())
        assert page.get_by_text("The wallet was locked after wrong passwords").is_visible()
        page.locator("input[name=kind][value=event_trade_dispute]").uncheck()
        with page.expect_navigation():  # wait_for_load_state could still see this page loaded
            page.click("form.card button[type=submit]")
        assert page.get_by_text("Your email subscriptions were saved.").is_visible()
        assert not page.locator("input[name=kind][value=event_trade_dispute]").is_checked()
        assert fits(page)
    finally:
        context.close()
    assert opt_outs(owner) == {"event_trade_dispute"}


def test_r22_one_click_link_in_a_browser_that_never_signed_in(browser, live_server, owner):  # noqa: F811
    token = subscriptions.unsubscribe_token(owner, group="disputes")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/unsubscribe/{token}")
        assert page.get_by_role("heading", name="Unsubscribe").is_visible()
        assert fits(page)
        assert opt_outs(owner) == set()
        with page.expect_navigation():
            page.click("main button[type=submit]")
        assert page.get_by_role("heading", name="You are unsubscribed").is_visible()
    finally:
        context.close()
    assert opt_outs(owner) == {
        "event_fraud_complaint",
        "event_trade_dispute",
        "event_infringement_complaint",
    }
