"""The owner console's roles and staff groups (issue 15): custom roles picked by area, never with
a main-only capability (R6), at most 30 of them; staff groups per store whose members hold that
store (R23). Forms through the test client, then the whole journey in a real browser: the role
and the group an owner makes there reach the staff member's tokens."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest
import requests

from idp.extensions import db
from idp.models import Role, StaffGroup
from idp.oauth import clients
from idp.services import accounts, groups, roles, stores
from idp.services.audit import events_for
from idp.services.permissions import MAIN_ONLY, MAX_CUSTOM_ROLES, PERMISSIONS
from idp.web.console import permission_labels
from tests import oidc_flow as flow
from tests.live import HttpBrowser, _live_provider, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def post(web, action: str, data: dict, page: str = "/console/roles"):
    """Submit a console form: the CSRF token from a page of the session, then the fields."""
    token = flow.form_fields(web.get(page).get_data(as_text=True))["csrf_token"]
    return web.post(action, data={"csrf_token": token, **data})


def alert(response) -> str:
    found = re.search(r'role="alert">(.*?)</p>', text_of(response), re.S)
    return found.group(1) if found else ""


def flashed(web, response) -> str:
    """The confirmation shown on the page a successful form leads to."""
    assert response.status_code == 302, (response.status_code, alert(response))
    page = text_of(web.get(flow.location(response)))
    return re.search(r'class="success" role="status">(.*?)</p>', page, re.S).group(1)


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg", name="Acme SG")
    my = make.store(owner, "shopee-my", name="Acme MY")
    make.staff(owner, "alice", stores_=[sg])
    make.staff(owner, "bob", stores_=[my])
    return owner


@pytest.fixture
def console(web, acme, make):
    """The owner's browser, signed in."""
    assert flow.sign_in(web, "acme", make.PASSWORD).status_code == 302
    return web


def fresh_role(owner, name: str) -> Role:
    db.session.expire_all()
    return roles.get_role(owner, name)


def store(owner, name: str):
    return next(s for s in stores.list_stores(owner) if s.name == name)


# --- roles --------------------------------------------------------------------------------------


def test_zh_pages_name_builtin_roles_and_marketplaces_in_chinese_tokens_keep_them(
    ctx, console, acme, make
):
    """Built-in role names and marketplace names are the system's own words: a Chinese page
    shows them in Chinese. What the owner typed (a custom role, a built-in role renamed, store
    names) stays as typed, and tokens carry the stored English role names and the marketplace
    codes whatever the page's language."""
    make.store(acme, "taobao-cn", name="Acme 淘宝旗舰店")
    alice = accounts.get_sub_account(acme, "alice")
    night = roles.create_role(acme, "Night shift", ["orders:view"])
    marketing = roles.get_role(acme, "Marketing")
    roles.update_role(acme, marketing, name="Promo team")
    accounts.update_sub_account(
        acme, alice, roles=[roles.get_role(acme, "Customer Service").id, night.id]
    )
    db.session.commit()
    zh = {"Accept-Language": "zh-CN"}

    row = text_of(console.get("/console/staff", headers=zh)).split("acme:alice", 1)[1]
    row = row.split("</tr>", 1)[0]
    assert "客服" in row and "Night shift" in row and "Customer Service" not in row
    listed = text_of(console.get("/console/roles", headers=zh))
    assert "销售助理" in listed and "Sales Assistant" not in listed
    assert "Promo team" in listed and "Night shift" in listed  # as typed
    home = text_of(console.get("/", headers=zh))
    assert "Shopee 新加坡" in home and "淘宝" in home and "Acme 淘宝旗舰店" in home
    assert "Shopee Singapore" not in home and "Taobao" not in home
    stores_page = text_of(console.get("/console/stores", headers=zh))
    assert "Shopee 马来西亚" in stores_page and "Shopee Malaysia" not in stores_page
    english = text_of(console.get("/console/staff", headers={"Accept-Language": "en"}))
    assert "Customer Service" in english

    rp = flow.register("Seller center")
    claims = flow.jwt_payload(
        flow.token_set(
            flow.browser(ctx), rp, login="acme:alice", password=make.PASSWORD, ui_locales="zh-CN"
        )["access_token"]
    )
    assert sorted(claims["roles"]) == ["Customer Service", "Night shift"]
    assert claims["marketplace"] == "shopee-sg"


