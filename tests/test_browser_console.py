"""Issue 15: the owner's staff and stores jobs walked end to end in Chromium, each result checked
through the services or a token's claims, not only the page: create a sub-account which then
signs in; batch-assign stores and the staff member's token lists them; de-authorize a default
store after a preview that matches what happens; disable, and the staff member's tokens are
inactive; hand an account over."""

from __future__ import annotations

import re

import pytest
import requests

from idp.extensions import db
from idp.models import Account
from idp.oauth import clients
from idp.services import accounts, stores
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)
from tests.test_browser_journeys import authorize_url, redeem, sign_in

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright


@pytest.fixture
def shop(ctx, make, live_server):  # noqa: F811
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg", name="Acme SG")
    my = make.store(owner, "shopee-my", name="Acme MY")
    lz = make.store(owner, "lazada-sg", name="Acme LZ")
    alice = make.staff(owner, "alice", stores_=[sg, my])
    bob = make.staff(owner, "bob", stores_=[my])
    client, secret = clients.create_client(
        "Seller center", redirect_uris=[f"{live_server}/rp/callback"]
    )
    return type(
        "Shop",
        (),
        {
            "owner": owner,
            "sg": sg,
            "my": my,
            "lz": lz,
            "alice": alice,
            "bob": bob,
            "app": (client, secret),
            "base": live_server,
        },
    )


def owner_page(browser, shop):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{shop.base}/login")
    sign_in(page, "acme", PASSWORD)
    page.wait_for_url(f"{shop.base}/")
    return page


def tokens_of(browser, shop, login: str, password: str = PASSWORD) -> dict:
    """An app's tokens for ``login``, through a sign-in in a browser of its own."""
    context = browser.new_context()
    page = context.new_page()
    try:
        client, secret = shop.app
        pkce = flow.pkce()
        page.goto(authorize_url(shop.base, client, pkce))
        sign_in(page, login, password)
        page.wait_for_url(f"{shop.base}/rp/callback*")
        return redeem(shop.base, client, secret, page.url, pkce[0])
    finally:
        context.close()


def claims(tokens: dict) -> dict:
    return flow.jwt_payload(tokens["access_token"])


def introspected(shop, token: str) -> dict:
    client, secret = shop.app
    return requests.post(
        f"{shop.base}/oauth/introspect",
        auth=(client.client_id, secret),
        data={"token": token},
        timeout=10,
    ).json()


