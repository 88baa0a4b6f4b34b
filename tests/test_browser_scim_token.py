"""Issue 19, item 5, in Chromium: the owner makes a SCIM client on the console's API clients
page, in English and in Chinese, and sees the SCIM endpoint URL and the SCIM token to paste into
Entra ID or Okta; the token works over real HTTP at once, and the list never shows it again."""

from __future__ import annotations

import pytest
import requests

from tests.factories import PASSWORD
from tests.languages import has_chinese
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)
from tests.test_browser_journeys import sign_in

pytest_plugins = ["tests.browser"]  # browser: Chromium through Playwright


@pytest.fixture
def base(ctx, make, live_server) -> str:  # noqa: F811
    make.store(make.company("acme"), "shopee-sg", name="Acme SG")
    return live_server


@pytest.mark.parametrize(
    ("locale", "lang", "name"), [("en-US", "en", "Entra ID"), ("zh-CN", "zh-Hans", "Okta")]
)
def test_issue19_item5_owner_creates_a_scim_client_and_sees_url_and_token(
    browser, base, locale, lang, name
):
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        sign_in(page, "acme", PASSWORD)
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/console/api-clients")
        page.fill("input[name=name]", name)
        page.select_option("select[name=kind]", "scim")
        with page.expect_navigation():  # wait_for_load_state could still see this page loaded
            page.locator("main form button[type=submit]").first.click()

        assert page.locator("html").get_attribute("lang") == lang
        heading = page.locator("main h1").inner_text()
        assert name in heading and has_chinese(heading) == (lang == "zh-Hans")
        assert page.locator("#scim-endpoint").inner_text().strip() == f"{base}/scim/v2"
        token = page.locator("#scim-token").inner_text().strip()
        assert token.startswith("scim_")
        assert page.locator("button[data-copy=scim-token]").is_visible()  # the copy button
        users = requests.get(
            f"{base}/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert users.status_code == 200, users.text

        page.goto(f"{base}/console/api-clients")
        assert name in page.content() and token not in page.content()  # shown once
    finally:
        context.close()
