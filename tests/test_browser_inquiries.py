"""Issue 18 ("Done when"): the owner sets R24's allocation rules in Chromium, at 1440 px and at
390 px wide, and the result is checked through the allocation API, not only the page: the store
allocates to its pre-sale group, bob (weight 3) gets three inquiries for each of alice's, and
carol, switched off, gets none."""

from __future__ import annotations

from collections import Counter

import pytest

from idp import kv
from idp.extensions import db
from idp.models import Account, Store
from idp.services import groups
from tests.factories import PASSWORD
from tests.inquiry_helpers import platform
from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)
from tests.test_browser_journeys import sign_in

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright


@pytest.mark.parametrize("width", [1440, 390])
def test_r24_owner_sets_allocation_rules_in_the_browser(ctx, browser, live_server, live_app, width):  # noqa: F811
    # one shared store for the live server and the test's own requests, as Redis would be
    live_app.extensions[kv.EXTENSION] = ctx.extensions[kv.EXTENSION]
    world = platform(ctx, names=("alice", "bob", "carol"))
    # the store starts with allocation off and no target group
    from idp.services import inquiries

    inquiries.set_store_rules(world.owner, world.store, enabled=False, group_id=None)
    night = groups.create_group(world.owner, world.store, "Night shift")
    assert night.id != world.group.id

    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        sign_in(page, "acme", PASSWORD)
        page.wait_for_url(f"{live_server}/")
        page.goto(f"{live_server}/console/staff")
        with page.expect_navigation():
            page.click("nav.console-nav a:has-text('Inquiries')")
        with page.expect_navigation():
            page.click(f"a[href$='/console/inquiries/{world.store.public_id}']")
        assert page.locator("h1").inner_text().startswith("Inquiries of")
        page.check("input[name=allocation]")
        page.select_option("select[name=group]", label="Pre-sale")
        with page.expect_navigation():
            page.click("button:has-text('Save rules')")
        assert "were saved" in page.inner_text("[role=status]")
        bob = world.staff["bob"].public_id
        page.fill(f"input[form='m-{bob}'][name=weight]", "3")
        with page.expect_navigation():
            page.click(f"#m-{bob} button")
        assert "acme:bob were saved" in page.inner_text("[role=status]")
        carol = world.staff["carol"].public_id
        page.uncheck(f"input[form='m-{carol}'][name=receives]")
        with page.expect_navigation():
            page.click(f"#m-{carol} button")
        assert "acme:carol were saved" in page.inner_text("[role=status]")
        # the page fits the screen: no sideways scrolling of the page itself
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, overflow
    finally:
        context.close()

    db.session.expire_all()
    store = db.session.get(Store, world.store.id)
    assert store.inquiry_allocation and store.inquiry_group_id == world.group.id
    assert db.session.get(Account, world.staff["bob"].id).inquiry_weight == 3
    assert db.session.get(Account, world.staff["carol"].id).receives_inquiries is False
    counts = Counter(world.who(f"b-{width}-{n}") for n in range(8))
    assert counts == {"acme:alice": 2, "acme:bob": 6}
    # the day's counts are on the page the owner sees
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        sign_in(page, "acme", PASSWORD)
        page.wait_for_url(f"{live_server}/")
        page.goto(f"{live_server}/console/inquiries/{world.store.public_id}")
        table = page.locator("section:has(h2:has-text('per day')) tbody tr").first.inner_text()
        assert [cell for cell in table.split() if cell.isdigit()][-4:] == ["2", "6", "0", "8"]
        # and who is receiving now: alice and bob online and eligible, carol switched off
        badges = page.locator("section:has(h2:has-text('Staff of the store')) tbody tr .badge")
        assert badges.all_inner_texts() == ["receiving", "receiving", "online"]
    finally:
        context.close()