def test_roles_page_lists_builtin_and_custom_roles_with_permissions_and_holders(
    console, acme, make
):
    night = roles.create_role(acme, "Night shift", ["orders:ship", "chat:read"])
    accounts.update_sub_account(acme, accounts.get_sub_account(acme, "alice"), roles=[night.id])
    page = text_of(console.get("/console/roles"))
    for name in ("Customer Service", "Operations", "Marketing", "Design", "Finance"):
        assert name in page
    assert "Night shift" in page and "1 of 30 custom roles used." in page
    assert "Ship orders and use logistics tools" in page  # labels, by area
    assert "Orders and after-sales" in page
    holders = f'href="/console/staff?role={night.id}&status=all">1</a>'
    assert holders in page
    service = fresh_role(acme, "Customer Service")
    assert f'href="/console/staff?role={service.id}&status=all">0</a>' in page


def test_r6_the_permission_picker_offers_every_permission_by_area_and_no_main_only_one(console):
    page = text_of(console.get("/console/roles/new"))
    offered = set(re.findall(r'name="permissions" value="([^"]+)"', page))
    assert offered == set(PERMISSIONS)
    assert not offered & set(MAIN_ONLY)
    for legend in ("Products and prices", "Orders and after-sales", "Finance and reports"):
        assert f"<legend>{legend}</legend>" in page
    assert "Set or change the wallet password" in page  # said to stay with the owner


def test_every_permission_has_a_label_and_an_area():
    assert set(permission_labels.LABELS) == set(PERMISSIONS)
    assert set(permission_labels.MAIN_ONLY_LABELS) == set(MAIN_ONLY)
    assert all(permission_labels.area_of(p) != permission_labels.OTHER for p in PERMISSIONS)


def test_owner_creates_edits_and_deletes_a_custom_role(console, acme):
    created = post(
        console,
        "/console/roles/new",
        {"name": "Night shift", "permissions": ["orders:view", "orders:ship", "chat:read"]},
    )
    assert flashed(console, created) == "Night shift was created with 3 permissions."
    night = fresh_role(acme, "Night shift")
    assert night.permissions == ["chat:read", "orders:ship", "orders:view"]
    assert not night.is_builtin

    form = text_of(console.get(f"/console/roles/{night.id}"))
    assert 'value="Night shift"' in form
    assert re.search(r'value="orders:ship" checked', form)
    edited = post(
        console,
        f"/console/roles/{night.id}",
        {"name": "Evening shift", "description": "18:00 to 02:00", "permissions": ["orders:view"]},
    )
    assert (
        flashed(console, edited) == "Night shift is now called Evening shift and has 1 permission."
    )
    evening = fresh_role(acme, "Evening shift")
    assert (evening.permissions, evening.description) == (["orders:view"], "18:00 to 02:00")

    deleted = post(console, f"/console/roles/{night.id}/delete", {})
    assert flashed(console, deleted) == "The role Evening shift was deleted."
    assert "Evening shift" not in {r.name for r in roles.list_roles(acme)}


def test_built_in_roles_can_be_changed_like_custom_ones(console, acme):
    design = fresh_role(acme, "Design")
    saved = post(
        console,
        f"/console/roles/{design.id}",
        {"name": "Design", "permissions": ["decoration:edit"]},
    )
    assert flashed(console, saved) == "Design was saved with 1 permission."
    assert fresh_role(acme, "Design").permissions == ["decoration:edit"]
    assert fresh_role(acme, "Design").is_builtin


def test_a_held_role_is_not_deleted_and_the_page_says_why(console, acme):
    night = roles.create_role(acme, "Night shift", ["chat:read"])
    accounts.update_sub_account(acme, accounts.get_sub_account(acme, "alice"), roles=[night.id])
    refused = post(console, f"/console/roles/{night.id}/delete", {})
    assert refused.status_code == 409
    assert "held by 1 account; change theirs first" in alert(refused)
    assert fresh_role(acme, "Night shift").permissions == ["chat:read"]


REFUSED_ROLES = {
    "unknown permission": (
        {"name": "Loud", "permissions": ["chat:read", "chat:shout"]},
        400,
        "Unknown permission 'chat:shout'",
    ),
    "r6 main-only permission": (
        {"name": "Cashier", "permissions": ["finance:view", "wallet:manage"]},
        403,
        "'wallet:manage' belongs to the main account alone",
    ),
    "duplicate name": (
        {"name": "customer service", "permissions": ["chat:read"]},
        409,
        "A role named 'customer service' exists already",
    ),
    "empty name": ({"name": "  ", "permissions": ["chat:read"]}, 400, "1 to 60 characters"),
}


