"""Issue 19, item 5: the SCIM token that Entra ID and Okta paste (they cannot run the client
credentials grant). The owner makes the SCIM client on the console's real page (CSRF and all),
which shows the endpoint and the token once; the token then provisions over real HTTP (a live
server), the client credentials way keeps working beside it, a replaced or revoked token is the
same 401 as a bad access token, another company's token finds nothing of this company, and the
admin API never takes it."""

from __future__ import annotations

import logging
import re

import pytest
import requests

from idp.extensions import db
from idp.models import AuditEvent, Client
from idp.oauth import clients
from idp.services import api_clients
from tests import oidc_flow as flow
from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)
from tests.scim_helpers import ERROR, USER, live_grant_token
from tests.test_api_clients import PAGE, alert, post, shown, signed_in, text_of

SCIM_TOKEN = re.compile(r'<pre id="scim-token"[^>]*>([^<]+)</pre>')


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme")
    make.store(owner, "shopee-sg", name="Acme SG")
    return owner


@pytest.fixture
def globex(ctx, make):
    owner = make.company("globex")
    make.store(owner, "lazada-sg", name="Globex SG")
    return owner


@pytest.fixture
def base(live_server) -> str:  # noqa: F811
    """The live server's address: SCIM and the token endpoint over real HTTP."""
    return live_server


@pytest.fixture
def owner_web(ctx, acme):
    return signed_in(ctx, "acme")


def scim_token_of(page) -> str:
    """The SCIM token a page shows once (never cached)."""
    assert page.status_code == 200, (page.status_code, alert(page))
    assert page.headers["Cache-Control"] == "no-store"
    return SCIM_TOKEN.search(text_of(page)).group(1)


def made_in_console(owner_web, name: str = "Entra ID"):
    """The console's answer to "create a SCIM client": the client (ID and secret) and its
    token."""
    page = post(owner_web, PAGE, name=name, kind="scim")
    return shown(page), scim_token_of(page), text_of(page)


def call(base: str, bearer: str, method: str, path: str, body: dict | None = None):
    """A SCIM call over real HTTP, as an identity platform makes it."""
    return requests.request(
        method,
        f"{base}/scim/v2{path}",
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/scim+json"},
        json=body,
        timeout=10,
    )


def new_user(name: str) -> dict:
    return {
        "schemas": [USER],
        "userName": name,
        "emails": [{"value": f"{name}@acme.example", "type": "work", "primary": True}],
        "active": True,
    }


def assert_refused(answer) -> None:
    """RFC 7644 3.12 and RFC 6750 3.1: the same 401 as a bad access token."""
    assert answer.status_code == 401, (answer.status_code, answer.text)
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == "401"
    assert body["detail"] == "The access token is invalid, expired or revoked"


def test_issue19_item5_console_token_provisions_over_live_http_and_last_synced_shows_it(
    owner_web, acme, base, caplog
):
    """The page shows the endpoint and a ``scim_`` token of 256 bits beside the client
    credentials; the token creates a user over real HTTP, audited as the client; the list's
    "last synced" moves; the token is never shown again, never stored, never logged."""
    caplog.set_level(logging.DEBUG)
    rp, token, page = made_in_console(owner_web)
    assert token.startswith("scim_") and len(token) >= len("scim_") + 43  # 32 bytes, base64url
    assert '<pre id="scim-endpoint" class="wrap" translate="no">' in page
    assert "Tenant URL" in page and "Okta" in page  # where to paste them
    db.session.expire_all()
    client = db.session.query(Client).filter_by(client_id=rp.client_id).one()
    assert client.scim_token_hash and token not in client.scim_token_hash
    assert client.scim_token_created_at is not None

    def row() -> str:
        return text_of(owner_web.get(PAGE)).split(rp.client_id, 1)[1].split("</tr>", 1)[0]

    assert 'data-label="Last synced"><span class="muted">Not yet' in row()
    created = call(base, token, "POST", "/Users", new_user("alice"))
    assert created.status_code == 201, created.text
    assert created.json()["userName"] == "alice"
    assert call(base, token, "GET", f"/Users/{created.json()['id']}").status_code == 200
    db.session.expire_all()
    [entry] = db.session.query(AuditEvent).filter_by(action="subaccount.created").all()
    assert entry.actor == f"api:{rp.client_id}" and entry.company_id == acme.company_id
    assert 'data-label="Last synced"><span class="muted">Not yet' not in row()

    # The client credentials way works beside it.
    by_grant = live_grant_token(base, rp)
    assert call(base, by_grant, "GET", "/Users").json()["totalResults"] == 1
    listed = text_of(owner_web.get(PAGE))
    assert token not in listed and "SCIM token made" in listed  # shown once
    assert token not in caplog.text and token not in str(entry.details)


