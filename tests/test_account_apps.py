"""Issue 17's connected apps: the apps an account signed in to or consented to, with when, and
"revoke": the consent goes and every token the app holds for the account stops working at once
(the refresh token is refused, introspection says inactive), audited. Owner and staff alike;
never another account's apps."""

from __future__ import annotations

import re
from html import unescape

import pytest

from idp.extensions import db
from idp.models import Account, AuditEvent, Consent
from idp.services import connected_apps
from tests import oidc_flow as flow

pytest_plugins = ["tests.live"]  # logout_receiver: a real back-channel logout endpoint


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def alice(owner, make) -> Account:
    return make.staff(owner, "alice", stores_=[make.store(owner)])


def signed_in(ctx, login: str, make):
    web = flow.browser(ctx)
    assert flow.sign_in(web, login, make.PASSWORD).status_code == 302
    return web


def consent_tokens(web, partner: flow.RP) -> dict:
    """Through the real consent page: allow, then redeem the code."""
    verifier, challenge = flow.pkce()
    params = flow.authorize_params(partner, challenge)
    page = web.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200, page.status_code
    fields = flow.form_fields(page.get_data(as_text=True))
    allowed = web.post(
        "/oauth/authorize", query_string=params, data={**fields, "decision": "allow"}
    )
    answer = flow.exchange(web, partner, flow.code_from(allowed, partner), verifier)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def rows_of(page: str) -> dict[str, str]:
    """The apps table: the app's name -> its row's HTML."""
    rows = re.findall(r"<tr>\s*<td data-label=\"App\">(.*?)</tr>", page, re.S)
    return {unescape(re.search(r"<strong>(?:<a [^>]*>)?([^<]+)", r).group(1)): r for r in rows}


def revoke(web, client_id: str):
    page = web.get("/account/profile").get_data(as_text=True)  # has a form whatever the apps
    token = flow.form_fields(page)["csrf_token"]
    return web.post(f"/account/apps/{client_id}/revoke", data={"csrf_token": token})


def test_connected_apps_lists_signed_in_and_consented_apps_with_when(ctx, alice, make):
    seller = flow.register("Seller center")
    partner = flow.register("Partner ERP", first_party=False, redirect_uri="https://erp.example/cb")
    web = signed_in(ctx, "acme:alice", make)
    assert "No app has used your account yet." in web.get("/account/apps").get_data(as_text=True)
    flow.token_set(web, seller, prompt="none")
    consent_tokens(web, partner)

    page = unescape(web.get("/account/apps").get_data(as_text=True))
    rows = rows_of(page)
    assert set(rows) == {"Seller center", "Partner ERP"}
    assert "Your company's app" in rows["Seller center"]
    assert "Another company's app" in rows["Partner ERP"]
    assert "openid" in rows["Partner ERP"] and "offline_access" in rows["Partner ERP"]
    assert all("has access" in row and "Revoke" in row for row in rows.values())
    assert list(rows) == ["Partner ERP", "Seller center"]  # the latest first


def test_revoking_an_app_ends_its_tokens_and_consent_at_once(ctx, alice, make):
    partner = flow.register("Partner ERP", first_party=False, redirect_uri="https://erp.example/cb")
    seller = flow.register("Seller center")
    web = signed_in(ctx, "acme:alice", make)
    tokens = consent_tokens(web, partner)
    kept = flow.token_set(web, seller, prompt="none")
    assert flow.introspect(web, partner, tokens["access_token"])["active"] is True

    revoked = revoke(web, partner.client_id)
    assert revoked.status_code == 302
    page = web.get("/account/apps").get_data(as_text=True)
    assert "The app&#39;s access was revoked" in page
    assert "no access" in rows_of(page)["Partner ERP"]

    assert flow.refresh(web, partner, tokens["refresh_token"]).status_code == 400
    assert flow.introspect(web, partner, tokens["access_token"])["active"] is False
    assert flow.userinfo(web, tokens["access_token"]).status_code == 401
    assert db.session.query(Consent).count() == 0
    # A third-party app must ask again; the other app keeps working.
    again = web.get("/oauth/authorize", query_string=flow.authorize_params(partner, flow.pkce()[1]))
    assert again.status_code == 200 and 'value="allow"' in again.get_data(as_text=True)
    assert flow.refresh(web, seller, kept["refresh_token"]).status_code == 200
    db.session.expire_all()
    event = db.session.query(AuditEvent).filter_by(action="account.app_revoked").one()
    assert event.target_id == alice.public_id
    assert event.details["client"] == partner.client_id and event.details["consent_removed"]
    assert event.details["tokens_ended"] >= 1


