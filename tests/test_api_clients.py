"""Issue 16: a company's own API clients, created and revoked by the owner in the console.

Everything goes through the real console form (CSRF included) and the real token and
introspection endpoints: a client created on the page works at once with the secret shown there
(client credentials, ``company:admin`` asked for or not, ``aud`` naming the admin API), and stops
at once when revoked, its tokens with it; replacing the secret stops the old one. Another
company's owner can neither see nor touch it (404), staff get the console's 403 page, and such a
client gets no token by any other grant. Names are checked and refused on the form."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import update

from idp.defaults import MAX_API_CLIENTS
from idp.errors import Forbidden, NotFound
from idp.extensions import db
from idp.models import AuditEvent, Client
from idp.oauth import clients, tokens
from idp.services import accounts, api_clients
from tests import oidc_flow as flow
from tests.factories import PASSWORD

PAGE = "/console/api-clients"
TOKEN_EXCHANGE = clients.TOKEN_EXCHANGE
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme")
    make.staff(owner, "alice", stores_=[make.store(owner, "shopee-sg", name="Acme SG")])
    return owner


@pytest.fixture
def globex(ctx, make):
    return make.company("globex")


def signed_in(ctx, login: str) -> flow.Browser:
    web = flow.browser(ctx)
    assert flow.sign_in(web, login, PASSWORD).status_code == 302
    return web


@pytest.fixture
def owner_web(ctx, acme) -> flow.Browser:
    return signed_in(ctx, "acme")


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def csrf(web) -> str:
    return flow.form_fields(web.get(PAGE).get_data(as_text=True))["csrf_token"]


def post(web, action: str, **data):
    return web.post(action, data={"csrf_token": csrf(web), **data})


def alert(response) -> str:
    found = re.search(r'role="alert">(.*?)</p>', text_of(response), re.S)
    return found.group(1) if found else ""


def shown(response) -> flow.RP:
    """The client ID and secret of the page that shows them once."""
    assert response.status_code == 200, (response.status_code, alert(response))
    assert response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    client_id = re.search(r'<code id="client-id"[^>]*>([^<]+)</code>', page).group(1)
    secret = re.search(r'<pre id="client-secret"[^>]*>([^<]+)</pre>', page).group(1)
    assert f"CLIENT_SECRET='{secret}'" in page  # the ready-made token request
    assert "/oauth/token -d grant_type=client_credentials" in page
    return flow.RP(client_id, secret)


def create(web, name: str = "ERP sync") -> flow.RP:
    return shown(post(web, PAGE, name=name))


def token(web, rp: flow.RP, **extra):
    return web.post(
        "/oauth/token", headers=rp.basic, data={"grant_type": "client_credentials", **extra}
    )


def resource_server_for(rp: flow.RP) -> flow.RP:
    """The admin API's stand-in: a resource server registered for the client's tokens."""
    api, secret = clients.create_client(
        "Admin API", grant_types=["client_credentials"], resource_server_for=[rp.client_id]
    )
    return flow.RP(api.client_id, secret)


def entries(owner, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return (
        db.session.query(AuditEvent)
        .filter_by(company_id=owner.company_id, action=action)
        .order_by(AuditEvent.id)
        .all()
    )


# --- creating, and the client at work ---------------------------------------------------------


def test_issue16_a_client_created_in_the_console_works_at_once(web, owner_web, acme):
    rp = create(owner_web, "ERP sync")

    answer = token(web, rp)  # no scope asked: the client's own (RFC 6749 3.3)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["scope"] == "company:admin" and "refresh_token" not in body
    claims = flow.jwt_payload(body["access_token"])
    assert claims["aud"] == [rp.client_id, tokens.issuer() + "/api/v1"]
    assert claims["sub"] == claims["client_id"] == rp.client_id
    assert claims["scope"] == "company:admin"
    assert flow.introspect(web, rp, body["access_token"])["active"] is True
    asked = token(web, rp, scope="company:admin").get_json()
    assert asked["scope"] == "company:admin"

    client = db.session.query(Client).filter_by(client_id=rp.client_id).one()
    assert client.company_id == acme.company_id and client.first_party is False
    assert (client.grant_types, client.scope) == (["client_credentials"], "company:admin")
    listed = text_of(owner_web.get(PAGE))
    assert "ERP sync" in listed and rp.client_id in listed and "In use" in listed
    assert rp.secret not in listed  # shown once, never again
    [created] = entries(acme, "api_client.created")
    assert created.actor == "acme" and rp.secret not in str(created.details)
    assert created.details == {"client_id": rp.client_id, "name": "ERP sync"}


def test_issue16_the_providers_own_clients_keep_an_empty_default_scope(web):
    """Only a company's client gets its registered scope by default; other clients asking for
    nothing get nothing, as before."""
    job = flow.register("Wallet service", grant_types=["client_credentials"], scope="wallet:verify")
    assert token(web, job).get_json()["scope"] == ""


# --- revoking, and replacing the secret ------------------------------------------------------


def test_issue16_revoking_stops_the_client_and_its_tokens_at_once(web, owner_web, acme):
    rp = create(owner_web)
    access = token(web, rp).get_json()["access_token"]
    api = resource_server_for(rp)
    assert flow.introspect(web, api, access)["active"] is True

    answer = post(owner_web, f"{PAGE}/{rp.client_id}/revoke")
    assert answer.status_code == 302 and flow.location(answer) == PAGE
    listed = text_of(owner_web.get(PAGE))
    assert "ERP sync is revoked" in listed and "Revoked" in listed
    assert f"{rp.client_id}/revoke" not in listed  # nothing more to do with it

    refused = token(web, rp)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert flow.introspect(web, api, access) == {"active": False}
    assert tokens.live_claims(access)[0] is None  # what the admin API checks
    post(owner_web, f"{PAGE}/{rp.client_id}/revoke")  # again: nothing changes
    assert len(entries(acme, "api_client.revoked")) == 1


def test_issue16_replacing_the_secret_refuses_the_old_one(web, owner_web, acme):
    rp = create(owner_web)
    access = token(web, rp).get_json()["access_token"]
    api = resource_server_for(rp)

    rotated = shown(post(owner_web, f"{PAGE}/{rp.client_id}/rotate"))
    assert rotated.client_id == rp.client_id and rotated.secret != rp.secret
    old = token(web, rp)
    assert old.status_code == 401 and old.get_json()["error"] == "invalid_client"
    assert token(web, rotated).get_json()["scope"] == "company:admin"
    assert flow.introspect(web, api, access) == {"active": False}  # got with the old secret
    assert "Never" not in text_of(owner_web.get(PAGE))  # the list says when it was replaced
    [entry] = entries(acme, "api_client.secret_rotated")
    assert entry.details["tokens_ended"] == 1 and rotated.secret not in str(entry.details)

    post(owner_web, f"{PAGE}/{rp.client_id}/revoke")
    again = post(owner_web, f"{PAGE}/{rp.client_id}/rotate")
    assert again.status_code == 409 and "revoked" in alert(again)


# --- who may ----------------------------------------------------------------------------------


def test_issue16_another_companys_owner_can_neither_see_nor_touch_it(ctx, web, owner_web, globex):
    rp = create(owner_web, "Acme payroll")
    other = signed_in(ctx, "globex")
    page = text_of(other.get(PAGE))
    assert "Acme payroll" not in page and rp.client_id not in page
    for action in ("revoke", "rotate"):
        answer = post(other, f"{PAGE}/{rp.client_id}/{action}")
        assert answer.status_code == 404, action
    assert token(web, rp).status_code == 200  # untouched
    with pytest.raises(NotFound):
        api_clients.revoke(globex, rp.client_id)


def test_issue16_staff_get_the_forbidden_page_and_visitors_the_sign_in(ctx, web, owner_web, acme):
    rp = create(owner_web)
    alice = signed_in(ctx, "acme:alice")
    assert alice.get(PAGE).status_code == 403
    token_ = flow.form_fields(alice.get("/account/preferences").get_data(as_text=True))
    for path in (PAGE, f"{PAGE}/{rp.client_id}/revoke", f"{PAGE}/{rp.client_id}/rotate"):
        answer = alice.post(path, data={"csrf_token": token_["csrf_token"], "name": "Side door"})
        assert answer.status_code == 403, path
    assert flow.location(flow.browser(ctx).get(PAGE)).startswith("/login")
    with pytest.raises(Forbidden):
        api_clients.create(accounts.find_by_login_name("acme:alice"), "Side door")
    assert [c.name for c in api_clients.list_for(acme)] == ["ERP sync"]
    assert token(web, rp).status_code == 200  # neither revoked nor rotated


def test_issue16_a_company_client_gets_no_token_by_any_other_grant(web, ctx, owner_web, acme):
    """Not at /authorize, not by token exchange, not by refresh: not even when its row was
    given those grants by hand (``Client.check_grant_type``)."""
    rp = create(owner_web)
    seller = flow.register("Seller center", grant_types=clients.GRANTS)
    owner_tokens = flow.token_set(flow.browser(ctx), seller, login="acme", password=PASSWORD)
    for widened in (False, True):
        if widened:
            db.session.execute(
                update(Client)
                .where(Client.client_id == rp.client_id)
                .values(grant_types=list(clients.GRANTS), redirect_uris=[flow.REDIRECT_URI])
            )
            db.session.commit()
        before = flow.issued()
        authorizing = flow.authorize(
            flow.browser(ctx), rp, flow.pkce()[1], login="acme", password=PASSWORD
        )
        assert "code" not in flow.query(flow.location(authorizing)), widened
        exchanged = web.post(
            "/oauth/token",
            headers=rp.basic,
            data={
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": owner_tokens["access_token"],
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "store": "anything",
            },
        )
        assert exchanged.status_code == 400, exchanged.get_json()
        assert exchanged.get_json()["error"] == "unauthorized_client"
        refreshed = flow.refresh(web, rp, owner_tokens["refresh_token"])
        assert refreshed.status_code == 400
        assert refreshed.get_json()["error"] == "unauthorized_client"
        after = flow.issued()
        assert (after["authorization_codes"], after["issued_tokens"]) == (
            before["authorization_codes"],
            before["issued_tokens"],
        )
    assert token(web, rp).status_code == 200  # its own grant still works


# --- the form --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("", 400, "Give the API client a name"),
        ("   ", 400, "Give the API client a name"),
        ("x" * 121, 400, "An API client's name has at most 120 characters"),
        ("ERP\x07sync", 400, "must not contain control or invisible characters"),
        ("ERP\u200bsync", 400, "must not contain control or invisible characters"),
        ("erp SYNC", 409, "An API client named 'erp SYNC' is in use already"),
    ],
)
def test_issue16_a_bad_name_is_refused_on_the_form(owner_web, acme, name, status, message):
    create(owner_web, "ERP sync")
    answer = post(owner_web, PAGE, name=name)
    assert answer.status_code == status and message in alert(answer)
    assert 'aria-invalid="true"' in text_of(answer)  # the field is marked
    if name.strip():
        assert f'value="{name[:121]}"' in answer.get_data(as_text=True).replace("&#39;", "'")
    assert len(api_clients.list_for(acme)) == 1
    assert len(entries(acme, "api_client.created")) == 1


def test_issue16_a_nul_in_the_name_is_refused_before_anything(owner_web, acme):
    answer = post(owner_web, PAGE, name="ERP\x00sync")
    assert answer.status_code == 400 and "NUL" in text_of(answer)
    assert api_clients.list_for(acme) == []


def test_issue16_at_most_so_many_clients_in_use(owner_web, acme):
    made = [api_clients.create(acme, f"Tool {n}")[0] for n in range(MAX_API_CLIENTS)]
    page = text_of(owner_web.get(PAGE))
    assert f"All {MAX_API_CLIENTS} API clients are in use" in page
    assert 'name="name"' not in page  # no form to fill in for nothing
    refused = post(owner_web, PAGE, name="One more")
    assert refused.status_code == 409 and "at most 20 API clients in use" in alert(refused)
    post(owner_web, f"{PAGE}/{made[0].client_id}/revoke")
    assert create(owner_web, "One more").client_id.startswith("api_")


# --- end to end: the console's client at the admin API ------------------------------------------


def test_issue16_the_consoles_client_works_at_the_admin_api_at_once_and_stops_when_revoked(
    web, owner_web, acme, globex, make
):
    """Created on the page, the client's token manages acme's staff through /api/v1 at once,
    sees nothing of globex, and is refused the moment the owner revokes it."""
    make.staff(globex, "dave", stores_=[make.store(globex, "shopee-my")])
    store = acme.company.stores[0].public_id
    rp = create(owner_web, "HR sync")
    access = token(web, rp).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}

    listed = web.get("/api/v1/staff", headers=bearer)
    assert listed.status_code == 200, listed.get_json()
    made = web.post(
        "/api/v1/staff",
        headers={**bearer, "Idempotency-Key": "hr-sync-1"},
        json={"name": "carol", "password": "A-long-Pass-2026!", "stores": [store]},
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["staff"]["login_name"] == "acme:carol"
    assert accounts.find_by_login_name("acme:carol") is not None
    assert web.get("/api/v1/staff/globex:dave", headers=bearer).status_code == 404
    assert web.get("/api/v1/staff/dave", headers=bearer).status_code == 404

    post(owner_web, f"{PAGE}/{rp.client_id}/revoke")
    after = web.get("/api/v1/staff", headers=bearer)
    assert after.status_code == 401 and after.get_json()["error"] == "invalid_token"


def test_issue16_r21_the_list_says_what_a_client_counts_as_and_dates_are_one_format(
    owner_web, acme
):
    """R21: the list says an API client is a third party for the privacy levels (not "a
    third-party app of your company", wrong for the owner's own ERP); and a row shows its dates
    in one format (a SCIM token's date was short, the others medium)."""
    assert post(owner_web, PAGE, name="HR sync", kind="scim").status_code == 200
    listed = text_of(owner_web.get(PAGE))
    assert "counts as a third-party app" in listed and "third-party app of your" not in listed
    made = re.search(r"SCIM token made ([^<]+)<", listed).group(1)
    medium = r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\s[AP]M \(UTC\)"
    assert re.fullmatch(medium, made), made
    assert not re.search(r"\d{1,2}/\d{1,2}/\d{2}, ", listed)  # no short date anywhere