@pytest.mark.parametrize("case", REFUSED_ROLES)
def test_r6_refused_roles_keep_what_was_typed_and_say_why(console, acme, case):
    typed, status, reason = REFUSED_ROLES[case]
    before = len(roles.list_roles(acme))
    refused = post(console, "/console/roles/new", {**typed, "description": "Typed by hand"})
    assert refused.status_code == status
    assert reason in alert(refused)
    page = text_of(refused)
    assert f'value="{typed["name"]}"' in page and 'value="Typed by hand"' in page
    known = [p for p in typed["permissions"] if p in PERMISSIONS]
    assert all(re.search(rf'value="{p}" checked', page) for p in known)
    assert len(roles.list_roles(acme)) == before


def test_r6_a_main_only_permission_smuggled_into_an_edit_changes_nothing(console, acme):
    night = roles.create_role(acme, "Night shift", ["chat:read"])
    refused = post(
        console,
        f"/console/roles/{night.id}",
        {"name": "Night boss", "permissions": ["chat:read", "subaccounts:manage"]},
    )
    assert refused.status_code == 403
    assert "belongs to the main account alone" in alert(refused)
    assert 'value="Night boss"' in text_of(refused)
    night = fresh_role(acme, "Night shift")
    assert (night.name, night.permissions) == ("Night shift", ["chat:read"])


def test_a_31st_custom_role_is_refused(console, acme):
    for i in range(MAX_CUSTOM_ROLES):
        roles.create_role(acme, f"Role {i}", ["chat:read"])
    page = text_of(console.get("/console/roles"))
    assert "30 of 30 custom roles used." in page and 'href="/console/roles/new"' not in page
    refused = post(console, "/console/roles/new", {"name": "One more", "permissions": "chat:send"})
    assert refused.status_code == 409
    assert "at most 30 custom roles" in alert(refused)
    assert 'value="One more"' in text_of(refused)
    assert len([r for r in roles.list_roles(acme) if not r.is_builtin]) == MAX_CUSTOM_ROLES


# --- groups (R23) ------------------------------------------------------------------------------


def group_named(owner, name: str) -> StaffGroup:
    db.session.expire_all()
    return next(g for g in groups.list_groups(owner) if g.name == name)


def test_r23_groups_page_says_when_no_store_is_authorized(web, make):
    make.company("emptyco")
    flow.sign_in(web, "emptyco", make.PASSWORD)
    page = text_of(web.get("/console/groups"))
    assert "No store is authorized yet" in page and 'href="/console/stores"' in page
    assert 'name="store"' not in page


def test_r23_owner_creates_a_group_adds_and_removes_a_member_and_deletes_it(console, acme):
    sg = store(acme, "Acme SG")
    created = post(console, "/console/groups", {"store": sg.public_id, "name": "Pre-sale"})
    assert (
        flashed(console, created)
        == "The group Pre-sale was created in Acme SG. Add its members now."
    )
    presale = group_named(acme, "Pre-sale")
    assert flow.location(created) == f"/console/groups/{presale.id}"

    page = text_of(console.get(f"/console/groups/{presale.id}"))
    assert re.findall(r'<option value="([^"]+)"', page) == [
        accounts.get_sub_account(acme, "alice").public_id  # bob holds another store only
    ]
    alice = accounts.get_sub_account(acme, "alice")
    added = post(console, f"/console/groups/{presale.id}/members", {"account": alice.public_id})
    assert flashed(console, added) == "acme:alice joined Pre-sale in Acme SG."
    assert [g.name for g in groups.groups_of(alice)] == ["Pre-sale"]
    listing = text_of(console.get("/console/groups"))
    assert "Acme SG" in listing and "Acme MY" in listing and "1 member" in listing

    removed = post(console, f"/console/groups/{presale.id}/members/{alice.public_id}/remove", {})
    assert flashed(console, removed) == "acme:alice is no longer in Pre-sale."
    assert groups.groups_of(alice) == []

    deleted = post(console, f"/console/groups/{presale.id}/delete", {})
    assert flashed(console, deleted) == "The group Pre-sale of Acme SG was deleted."
    assert groups.list_groups(acme) == []


