"""The sign-in pages in a real browser (Chromium driven by Playwright) against the provider
served over HTTP: what a person sees and clicks, from an app's sign-in link to the code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from idp.demo import load_demo
from idp.oauth import clients
from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright


@pytest.fixture
def demo_rp(ctx, live_server):  # noqa: F811
    list(load_demo())
    client, _ = clients.create_client(
        "Shopee SG center", redirect_uris=[f"{live_server}/rp/callback"]
    )
    return client


def _authorize_url(base: str, client, **extra) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": f"{base}/rp/callback",
        "scope": "openid profile",
        "state": "s-123",
        "nonce": "n-1",
        **extra,
    }
    return f"{base}/oauth/authorize?{urlencode(params)}"


def test_r1_r26_sign_in_in_a_browser_then_second_app_needs_no_password(page, live_server, demo_rp):  # noqa: F811
    page.goto(_authorize_url(live_server, demo_rp))
    assert page.title() == "Sign in"
    page.fill("input[name=login]", "ACME：Alice")  # full-width colon, other case (R1)
    page.fill("input[name=password]", "alice-staff-pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/rp/callback*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == ["s-123"] and query["code"]
    cookie = next(c for c in page.context.cookies() if c["name"] == "idp_sso")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # the same browser, another request: no password asked (one session)
    page.goto(_authorize_url(live_server, demo_rp, state="s-2"))
    page.wait_for_url(f"{live_server}/rp/callback*")
    assert parse_qs(urlsplit(page.url).query)["state"] == ["s-2"]


def test_wrong_password_shows_a_message_and_keeps_the_login_name(page, live_server, demo_rp):  # noqa: F811
    page.goto(_authorize_url(live_server, demo_rp, ui_locales="zh-CN"))
    assert page.title() == "登录"
    page.fill("input[name=login]", "acme:alice")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    # the reason in the page's language (issue 13: it was English on the Chinese page)
    assert page.locator("[role=alert]:visible").inner_text() == "登录名或密码错误"
    assert page.input_value("input[name=login]") == "acme:alice"
    assert "/rp/callback" not in page.url


def test_r27_store_switcher_page(page, live_server, demo_rp):  # noqa: F811
    page.goto(_authorize_url(live_server, demo_rp))
    page.fill("input[name=login]", "acme:alice")
    page.fill("input[name=password]", "alice-staff-pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/rp/callback*")
    page.goto(f"{live_server}/stores")
    assert "Working in Acme Official SG" in page.inner_text("body")
    with page.expect_navigation():
        page.click("button:has-text('Acme Official MY')")
    assert "Working in Acme Official MY" in page.inner_text("body")
