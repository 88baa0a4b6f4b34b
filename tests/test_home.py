"""The start page and what every page answers with (issue 12).

Signed out, the start page is the sign-in; signed in, it shows the person's apps, stores and
account. It never lists companies or says how the provider runs, and only a development server
names the demo accounts. Every page carries the hardening headers; errors are a page for people
and JSON for programs, never a stack trace."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.app import create_app, settings_of
from idp.demo import OWNER_PASSWORD
from idp.oauth import clients
from idp.web.headers import CONTENT_SECURITY_POLICY
from tests import oidc_flow as flow
from tests.apps import close


def page_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg", name="Acme Official SG")
    my = make.store(owner, "shopee-my", name="Acme Official MY")
    make.staff(owner, "alice", stores_=[sg, my])
    return owner


def test_signed_out_start_page_is_the_sign_in_and_names_no_company(client, backend, acme, make):
    make.company("淘宝")
    start = client.get("/")
    assert start.status_code == 302 and flow.location(start) == "/login"
    page = page_of(client.get("/login"))
    assert 'name="password"' in page
    for leak in ("淘宝", "Acme Official", backend, "development", OWNER_PASSWORD, "localhost"):
        assert leak not in page, leak


@pytest.fixture
def production(app):
    """The provider as deployed: production settings over the test database."""
    settings = replace(settings_of(app), env="production", issuer="https://login.example")
    deployed = create_app(settings)
    deployed.config["TESTING"] = True
    yield deployed
    close(deployed)


@pytest.fixture
def development(app):
    deployed = create_app(replace(settings_of(app), env="development"))
    deployed.config["TESTING"] = True
    yield deployed
    close(deployed)


def test_only_a_development_server_names_the_demo_accounts(ctx, production, development):
    assert OWNER_PASSWORD not in page_of(production.test_client().get("/login"))
    demo = page_of(development.test_client().get("/login"))
    assert OWNER_PASSWORD in demo and "/demo" in demo


def test_signed_in_staff_sees_their_apps_stores_and_account(ctx, web, acme, make):
    clients.create_client(
        "Shopee seller center",
        redirect_uris=["https://sg.example/cb"],
        client_uri="https://sg.example/",
        marketplaces=["shopee-sg"],
    )
    clients.create_client(  # a marketplace alice holds no store in
        "Taobao center",
        redirect_uris=["https://tb.example/cb"],
        client_uri="https://tb.example/",
        marketplaces=["taobao-cn"],
    )
    clients.create_client(  # a buyer app: never for staff (R6)
        "Buyer app",
        app_type="consumer",
        redirect_uris=["https://shop.example/cb"],
        client_uri="https://shop.example/",
    )
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    page = page_of(web.get("/"))
    assert 'href="https://sg.example/"' in page and "Shopee seller center" in page
    assert "Taobao center" not in page and "Buyer app" not in page
    assert "Acme Official SG" in page and "Acme Official MY" in page
    assert "acme:alice" in page and "Change password" in page
    assert "/console/" not in page  # staff have no console (R6)


def test_owner_without_stores_is_told_to_authorize_one(ctx, web, make):
    make.company("acme")
    assert flow.sign_in(web, "acme", make.PASSWORD).status_code == 302
    for path in ("/", "/stores"):
        page = page_of(web.get(path))
        assert "ask your company" not in page.lower()
        assert "Authorize a store" in page and "/console/stores" in page, path


def test_staff_without_stores_are_told_to_ask_the_owner(ctx, web, make):
    make.staff(make.company("acme"), "bob")
    assert flow.sign_in(web, "acme:bob", make.PASSWORD).status_code == 302
    page = page_of(web.get("/stores"))
    assert "ask them" in page and "/console/stores" not in page


def test_r8_owner_authorizes_a_store_in_the_console(ctx, web, make):
    owner = make.company("acme")
    assert flow.sign_in(web, "acme", make.PASSWORD).status_code == 302
    form = flow.form_fields(page_of(web.get("/console/stores")))
    bad = web.post(
        "/console/stores", data={**form, "marketplace": "nowhere", "external_id": "1", "name": "X"}
    )
    assert bad.status_code == 400 and "Unknown marketplace" in page_of(bad)
    done = web.post(
        "/console/stores",
        data={**form, "marketplace": "shopee-sg", "external_id": "1001", "name": "Acme SG"},
    )
    assert done.status_code == 302
    assert "Acme SG is authorized" in page_of(web.get(flow.location(done)))
    assert [s.name for s in owner.stores] == ["Acme SG"]
    again = web.post(
        "/console/stores",
        data={**form, "marketplace": "shopee-sg", "external_id": "1001", "name": "Acme SG"},
    )
    assert again.status_code == 409 and "already authorized" in page_of(again)


def test_r7_a_changed_password_is_confirmed_on_the_next_page(ctx, web, acme, make):
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    form = flow.form_fields(page_of(web.get("/account/password")))
    changed = web.post(
        "/account/password",
        data={**form, "current_password": make.PASSWORD, "new_password": "a brand new one"},
    )
    assert changed.status_code == 302
    assert "Your password was changed" in page_of(web.get(flow.location(changed)))
    assert "Your password was changed" not in page_of(web.get("/"))  # said once


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/login", "/register", "/forgot", "/no/such/page", "/oauth/logout"]
)
def test_every_page_refuses_framing_and_sniffing(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "Strict-Transport-Security" not in headers  # http in tests; production only


def test_pages_meet_their_own_policy_no_inline_script_or_style(client):
    for path in ("/login", "/register", "/forgot"):
        page = page_of(client.get(path))
        assert "<script>" not in page and "<style" not in page and "style=" not in page


def test_production_sends_hsts_and_machine_endpoints_nosniff(ctx, production):
    answer = production.test_client().get("/login")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    jwks = production.test_client().get("/oauth/jwks")
    assert jwks.headers["X-Content-Type-Options"] == "nosniff"


# --- errors -------------------------------------------------------------------------------------


def test_unknown_url_is_a_404_page_without_a_stack_trace(client):
    response = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = page_of(response)
    assert "Page not found" in page and "There is no page at this address" in page
    # a missing page is no failed action, and the internal code is for programs only
    assert "did not work" not in page and "not_found" not in page and "Error 404" not in page
    assert 'href="/"' in page
    assert "Traceback" not in page and "werkzeug" not in page.lower()


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/no/such/page", "application/json"), ("/oauth/no-such-endpoint", "text/html")],
    ids=["accept-json", "protocol-path"],
)
def test_unknown_url_answers_json_to_programs(client, path, accept):
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404 and response.is_json
    body = response.get_json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "not_found" and "not found" in body["error_description"]
    assert "Traceback" not in response.get_data(as_text=True)