def test_r23_a_member_must_hold_the_groups_store(console, acme):
    presale = groups.create_group(acme, store(acme, "Acme SG"), "Pre-sale")
    bob = accounts.get_sub_account(acme, "bob")
    refused = post(console, f"/console/groups/{presale.id}/members", {"account": bob.public_id})
    assert refused.status_code == 400
    assert "'acme:bob' does not hold the store 'Acme SG'; assign it first" in alert(refused)
    assert groups.groups_of(bob) == []


def test_r23_refused_groups_keep_what_was_typed_and_say_why(console, acme):
    sg, my = store(acme, "Acme SG"), store(acme, "Acme MY")
    groups.create_group(acme, sg, "Pre-sale")
    taken = post(console, "/console/groups", {"store": sg.public_id, "name": "pre-sale"})
    assert taken.status_code == 409
    assert "The store 'Acme SG' already has a group 'pre-sale'" in alert(taken)
    assert 'value="pre-sale"' in text_of(taken)
    assert re.search(rf'<option value="{sg.public_id}" selected>', text_of(taken))

    stores.deauthorize_store(acme, my)
    gone = post(console, "/console/groups", {"store": my.public_id, "name": "After-sale"})
    assert gone.status_code == 400 and "is not authorized" in alert(gone)
    assert [g.name for g in groups.list_groups(acme)] == ["Pre-sale"]


def test_r23_renaming_a_group_is_audited_and_refuses_a_taken_name(console, acme):
    sg = store(acme, "Acme SG")
    presale = groups.create_group(acme, sg, "Pre-sale")
    groups.create_group(acme, sg, "After-sale")
    taken = post(console, f"/console/groups/{presale.id}", {"name": "after-sale"})
    assert taken.status_code == 409 and "already has a group" in alert(taken)
    assert 'value="after-sale"' in text_of(taken)
    renamed = post(console, f"/console/groups/{presale.id}", {"name": "Pre-sale chat"})
    assert flashed(console, renamed) == "The group Pre-sale is now called Pre-sale chat."
    event = events_for(acme.company_id, limit=1)[0]
    assert event.action == "group.renamed"
    assert event.details == {"store": sg.public_id, "before": "Pre-sale", "after": "Pre-sale chat"}


# --- who may see these pages ------------------------------------------------------------------


def console_urls(owner) -> dict[str, list[str]]:
    role = roles.create_role(owner, "Night shift", ["chat:read"])
    group = groups.create_group(owner, store(owner, "Acme SG"), "Pre-sale")
    alice = accounts.get_sub_account(owner, "alice")
    groups.add_member(owner, group, alice)
    return {
        "get": ["/console/roles", "/console/roles/new", f"/console/roles/{role.id}"]
        + ["/console/groups", f"/console/groups/{group.id}"],
        "post": [
            "/console/roles/new",
            f"/console/roles/{role.id}",
            f"/console/roles/{role.id}/delete",
            "/console/groups",
            f"/console/groups/{group.id}",
            f"/console/groups/{group.id}/members",
            f"/console/groups/{group.id}/members/{alice.public_id}/remove",
            f"/console/groups/{group.id}/delete",
        ],
    }


def test_r6_staff_gets_403_on_every_roles_and_groups_page(web, acme, make):
    urls = console_urls(acme)
    flow.sign_in(web, "acme:alice", make.PASSWORD)
    for url in urls["get"]:
        assert web.get(url).status_code == 403, url
    for url in urls["post"]:
        data = {"name": "Mine", "permissions": "chat:read", "account": "alice"}
        assert post(web, url, data, page="/account/preferences").status_code == 403, url
    assert len(roles.list_roles(acme)) == 10 and len(groups.list_groups(acme)) == 1


def test_another_companys_owner_gets_404_for_our_roles_and_groups(web, acme, make):
    urls = console_urls(acme)
    make.company("globex")
    flow.sign_in(web, "globex", make.PASSWORD)
    beyond_any_id = ["/console/roles/99999999999", "/console/groups/99999999999"]
    for url in urls["get"][2:3] + urls["get"][4:] + beyond_any_id:
        assert web.get(url).status_code == 404, url
    for url in urls["post"][1:3] + urls["post"][4:]:
        data = {"name": "Ours now", "permissions": "chat:read", "account": "alice"}
        assert post(web, url, data).status_code == 404, url
    db.session.expire_all()
    assert fresh_role(acme, "Night shift").permissions == ["chat:read"]
    assert [g.name for g in groups.list_groups(acme)] == ["Pre-sale"]
    alice = accounts.get_sub_account(acme, "alice")
    assert [g.name for g in groups.groups_of(alice)] == ["Pre-sale"]


