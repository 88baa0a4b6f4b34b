"""R25 (issue 18): the owner edits the notification routing table in Chromium, at 1440 and 390
pixels wide, and an event then reaches exactly the people chosen there."""

from __future__ import annotations

import pytest
import requests

from idp.extensions import db
from idp.models import AuditEvent, OutboxMessage
from idp.oauth import clients
from idp.oauth.config import EVENTS_SCOPE
from idp.services import groups, routing
from tests.factories import PASSWORD
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)
from tests.test_browser_journeys import sign_in

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright


@pytest.fixture
def shop(ctx, make, live_server):  # noqa: F811
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg", name="Acme SG")
    alice = make.staff(owner, "alice", stores_=[sg], email="alice@acme.test")
    bob = make.staff(owner, "bob", stores_=[sg], email="bob@acme.test")
    carol = make.staff(owner, "carol", stores_=[sg], email="carol@acme.test")
    group = groups.create_group(owner, sg, "After-sale")
    groups.add_member(owner, group, bob)
    return type(
        "Shop",
        (),
        {"owner": owner, "sg": sg, "alice": alice, "bob": bob, "carol": carol, "group": group},
    )


def card(page, kind: str):
    return page.locator(f"#kind-{kind}")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_r25_the_owner_edits_the_routing_table_in_the_browser(page, shop, live_server):  # noqa: F811
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server}/login")
    sign_in(page, "acme", PASSWORD)
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/console/")
    page.get_by_role("link", name="Notifications").click()
    page.wait_for_url(f"{live_server}/console/notifications")
    assert page.locator(".console-nav a[aria-current=page]").inner_text() == "Notifications"
    assert fits(page)

    # Named accounts for trade disputes: alice and carol.
    disputes = card(page, "trade_dispute")
    disputes.get_by_label("Named accounts").check()
    for who in (shop.alice, shop.carol):  # checkboxes: no Ctrl or ⌘ needed, touch works
        disputes.locator(f"input[name=accounts][value='{who.public_id}']").check()
    assert "Ctrl" not in page.inner_text("main")
    assert disputes.locator("fieldset legend").first.inner_text() == "Send to"
    with page.expect_navigation():  # back to this same address: wait_for_url alone returns at once
        disputes.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server}/console/notifications")
    assert "Saved: who is emailed for Trade dispute." in page.locator(".success").inner_text()

    # A staff group for fraud complaints, at phone width.
    page.set_viewport_size({"width": 390, "height": 844})
    fraud = card(page, "fraud_complaint")
    fraud.get_by_label("A staff group").check()
    fraud.locator("select[name=group]").select_option(str(shop.group.id))
    with page.expect_navigation():
        fraud.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server}/console/notifications")
    assert fits(page)

    # A mistake is shown on its own card, and nothing is saved.
    rfq = card(page, "rfq_matched")
    rfq.get_by_label("Named accounts").check()
    with page.expect_navigation():
        rfq.get_by_role("button", name="Save").click()
    assert (
        "Name at least one account"
        in card(page, "rfq_matched").locator("[role=alert]").inner_text()
    )
    # the page comes back at its top: a summary there says what failed and links to the card
    summary = page.locator("main > p.error[role=alert]")
    assert summary.is_visible() and summary.bounding_box()["y"] < 844
    assert "Matched to a buyer request (RFQ) was not saved" in summary.inner_text()
    summary.get_by_role("link").click()
    page.wait_for_url("**#kind-rfq_matched")
    assert page.evaluate(
        "document.getElementById('kind-rfq_matched').getBoundingClientRect().top < 844"
    )
    assert fits(page)

    db.session.expire_all()
    table = {route.kind: route for route in routing.table(shop.owner)}
    assert [a.login_name for a in table["trade_dispute"].accounts] == ["acme:alice", "acme:carol"]
    assert table["fraud_complaint"].group.id == shop.group.id
    assert table["rfq_matched"].is_default
    changes = db.session.query(AuditEvent).filter_by(action="notifications.route_changed").all()
    assert sorted(e.details["kind"] for e in changes) == ["fraud_complaint", "trade_dispute"]

    # An event now reaches the people chosen on the page.
    app, secret = clients.create_client(
        "Seller center", grant_types=["client_credentials"], scope=EVENTS_SCOPE
    )
    token = requests.post(
        f"{live_server}/oauth/token",
        auth=(app.client_id, secret),
        data={"grant_type": "client_credentials", "scope": EVENTS_SCOPE},
        timeout=10,
    ).json()["access_token"]
    for n, kind in enumerate(("trade_dispute", "fraud_complaint")):
        answer = requests.post(
            f"{live_server}/api/events",
            json={"id": f"e{n}", "store": shop.sg.public_id, "kind": kind},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
    db.session.expire_all()
    recipients = sorted(m.recipient for m in db.session.query(OutboxMessage).all())
    assert recipients == ["alice@acme.test", "bob@acme.test", "carol@acme.test"]