def confirm_dialogs(page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_create_a_sub_account_which_then_signs_in(browser, shop):
    page = owner_page(browser, shop)
    page.goto(f"{shop.base}/console/staff")
    page.click("text=New sub-account")
    page.fill("input[name=name]", "carol")
    page.fill("input[name=email]", "carol@acme.test")
    page.check(f"input[name=stores][value={shop.lz.public_id}]")
    page.check(f"input[name=stores][value={shop.sg.public_id}]")
    page.select_option("select[name=default_store]", shop.sg.public_id)
    page.fill("input[name=password]", "carol's first password")
    with page.expect_navigation():
        page.click("main button:has-text('Create sub-account')")
    assert "acme:carol was created" in page.inner_text("[role=status]")
    carol = accounts.get_sub_account(shop.owner, "carol")
    assert carol.default_store_id == shop.sg.id
    accounts.mark_verified(carol, "email")  # else the first sign-in asks to verify (R14)
    db.session.commit()

    staff = browser.new_context().new_page()
    staff.goto(f"{shop.base}/login")
    sign_in(staff, "acme:carol", "carol's first password")
    assert "/account/password" in staff.url  # the owner's password is replaced first
    staff.fill("input[name=current_password]", "carol's first password")
    staff.fill("input[name=new_password]", "carol chose this one")
    with staff.expect_navigation():
        staff.click("main button[type=submit]")
    assert "Your password was changed" in staff.inner_text("main")
    assert claims(tokens_of(browser, shop, "acme:carol", "carol chose this one"))["store"] == (
        shop.sg.public_id
    )


def test_batch_assign_stores_and_the_token_lists_them(browser, shop):
    page = owner_page(browser, shop)
    page.goto(f"{shop.base}/console/staff")
    page.check(f"input[name=accounts][value={shop.alice.public_id}]")
    page.check(f"input[name=accounts][value={shop.bob.public_id}]")
    page.click("text=Assign stores to the selected staff")
    page.check(f"details input[name=stores][value={shop.lz.public_id}]")
    page.check("input[name=mode][value=add]")
    with page.expect_navigation():
        page.click("button:has-text('Apply to the selected staff')")
    assert "now hold Acme LZ" in page.inner_text("[role=status]")
    assert shop.lz.public_id in claims(tokens_of(browser, shop, "acme:bob"))["stores"]


def test_deauthorize_a_default_store_and_the_preview_matches(browser, shop):
    stores.set_default_store(shop.owner, shop.alice, shop.my)
    page = owner_page(browser, shop)
    page.goto(f"{shop.base}/console/stores")
    row = page.locator("tr", has_text="Acme MY")
    with page.expect_navigation():
        row.locator("text=De-authorize").click()
    preview = {
        cells[0]: cells[1:]
        for cells in (
            [c.strip() for c in r.inner_text().split("\t")]
            for r in page.locator("table.preview tbody tr").all()
        )
    }
    assert preview["acme:alice"][:2] == ["Acme MY", "Acme SG"]
    assert "disabled" in preview["acme:bob"][2]
    with page.expect_navigation():
        page.click("main button.danger")
    assert "taken from 2 staff, 1 disabled" in page.inner_text("[role=status]")
    db.session.expire_all()
    assert db.session.get(Account, shop.alice.id).default_store_id == shop.sg.id
    assert not db.session.get(Account, shop.bob.id).is_active


def test_disable_and_the_staff_members_tokens_are_inactive(browser, shop):
    tokens = tokens_of(browser, shop, "acme:alice")
    assert introspected(shop, tokens["access_token"])["active"] is True
    page = owner_page(browser, shop)
    confirm_dialogs(page)
    page.goto(f"{shop.base}/console/staff/{shop.alice.public_id}")
    with page.expect_navigation():
        page.click("main button:has-text('Disable')")
    assert "its tokens stopped working" in page.inner_text("[role=status]")
    assert introspected(shop, tokens["access_token"]) == {"active": False}


def test_hand_over_a_departed_account(browser, shop):
    old = tokens_of(browser, shop, "acme:bob")
    accounts.disable_sub_account(shop.owner, shop.bob)
    page = owner_page(browser, shop)
    confirm_dialogs(page)
    page.goto(f"{shop.base}/console/staff?status=departed")
    with page.expect_navigation():
        page.click("text=acme:bob")
    with page.expect_navigation():
        page.click("text=Hand over to another person")
    page.fill("input[name=name]", "erin")
    page.fill("input[name=email]", "erin@acme.test")
    page.fill("input[name=password]", "erin's first password")
    with page.expect_navigation():
        page.click("main button:has-text('Hand over')")
    assert "handed over" in page.inner_text("[role=status]")
    assert re.search(r"acme:erin", page.inner_text("h1"))
    client, secret = shop.app
    refreshed = requests.post(
        f"{shop.base}/oauth/token",
        auth=(client.client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 400  # the previous holder's tokens are over
    erin = accounts.get_sub_account(shop.owner, "erin")
    assert erin.is_active and erin.must_change_password


def test_issue16_an_api_client_made_in_the_browser_works_and_stops_when_revoked(browser, shop):
    """The secret read off the page gets a token at once; revoked (after the confirmation),
    the client is refused and its token is inactive to the resource server it is for."""
    page = owner_page(browser, shop)
    confirm_dialogs(page)
    page.goto(f"{shop.base}/console/staff")
    page.click("nav.console-nav >> text=API clients")
    page.fill("input[name=name]", "ERP sync")
    with page.expect_navigation():
        page.click("main button:has-text('Create the API client')")
    client_id, secret = page.inner_text("#client-id"), page.inner_text("#client-secret")
    assert page.is_visible("button:has-text('Copy the secret')")

    def get_token():
        return requests.post(
            f"{shop.base}/oauth/token",
            auth=(client_id, secret),
            data={"grant_type": "client_credentials"},
            timeout=10,
        )

    got = get_token()
    assert got.status_code == 200 and got.json()["scope"] == "company:admin"
    resource_server, rs_secret = clients.create_client(
        "Admin API", grant_types=["client_credentials"], resource_server_for=[client_id]
    )
    shop.app = (resource_server, rs_secret)
    assert introspected(shop, got.json()["access_token"])["active"] is True

    with page.expect_navigation():
        page.click("text=Done")
    with page.expect_navigation():
        page.locator(f"form[action$='/{client_id}/revoke'] button").click()
    assert "ERP sync is revoked" in page.inner_text("[role=status]")
    assert get_token().json()["error"] == "invalid_client"
    assert introspected(shop, got.json()["access_token"]) == {"active": False}


def test_the_console_header_is_compact_on_a_phone(browser, shop):
    """At 390 px the top bar and the console's sections took about 300 px (3 rows and 4 rows of
    pills) before any content: now the page's heading starts within 200 px, the sections are
    one row that scrolls inside itself with the current one in sight, and nothing scrolls the
    page sideways."""
    page = owner_page(browser, shop)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/console/staff", "/console/api-clients"):
        page.goto(f"{shop.base}{path}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.locator("main h1").bounding_box()["y"] < 200
        pills = {
            round(box["y"])
            for box in map(lambda a: a.bounding_box(), page.locator("nav.console-nav a").all())
        }
        assert len(pills) == 1  # one row
        current = page.locator("nav.console-nav a[aria-current=page]").bounding_box()
        assert current["x"] >= 0 and current["x"] + current["width"] <= 390
        search = page.locator("input[type=search]")
        if search.count():  # its hint is read in full
            assert search.bounding_box()["width"] > 300  # the whole row


def test_issue16_the_api_client_status_keeps_one_line(browser, shop):
    page = owner_page(browser, shop)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{shop.base}/console/api-clients")
    page.fill("input[name=name]", "HR sync")
    page.select_option("select[name=kind]", "scim")
    page.click("main button:has-text('Create the API client')")
    page.goto(f"{shop.base}/console/api-clients")
    badge = page.locator("td .badge:has-text('In use')").bounding_box()
    line = page.locator("td .badge:has-text('SCIM')").bounding_box()
    assert badge["height"] <= line["height"] + 1  # one line, not two
