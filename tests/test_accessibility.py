"""Issue 15: an accessibility check on every page. axe-core (vendored, ``tests/vendor``) runs in
Chromium on each page of the product (the pages of ``test_browser_languages``: signed out, as
staff and as the owner, the console's every section included), in English and Chinese; no
serious or critical violation may be found."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)
from tests.test_browser_languages import PAGES, sign_in, world  # noqa: F401

pytest_plugins = ["tests.browser"]  # browser: Chromium through Playwright

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
SERIOUS = ("serious", "critical")


def violations(page) -> list[dict]:
    page.evaluate(AXE)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))
            }));
        }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


@pytest.mark.parametrize("language", ["en-US", "zh-CN"])
@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violation(browser, world, live_app, name, language):  # noqa: F811
    world.kv = live_app.extensions["idp.kv"]
    login, step = PAGES[name]
    context = browser.new_context(locale=language, bypass_csp=True)  # to inject axe-core
    page = context.new_page()
    try:
        if login:
            sign_in(page, world.base, login)
        step(page, world)
        page.wait_for_load_state()
        found = violations(page)
    finally:
        context.close()
    assert found == [], f"{name} ({language}): {found}"