def test_issue19_item5_new_token_ends_the_old_one_and_revoking_ends_the_new(owner_web, acme, base):
    rp, old, _page = made_in_console(owner_web)
    assert call(base, old, "GET", "/Users").status_code == 200

    page = post(owner_web, f"{PAGE}/{rp.client_id}/scim-token")
    new = scim_token_of(page)
    assert new != old and "The old token no longer works" in text_of(page)
    assert_refused(call(base, old, "GET", "/Users"))  # at once
    assert call(base, new, "GET", "/Users").status_code == 200
    db.session.expire_all()
    [replaced] = db.session.query(AuditEvent).filter_by(action="api_client.scim_token_replaced")
    assert replaced.actor == "acme" and new not in str(replaced.details)

    post(owner_web, f"{PAGE}/{rp.client_id}/revoke")
    assert_refused(call(base, new, "GET", "/Users"))
    assert_refused(call(base, new, "POST", "/Users", new_user("bob")))
    db.session.expire_all()
    assert db.session.query(Client).filter_by(client_id=rp.client_id).one().scim_token_hash is None
    # A revoked client gets no new token; an admin API client never has one.
    refused = post(owner_web, f"{PAGE}/{rp.client_id}/scim-token")
    assert refused.status_code == 409 and "revoked" in alert(refused)
    erp, _secret = api_clients.create(acme, "ERP")
    refused = post(owner_web, f"{PAGE}/{erp.client_id}/scim-token")
    assert refused.status_code == 409 and "Only a SCIM client" in alert(refused)


def test_issue19_item5_wrong_tokens_are_one_401(acme, base):
    """Near misses and junk are refused alike, and so is the right token of a client the
    operators disabled (the token is looked up only while its client is in use)."""
    client, _secret, token = api_clients.create_scim(acme, "Okta")
    for wrong in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "scim_",
        "scim_" + "x" * 5000,
        token.upper(),
    ):
        assert_refused(call(base, wrong, "GET", "/Users"))
    assert call(base, token, "GET", "/Users").status_code == 200
    clients.set_disabled(client, True)
    assert_refused(call(base, token, "GET", "/Users"))


def test_issue19_item5_another_company_token_sees_404_for_acme_ids(acme, globex, base):
    _c, _s, acme_token = api_clients.create_scim(acme, "Entra ID")
    _c, _s, globex_token = api_clients.create_scim(globex, "Entra ID")
    alice = call(base, acme_token, "POST", "/Users", new_user("alice")).json()
    for method in ("GET", "PUT", "DELETE"):
        answer = call(base, globex_token, method, f"/Users/{alice['id']}", new_user("x"))
        assert answer.status_code == 404, (method, answer.text)
    assert call(base, globex_token, "GET", "/Users").json()["totalResults"] == 0
    assert call(base, acme_token, "GET", f"/Users/{alice['id']}").json()["active"] is True


def test_issue19_item5_admin_api_refuses_a_scim_token(acme, base):
    _c, _s, token = api_clients.create_scim(acme, "Entra ID")
    for path in ("/api/v1/company", "/api/v1/staff"):
        answer = requests.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 401, (path, answer.status_code, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_issue19_item5_token_and_grant_share_the_clients_rate_limit(acme, base, live_app):  # noqa: F811
    """SCIM_RATE_LIMIT counts per client, whichever bearer it sends (a test limit of 3)."""
    client, secret, token = api_clients.create_scim(acme, "Entra ID")
    by_grant = live_grant_token(base, flow.RP(client.client_id, secret))
    live_app.config["IDP_API_RATE_LIMIT"] = 3
    try:
        bearers = (token, by_grant, token, by_grant)
        answers = [call(base, bearer, "GET", "/Users") for bearer in bearers]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    finally:
        live_app.config.pop("IDP_API_RATE_LIMIT")
