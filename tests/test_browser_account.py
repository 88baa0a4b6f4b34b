"""The account centre in a real browser (issue 17): "sign out all other sessions" in one browser
ends another browser's session and makes the refresh token its app holds invalid."""

from __future__ import annotations

import requests

from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)
from tests.test_browser_console import confirm_dialogs, shop  # noqa: F401  (fixture)
from tests.test_browser_journeys import authorize_url, redeem, sign_in

pytest_plugins = ["tests.browser"]  # browser: Chromium through Playwright


def test_sign_out_all_other_sessions_ends_another_browsers_session_and_refresh_token(
    browser,
    shop,  # noqa: F811
):
    client, secret = shop.app
    # Another browser (a phone, say): alice signs in to an app, which keeps a refresh token.
    phone = browser.new_context().new_page()
    pkce = flow.pkce()
    phone.goto(authorize_url(shop.base, client, pkce))
    sign_in(phone, "acme:alice", PASSWORD)
    phone.wait_for_url(f"{shop.base}/rp/callback*")
    tokens = redeem(shop.base, client, secret, phone.url, pkce[0])

    # Her laptop: the sessions page shows both; she signs out the other.
    laptop = browser.new_context().new_page()
    laptop.goto(f"{shop.base}/account/sessions")
    sign_in(laptop, "acme:alice", PASSWORD)
    laptop.wait_for_url(f"{shop.base}/account/sessions")
    assert laptop.locator("main tbody tr").count() == 2
    assert laptop.locator("main tbody tr", has_text="this device").count() == 1
    confirm_dialogs(laptop)
    with laptop.expect_navigation():
        laptop.click("main button:has-text('Sign out all other sessions')")
    assert "1 other session was signed out" in laptop.inner_text("[role=status]")
    assert laptop.locator("main tbody tr").count() == 1

    # The phone's next page asks it to sign in; the app's refresh token is refused.
    phone.goto(f"{shop.base}/account")
    assert "/login" in phone.url
    refreshed = requests.post(
        f"{shop.base}/oauth/token",
        auth=(client.client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # The laptop stays signed in.
    laptop.goto(f"{shop.base}/account")
    assert laptop.url == f"{shop.base}/account"