def test_r23_staff_of_another_company_cannot_join_our_group(console, acme, make):
    presale = groups.create_group(acme, store(acme, "Acme SG"), "Pre-sale")
    globex = make.company("globex")
    stranger = make.staff(globex, "carol", stores_=[make.store(globex, "shopee-sg")])
    refused = post(
        console, f"/console/groups/{presale.id}/members", {"account": stranger.public_id}
    )
    assert refused.status_code == 404 and "No such sub-account" in alert(refused)
    assert groups.groups_of(stranger) == []


# --- the journey in a real browser --------------------------------------------------------------

CALLBACK = "https://rp.example/cb"


def no_sideways_scroll(page) -> bool:
    """The page fits the window: wide tables scroll inside their own box."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def columns_in_sight(page) -> bool:
    """No table scrolls inside its box either: every column (a role's permissions, its staff,
    its actions) is in sight, the rows stacked on a phone."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.table-wrap')].every(
            box => box.scrollWidth <= box.clientWidth + 1
              && [...box.querySelectorAll('td')].every(cell => {
                const r = cell.getBoundingClientRect();
                return r.width === 0 || (r.left >= 0 && r.right <= window.innerWidth);
              }))"""
    )


def alice_tokens(live_url: str, client, secret: str, make) -> dict:
    """Alice signs in to an app (authorization code with PKCE) and the app redeems the code."""
    verifier, challenge = flow.pkce()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    _, answer = HttpBrowser(live_url).go(
        f"{live_url}/oauth/authorize?{urlencode(params)}", login=("acme:alice", make.PASSWORD)
    )
    tokens = requests.post(
        f"{live_url}/oauth/token",
        auth=(client.client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_r23_r6_owner_makes_a_role_and_a_group_in_the_browser_and_alices_token_carries_them(
    page,
    live_server,  # noqa: F811
    acme,
    make,
):
    client, secret = clients.create_client("Seller center", redirect_uris=[CALLBACK])
    sg = store(acme, "Acme SG")
    alice = accounts.get_sub_account(acme, "alice")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/console/roles")
    page.fill("input[name=login]", "acme")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/roles")
    assert no_sideways_scroll(page)
    assert columns_in_sight(page)
    assert page.locator("tr:has-text('Sales Assistant') summary").is_visible()

    page.click("main >> text=New role")
    page.wait_for_url(f"{live_server}/console/roles/new")  # the link's page, not the list's
    assert no_sideways_scroll(page)
    page.fill("input[name=name]", "Night shift")
    page.check("input[name=permissions][value='orders:view']")
    page.check("input[name=permissions][value='orders:ship']")
    page.click("button:has-text('Create role')")
    page.wait_for_url(f"{live_server}/console/roles")
    assert "Night shift was created with 2 permissions." in page.inner_text("main")

    night = fresh_role(acme, "Night shift")
    # given to alice through the service: the staff page has tests of its own
    accounts.update_sub_account(acme, accounts.get_sub_account(acme, "alice"), roles=[night.id])
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server}/console/roles")
    page.click("tr:has-text('Night shift') summary")  # the role's permissions, by area
    assert "Ship orders and use logistics tools" in page.inner_text("main")
    assert no_sideways_scroll(page)
    page.goto(f"{live_server}/console/roles/{night.id}")
    assert no_sideways_scroll(page)

    page.goto(f"{live_server}/console/groups")
    page.select_option("select[name=store]", sg.public_id)
    page.fill("input[name=name]", "Pre-sale")
    with page.expect_navigation():
        page.click("button:has-text('Create group')")
    assert "The group Pre-sale was created in Acme SG." in page.inner_text("main")
    page.select_option("select[name=account]", alice.public_id)
    with page.expect_navigation():
        page.click("button:has-text('Add to group')")
    assert "acme:alice joined Pre-sale in Acme SG." in page.inner_text("main")
    assert no_sideways_scroll(page)
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_sideways_scroll(page)
    page.goto(f"{live_server}/console/groups")
    assert no_sideways_scroll(page)

    claims = flow.jwt_payload(alice_tokens(live_server, client, secret, make)["access_token"])
    assert claims["roles"] == ["Night shift"]
    assert claims["permissions"] == ["orders:ship", "orders:view"]
    assert claims["groups"] == [f"{sg.public_id}/Pre-sale"]