def test_a_revoked_app_is_told_by_back_channel_logout_and_the_session_goes_on(
    ctx, alice, make, logout_receiver
):
    from idp.oauth import logout

    chat = flow.register("Chat console", backchannel_logout_uri=logout_receiver.url)
    seller = flow.register("Seller center", backchannel_logout_uri=logout_receiver.url)
    web = signed_in(ctx, "acme:alice", make)
    flow.token_set(web, chat, prompt="none")
    flow.token_set(web, seller, prompt="none")
    assert revoke(web, chat.client_id).status_code == 302
    logout.deliver_due()
    (delivery,) = logout_receiver.wait_for(1)
    told = flow.jwt_payload(delivery["logout_token"])
    assert told["aud"] == chat.client_id and told["sub"] == alice.public_id
    # Only that app: the SSO session goes on, and the other app signs in without a password.
    assert flow.token_set(web, seller, prompt="none")["access_token"]
    assert len(logout_receiver.received) == 1


def test_the_owner_revokes_its_own_app_too(ctx, owner, make):
    seller = flow.register("Seller center")
    web = signed_in(ctx, "acme", make)
    tokens = flow.token_set(web, seller, prompt="none")
    assert revoke(web, seller.client_id).status_code == 302
    assert flow.refresh(web, seller, tokens["refresh_token"]).status_code == 400
    assert flow.introspect(web, seller, tokens["access_token"])["active"] is False


def test_never_another_accounts_apps(ctx, owner, alice, make):
    """Tenants and accounts stay apart: the owner's and globex's apps are not alice's to see
    or to revoke."""
    globex = make.company("globex")
    gary = make.staff(globex, "gary", stores_=[make.store(globex)])
    seller = flow.register("Seller center")
    theirs = flow.register("Globex only app")
    gary_web = signed_in(ctx, "globex:gary", make)
    gary_tokens = flow.token_set(gary_web, theirs, prompt="none")
    owner_tokens = flow.token_set(signed_in(ctx, "acme", make), seller, prompt="none")

    web = signed_in(ctx, "acme:alice", make)
    assert rows_of(web.get("/account/apps").get_data(as_text=True)) == {}
    for client_id in (theirs.client_id, seller.client_id, "no-such-app"):
        refused = revoke(web, client_id)
        assert refused.status_code == 404, client_id
        assert "This app is not connected to your account" in refused.get_data(as_text=True)
    assert flow.introspect(gary_web, theirs, gary_tokens["access_token"])["active"] is True
    assert flow.refresh(gary_web, seller, owner_tokens["refresh_token"]).status_code == 200
    assert [a.name for a in connected_apps.list_apps(gary)] == ["Globex only app"]


def test_revoke_needs_its_csrf_token(ctx, alice, make):
    seller = flow.register("Seller center")
    web = signed_in(ctx, "acme:alice", make)
    tokens = flow.token_set(web, seller, prompt="none")
    assert web.post(f"/account/apps/{seller.client_id}/revoke").status_code == 400
    assert flow.introspect(web, seller, tokens["access_token"])["active"] is True


def test_company_api_clients_are_never_listed(ctx, owner, make):
    from idp.services import api_clients

    api_clients.create(owner, "ERP")
    web = signed_in(ctx, "acme", make)
    assert rows_of(web.get("/account/apps").get_data(as_text=True)) == {}
