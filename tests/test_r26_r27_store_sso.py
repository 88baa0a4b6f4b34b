"""One login across every store (R26, R27, with R9 and R10): the store claims, apps per
marketplace, asking for a store, the store switcher, token exchange (RFC 8693) and what removing
or de-authorizing a store does to tokens at once. SPEC "What downstream apps see".

Most tests drive the provider in process (``tests.oidc_flow``); the end-to-end test runs it over
real HTTP with Authlib's requests client as the relying parties."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import Account, SsoSession, Store, StoreAssignment
from idp.models.companies import STORE_AUTHORIZED
from idp.oauth import clients
from idp.services import accounts, stores
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.live import HttpBrowser
from tests.store_sso_helpers import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    exchange,
    resigned,
)

pytest_plugins = ["tests.live"]  # live_server

CODE_GRANTS = ["authorization_code", "refresh_token"]
EXCHANGING = [*CODE_GRANTS, TOKEN_EXCHANGE]
STORE_CLAIMS = ("stores", "store", "marketplace")


@dataclass
class Shop:
    """acme with four authorized stores (and a de-authorized amazon-us one); alice holds sg, my,
    lz (sg first: her default, R9); bob holds tw and sg. globex is another company with a store
    of its own."""

    owner: Account
    alice: Account
    bob: Account
    sg: Store
    my: Store
    lz: Store
    tw: Store
    foreign: Store


@pytest.fixture
def shop(ctx, make) -> Shop:
    owner = make.company("acme")
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    lz, tw = make.store(owner, "lazada-sg"), make.store(owner, "shopee-tw")
    stores.deauthorize_store(owner, make.store(owner, "amazon-us"))  # held by nobody
    alice = make.staff(owner, "alice", stores_=[sg, my, lz], roles=["Customer Service"])
    bob = make.staff(owner, "bob", stores_=[tw, sg])
    foreign = make.store(make.company("globex"), "shopee-my")
    return Shop(owner, alice, bob, sg, my, lz, tw, foreign)


@pytest.fixture
def rp(ctx) -> flow.RP:
    """A seller center serving every marketplace, allowed to exchange tokens."""
    return flow.register("Seller center", grant_types=EXCHANGING)


def sign_in(web, rp: flow.RP, login: str = "acme:alice", **extra) -> dict:
    """A token response, signing in with the password when the browser has no session yet."""
    return flow.token_set(web, rp, login=login, password=PASSWORD, **extra)


def store_claims(token: str) -> dict:
    claims = flow.jwt_payload(token)
    return {name: claims[name] for name in STORE_CLAIMS}


def working_in(store: Store) -> dict:
    return {"store": store.public_id, "marketplace": store.marketplace_code}


def held_in_db(account: Account) -> list[str]:
    """What the database says the account holds, in the order given (R9); the main account holds
    every authorized store of its company (SPEC claim table)."""
    if account.is_main:
        query = (
            select(Store.public_id)
            .where(Store.company_id == account.company_id, Store.status == STORE_AUTHORIZED)
            .order_by(Store.id)
        )
    else:
        query = (
            select(Store.public_id)
            .join(StoreAssignment, StoreAssignment.store_id == Store.id)
            .where(StoreAssignment.account_id == account.id)
            .order_by(StoreAssignment.id)
        )
    return list(db.session.scalars(query))


def oauth_error(response, error: str, *, described: bool = True) -> dict:
    """A token endpoint refusal (RFC 6749 5.2) that issues nothing and, for the token exchange
    refusals of R27, says why."""
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["error"] == error, body
    assert body.get("error_description") or not described, body
    assert "access_token" not in body and "refresh_token" not in body
    return body


def denied_redirect(response, rp: flow.RP) -> dict:
    """access_denied sent back to the app's registered redirect URI, with the state, no code."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    target = flow.location(response)
    assert target.startswith(rp.redirect_uri + "?"), target
    params = flow.query(target)
    assert params["error"] == "access_denied" and "code" not in params, params
    assert params["state"].startswith("st-") and params.get("error_description")
    return params


def switch(web, store_id: str, **extra):
    """Choose a store on the switcher page's own form (its CSRF token)."""
    page = web.get("/stores")
    assert page.status_code == 200
    fields = flow.form_fields(page.get_data(as_text=True))
    return web.post("/stores", data={**fields, "store": store_id, **extra})


# --- R26: the store claims -------------------------------------------------------------------


@pytest.mark.parametrize("login", ["acme", "acme:alice"], ids=["main", "sub"])
def test_r26_tokens_list_the_stores_the_account_holds(web, shop, rp, login):
    """The main account's tokens list every authorized store (not the de-authorized one, not
    another company's); a sub-account's exactly its own. ID token, access token, userinfo and
    introspection agree with the database."""
    account = shop.owner if login == "acme" else shop.alice
    held = held_in_db(account)
    assert shop.foreign.public_id not in held
    if login == "acme":
        assert len(held) == 4  # sg, my, lz, tw; amazon-us was de-authorized
    else:
        assert held == [shop.sg.public_id, shop.my.public_id, shop.lz.public_id]
    first = db.session.scalar(select(Store).where(Store.public_id == held[0]))
    expected = {"stores": held, **working_in(first)}  # R9: the default / the first store

    token = sign_in(web, rp, login)
    userinfo = flow.userinfo(web, token["access_token"])
    assert userinfo.status_code == 200
    introspected = flow.introspect(web, rp, token["access_token"])
    assert introspected["active"] is True
    for claims in (
        flow.jwt_payload(token["id_token"]),
        flow.jwt_payload(token["access_token"]),
        userinfo.get_json(),
        introspected,
    ):
        assert {name: claims[name] for name in STORE_CLAIMS} == expected
        assert claims["sub"] == account.public_id


def test_r9_a_session_starts_in_the_default_store_the_owner_chose(web, shop, rp):
    stores.set_default_store(shop.owner, shop.alice, shop.lz)
    token = sign_in(web, rp)
    assert store_claims(token["access_token"]) == {
        "stores": held_in_db(shop.alice),
        **working_in(shop.lz),
    }


# --- R26: apps per marketplace ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("marketplaces", "expected"),
    [
        (["lazada-sg"], "lz"),
        (["shopee-my"], "my"),
        (["shopee-my", "lazada-sg"], "my"),  # not the default's marketplace: the earliest given
        (["shopee-sg", "shopee-my"], "sg"),  # the default store, when the app serves it
    ],
    ids=["lazada", "shopee-my", "earliest-given", "default"],
)
def test_r26_marketplace_app_lands_in_the_default_store_for_its_marketplace(
    web, shop, marketplaces, expected
):
    app = flow.register("Marketplace center", marketplaces=marketplaces)
    token = sign_in(web, app)
    assert store_claims(token["id_token"]) == {
        "stores": held_in_db(shop.alice),
        **working_in(getattr(shop, expected)),
    }


def test_r26_one_sign_in_opens_every_marketplace_app(web, shop):
    """R26: a second and a third app of other marketplaces get codes with no password, in the
    same session, each in its own marketplace's store."""
    apps = {
        name: flow.register(f"{name} center", marketplaces=[code])
        for name, code in [("sg", "shopee-sg"), ("lz", "lazada-sg"), ("my", "shopee-my")]
    }
    first = sign_in(web, apps["sg"])
    for name in ("lz", "my"):
        before = flow.issued()["sso_sessions"]
        token = flow.token_set(web, apps[name])  # no credentials: it would fail at /login
        assert flow.issued()["sso_sessions"] == before == 1
        claims = flow.jwt_payload(token["id_token"])
        assert claims["sid"] == flow.jwt_payload(first["id_token"])["sid"]
        assert {k: claims[k] for k in ("store", "marketplace")} == working_in(getattr(shop, name))


def test_r26_marketplace_app_refuses_an_account_with_no_store_there(web, shop):
    """alice holds no shopee-tw store: a clear 403 page whose link returns access_denied (with
    the state) to the app; no code is issued."""
    app = flow.register("Shopee TW center", marketplaces=["shopee-tw"])
    sign_in(web, flow.register("Seller center"))
    before = flow.issued()
    params = flow.authorize_params(app, flow.pkce()[1])
    response = web.get("/oauth/authorize", query_string=params)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "acme:alice" in page and "shopee-tw" in page and "holds no store" in page
    back = flow.link(page)
    assert back.startswith(app.redirect_uri + "?"), back
    assert flow.query(back)["error"] == "access_denied"
    assert flow.query(back)["state"] == params["state"]
    assert flow.issued() == before

    silent = web.get("/oauth/authorize", query_string={**params, "prompt": "none"})
    denied_redirect(silent, app)


def test_r26_marketplace_app_refuses_a_main_account_with_no_store_there(web, shop):
    app = flow.register("Amazon center", marketplaces=["amazon-us"])  # de-authorized there
    response = flow.authorize(web, app, flow.pkce()[1], login="acme", password=PASSWORD)
    assert response.status_code == 403
    assert "access_denied" in flow.link(response.get_data(as_text=True))


# --- R27: asking for a store in the authorization request -------------------------------------


def _claims_request(member: str, store_id: str) -> dict:
    """OIDC Core 5.5: the store asked for as an individual claim's value."""
    return {"claims": json.dumps({member: {"store": {"value": store_id}}})}


@pytest.mark.parametrize(
    "ask",
    [
        lambda store_id: {"store": store_id},
        lambda store_id: _claims_request("id_token", store_id),
        lambda store_id: _claims_request("userinfo", store_id),
    ],
    ids=["store-parameter", "claims-id_token", "claims-userinfo"],
)
def test_r27_authorization_request_names_the_store(web, shop, rp, ask):
    token = sign_in(web, rp, **ask(shop.lz.public_id))
    assert store_claims(token["id_token"]) == {
        "stores": held_in_db(shop.alice),
        **working_in(shop.lz),
    }
    assert store_claims(token["access_token"]) == store_claims(token["id_token"])
    userinfo = flow.userinfo(web, token["access_token"]).get_json()
    assert {k: userinfo[k] for k in ("store", "marketplace")} == working_in(shop.lz)
    # The request named a store for this app only: the session still starts in the default.
    assert store_claims(flow.token_set(web, rp)["access_token"])["store"] == shop.sg.public_id


def _unheld(shop: Shop, rp: flow.RP, case: str) -> tuple[flow.RP, str]:
    """The app asking and the store it asks for, for one way of not holding a store."""
    if case == "deauthorized":
        stores.deauthorize_store(shop.owner, shop.lz)
        return rp, shop.lz.public_id
    if case == "unserved":  # alice holds sg, but this app serves lazada-sg only
        return flow.register("Lazada center", marketplaces=["lazada-sg"]), shop.sg.public_id
    if case == "unknown":
        return rp, "st_0000000000000000"
    return rp, getattr(shop, case).public_id


@pytest.mark.parametrize(
    "case",
    ["tw", "foreign", "deauthorized", "unknown", "unserved"],
    ids=["other-staffs-store", "other-company", "deauthorized", "unknown", "not-served-by-app"],
)
@pytest.mark.parametrize("how", ["store-parameter", "claims"])
def test_r27_authorization_request_for_a_store_not_held_is_access_denied(web, shop, rp, case, how):
    """R27: access_denied at the app's redirect URI (the user is signed in, so this is no
    "please sign in"), and nothing is issued."""
    app, store_id = _unheld(shop, rp, case)
    sign_in(web, rp)
    ask = {"store": store_id} if how == "store-parameter" else _claims_request("id_token", store_id)
    before = flow.issued()
    response = flow.authorize(web, app, flow.pkce()[1], **ask)
    denied_redirect(response, app)
    assert flow.issued() == before


# --- R27: the store switcher -----------------------------------------------------------------


def test_r27_store_switcher_lists_the_accounts_stores_by_marketplace(web, shop, rp):
    sign_in(web, rp)
    page = web.get("/stores")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for heading in ("Shopee Singapore", "Shopee Malaysia", "Lazada Singapore"):
        assert f"<h2>{heading}</h2>" in html
    for store in (shop.sg, shop.my, shop.lz):
        assert store.name in html
    assert f'<strong>{shop.sg.name}</strong> <span class="badge active">active</span>' in html
    assert shop.tw.name not in html and shop.foreign.name not in html
    assert "Shopee Taiwan" not in html


def test_r27_store_switcher_needs_a_session(web, shop):
    response = web.get("/stores")
    assert response.status_code == 302
    assert flow.location(response).startswith("/login?")


def test_r27_store_switcher_changes_the_store_with_no_sign_in(web, shop, rp):
    """Switching is no sign-in (same session, same sid); an app coming back with prompt=none
    gets a token for the new store, and its earlier token still works."""
    first = sign_in(web, rp)
    response = switch(web, shop.my.public_id)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert (
        f'<strong>{shop.my.name}</strong> <span class="badge active">active</span>'
        in response.get_data(as_text=True)
    )

    before = flow.issued()["sso_sessions"]
    again = flow.token_set(web, rp, prompt="none")
    assert flow.issued()["sso_sessions"] == before == 1
    assert store_claims(again["access_token"]) == {
        "stores": held_in_db(shop.alice),
        **working_in(shop.my),
    }
    assert flow.jwt_payload(again["id_token"])["sid"] == flow.jwt_payload(first["id_token"])["sid"]
    assert flow.introspect(web, rp, first["access_token"])["active"] is True
    # An app that does not serve the chosen store's marketplace still lands in its own.
    lazada = flow.register("Lazada center", marketplaces=["lazada-sg"])
    assert store_claims(flow.token_set(web, lazada)["access_token"])["store"] == shop.lz.public_id


def test_r27_store_switcher_follows_a_local_next(web, shop, rp):
    sign_in(web, rp)
    back = "/oauth/authorize?" + urlencode(flow.authorize_params(rp, flow.pkce()[1]))
    response = switch(web, shop.lz.public_id, next=back)
    assert response.status_code == 302 and flow.location(response) == back
    assert db.session.scalar(select(SsoSession.active_store_id)) == shop.lz.id


@pytest.mark.parametrize("store", ["tw", "foreign", "unknown"])
def test_r27_store_switcher_refuses_a_store_not_held(web, shop, rp, store):
    sign_in(web, rp)
    wanted = "st_0000000000000000" if store == "unknown" else getattr(shop, store).public_id
    response = switch(web, wanted)
    assert response.status_code == 400
    assert "does not hold the store" in response.get_data(as_text=True)
    again = flow.token_set(web, rp, prompt="none")
    assert store_claims(again["access_token"])["store"] == shop.sg.public_id


def test_r27_store_switcher_refuses_a_post_without_its_csrf_token(web, shop, rp):
    sign_in(web, rp)
    response = web.post("/stores", data={"store": shop.my.public_id})
    assert response.status_code == 400
    assert db.session.scalar(select(SsoSession.active_store_id)) is None


# --- R27: token exchange (RFC 8693) ----------------------------------------------------------


@pytest.fixture
def alice_token(web, shop, rp) -> dict:
    token = sign_in(web, rp)
    assert store_claims(token["access_token"])["store"] == shop.sg.public_id
    return token


def test_r27_token_exchange_switches_store(web, shop, rp, alice_token):
    subject = alice_token["access_token"]
    response = exchange(web, rp, subject, shop.my.public_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    old, new = flow.jwt_payload(subject), flow.jwt_payload(body["access_token"])
    assert "id_token" not in body
    # issue 14: a refresh token only when the subject grant holds offline_access
    assert ("refresh_token" in body) == ("offline_access" in old["scope"].split())
    assert new["store"] == shop.my.public_id and new["marketplace"] == "shopee-my"
    for same in ("sub", "sid", "stores", "company", "account_type", "roles", "muted", "client_id"):
        assert new[same] == old[same], same
    assert new["jti"] != old["jti"] and set(new["scope"].split()) == set(old["scope"].split())

    introspected = flow.introspect(web, rp, body["access_token"])
    assert introspected["active"] is True and introspected["store"] == shop.my.public_id
    userinfo = flow.userinfo(web, body["access_token"]).get_json()
    assert {k: userinfo[k] for k in ("store", "marketplace")} == working_in(shop.my)
    assert flow.introspect(web, rp, subject)["active"] is True  # the subject token stays valid


def test_r27_token_exchange_may_narrow_the_scope_but_never_widen_it(web, shop, rp, alice_token):
    narrow = exchange(web, rp, alice_token["access_token"], shop.lz.public_id, scope="openid")
    assert narrow.status_code == 200 and narrow.get_json()["scope"] == "openid"
    app = flow.register("Wide", grant_types=EXCHANGING)
    small = flow.token_set(web, app, scope="openid")
    oauth_error(
        exchange(web, app, small["access_token"], shop.lz.public_id, scope="openid profile"),
        "invalid_scope",
    )


@dataclass
class Refusal:
    web: flow.Browser
    shop: Shop
    rp: flow.RP
    subject: str


def _deauthorized(r: Refusal) -> dict:
    stores.deauthorize_store(r.shop.owner, r.shop.lz)
    return {"store": r.shop.lz.public_id}


def _disabled(r: Refusal) -> dict:
    accounts.disable_sub_account(r.shop.owner, r.shop.alice)
    return {}


def _revoked(r: Refusal) -> dict:
    response = r.web.post(
        "/oauth/revoke",
        headers=r.rp.basic,
        data={"token": r.subject, "token_type_hint": "access_token"},
    )
    assert response.status_code == 200
    return {}


def _not_allowed(r: Refusal) -> dict:
    plain = flow.register("No exchange", grant_types=CODE_GRANTS)
    return {"rp": plain, "subject_token": flow.token_set(r.web, plain)["access_token"]}


REFUSALS = [
    pytest.param(lambda r: {"store": r.shop.tw.public_id}, "access_denied", id="store-not-held"),
    pytest.param(
        lambda r: {"store": r.shop.foreign.public_id}, "access_denied", id="other-company-store"
    ),
    pytest.param(_deauthorized, "access_denied", id="deauthorized-store"),
    pytest.param(_disabled, "invalid_grant", id="disabled-account"),
    pytest.param(
        lambda r: {"subject_token": resigned(r.subject, expires_in=-60)},
        "invalid_grant",
        id="expired-subject-token",
    ),
    pytest.param(_revoked, "invalid_grant", id="revoked-subject-token"),
    pytest.param(
        lambda r: {"subject_token": r.subject[:-4] + "AAAA"},
        "invalid_grant",
        id="forged-subject-token",
    ),
    pytest.param(_not_allowed, "unauthorized_client", id="client-not-allowed"),
    pytest.param(lambda r: {"store": None}, "invalid_request", id="no-store"),
    pytest.param(
        lambda r: {"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"},
        "invalid_request",
        id="not-an-access-token",
    ),
]


@pytest.mark.parametrize(("setup", "error"), REFUSALS)
def test_r27_token_exchange_refusals(web, shop, rp, alice_token, setup, error):
    """Each refusal says why (``error_description``) and issues nothing."""
    request = {"rp": rp, "subject_token": alice_token["access_token"], "store": shop.my.public_id}
    request.update(setup(Refusal(web, shop, rp, alice_token["access_token"])))
    before = flow.issued()
    oauth_error(exchange(web, **request), error)
    assert flow.issued() == before


def test_r27_expired_subject_token_is_only_refused_for_its_expiry(web, shop, rp, alice_token):
    """The crafted token differs from a valid one by ``exp`` alone: the same claims re-signed
    with a future ``exp`` are accepted, so the refusal above is the expiry's."""
    fresh = resigned(alice_token["access_token"], expires_in=60)
    assert exchange(web, rp, fresh, shop.my.public_id).status_code == 200


# --- R10 / R11: changes take effect at once --------------------------------------------------


def test_r10_deauthorized_store_tokens_are_inactive_and_cannot_refresh(web, shop, rp):
    """alice's and the owner's tokens for sg stop at once; alice's token for my keeps working,
    and she can no longer exchange into sg. Her default moves to the store given next (R10)."""
    in_sg = sign_in(web, rp)
    in_my = flow.token_set(web, rp, store=shop.my.public_id)
    exchanged_into_sg = exchange(web, rp, in_my["access_token"], shop.sg.public_id).get_json()
    owner_web = flow.browser(web.application)
    owner_in_sg = sign_in(owner_web, rp, "acme", store=shop.sg.public_id)
    for token in (in_sg, in_my, exchanged_into_sg, owner_in_sg):
        assert flow.introspect(web, rp, token["access_token"])["active"] is True

    stores.deauthorize_store(shop.owner, shop.sg)

    for token in (in_sg, exchanged_into_sg, owner_in_sg):
        assert flow.introspect(web, rp, token["access_token"]) == {"active": False}
        assert flow.userinfo(web, token["access_token"]).status_code == 401
    for token in (in_sg, owner_in_sg):
        oauth_error(flow.refresh(web, rp, token["refresh_token"]), "invalid_grant", described=False)
    oauth_error(exchange(web, rp, in_my["access_token"], shop.sg.public_id), "access_denied")

    assert flow.introspect(web, rp, in_my["access_token"])["active"] is True
    refreshed = flow.refresh(web, rp, in_my["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    assert store_claims(refreshed.get_json()["access_token"]) == {
        "stores": [shop.my.public_id, shop.lz.public_id],
        **working_in(shop.my),
    }
    again = flow.token_set(web, rp, prompt="none")  # the session falls back to the new default
    assert store_claims(again["access_token"])["store"] == shop.my.public_id


def test_r11_store_removed_from_a_sub_account_stops_its_tokens_for_that_store_only(web, shop, rp):
    """Removing sg from alice: her sg tokens go inactive and cannot refresh or exchange into sg;
    her my token and bob's sg token stay active."""
    alice_sg = sign_in(web, rp)
    alice_my = exchange(web, rp, alice_sg["access_token"], shop.my.public_id).get_json()
    bob_sg = sign_in(flow.browser(web.application), rp, "acme:bob", store=shop.sg.public_id)

    stores.assign_stores(shop.owner, [shop.alice], [shop.sg], "remove")

    assert flow.introspect(web, rp, alice_sg["access_token"]) == {"active": False}
    oauth_error(flow.refresh(web, rp, alice_sg["refresh_token"]), "invalid_grant", described=False)
    oauth_error(exchange(web, rp, alice_my["access_token"], shop.sg.public_id), "access_denied")
    assert flow.introspect(web, rp, alice_my["access_token"])["active"] is True
    assert flow.introspect(web, rp, bob_sg["access_token"])["active"] is True
    assert flow.refresh(web, rp, bob_sg["refresh_token"]).status_code == 200


def test_r11_code_issued_for_a_removed_store_cannot_be_redeemed(web, shop, rp):
    sign_in(web, rp)
    verifier, challenge = flow.pkce()
    code = flow.get_code(web, rp, challenge, store=shop.lz.public_id)
    stores.assign_stores(shop.owner, [shop.alice], [shop.lz], "remove")
    oauth_error(flow.exchange(web, rp, code, verifier), "invalid_grant", described=False)


def test_r10_session_switched_to_a_removed_store_falls_back_to_the_default(web, shop, rp):
    sign_in(web, rp)
    assert switch(web, shop.lz.public_id).status_code == 200
    stores.assign_stores(shop.owner, [shop.alice], [shop.lz], "remove")
    again = flow.token_set(web, rp, prompt="none")
    assert store_claims(again["access_token"]) == {
        "stores": [shop.sg.public_id, shop.my.public_id],
        **working_in(shop.sg),
    }


# --- end to end over real HTTP ---------------------------------------------------------------


CALLBACK = "http://127.0.0.1:9/{}/callback"  # never fetched
SCOPE = "openid profile email"


def _relying_party(name: str, marketplaces: list[str], grant_types: list[str]) -> OAuth2Session:
    client, secret = clients.create_client(
        name,
        redirect_uris=[CALLBACK.format(name)],
        marketplaces=marketplaces,
        grant_types=grant_types,
    )
    return OAuth2Session(
        client.client_id,
        secret,
        scope=SCOPE,
        redirect_uri=CALLBACK.format(name),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def _verified(token: str, metadata: dict) -> dict:
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token, keys, algorithms=["ES256", "RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]}, exp={"essential": True}
    ).validate(decoded.claims)
    return decoded.claims


def _code_flow(
    oauth: OAuth2Session, browser: HttpBrowser, metadata: dict, login: tuple[str, str] | None = None
) -> dict:
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(20)
    )
    target, params = browser.go(url, login)
    assert target.startswith(oauth.redirect_uri + "?") and params["state"] == state, params
    return dict(
        oauth.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
    )


def test_r26_r27_one_sign_in_two_marketplace_apps_and_token_exchange_over_http(live_server, shop):
    """A Shopee seller center (SG and MY, may exchange) and a Lazada console, over real HTTP:
    alice signs in once with her password, the second app gets a code with no prompt, token
    exchange moves the first app to her MY store, and stores she does not hold are refused."""
    metadata = requests.get(f"{live_server}/.well-known/openid-configuration", timeout=10).json()
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]
    assert set(STORE_CLAIMS) <= set(metadata["claims_supported"])
    shopee = _relying_party("shopee", ["shopee-sg", "shopee-my"], EXCHANGING)
    lazada = _relying_party("lazada", ["lazada-sg"], CODE_GRANTS)
    browser = HttpBrowser(live_server)
    held = held_in_db(shop.alice)

    first = _code_flow(shopee, browser, metadata, ("acme:alice", PASSWORD))
    assert browser.password_prompts == 1
    id_token = _verified(first["id_token"], metadata)
    assert id_token["preferred_username"] == "acme:alice"
    assert {k: id_token[k] for k in STORE_CLAIMS} == {"stores": held, **working_in(shop.sg)}

    second = _code_flow(lazada, browser, metadata)  # one session: no password this time
    assert browser.password_prompts == 1
    lazada_id = _verified(second["id_token"], metadata)
    assert (lazada_id["sub"], lazada_id["sid"]) == (id_token["sub"], id_token["sid"])
    assert {k: lazada_id[k] for k in STORE_CLAIMS} == {"stores": held, **working_in(shop.lz)}

    switched = dict(
        shopee.fetch_token(
            metadata["token_endpoint"],
            grant_type=TOKEN_EXCHANGE,
            subject_token=first["access_token"],
            subject_token_type=ACCESS_TOKEN_TYPE,
            store=shop.my.public_id,
        )
    )
    assert switched["issued_token_type"] == ACCESS_TOKEN_TYPE and "refresh_token" not in switched
    access = _verified(switched["access_token"], metadata)
    assert access["sub"] == id_token["sub"]
    assert {k: access[k] for k in STORE_CLAIMS} == {"stores": held, **working_in(shop.my)}
    userinfo = shopee.get(metadata["userinfo_endpoint"], timeout=10).json()  # the new token
    assert (userinfo["sub"], userinfo["store"]) == (id_token["sub"], shop.my.public_id)
    introspected = shopee.introspect_token(
        metadata["introspection_endpoint"], token=switched["access_token"]
    ).json()
    assert introspected["active"] is True and introspected["store"] == shop.my.public_id

    for refused in (shop.foreign, shop.tw):  # another company's store; a store not held
        with pytest.raises(OAuthError) as error:
            shopee.fetch_token(
                metadata["token_endpoint"],
                grant_type=TOKEN_EXCHANGE,
                subject_token=first["access_token"],
                subject_token_type=ACCESS_TOKEN_TYPE,
                store=refused.public_id,
            )
        assert error.value.error == "access_denied" and error.value.description


def test_r27_malformed_claims_request_is_an_invalid_request(ctx):
    """A claims parameter that is not JSON is the app's mistake (invalid_request), not a refusal."""
    from idp.demo import load_demo

    list(load_demo())
    web = flow.browser(ctx)
    rp = flow.register("Seller center")
    flow.sign_in(web, "acme:alice", "alice-staff-pw")
    response = web.get(
        "/oauth/authorize",
        query_string=flow.authorize_params(rp, flow.pkce()[1], claims="not json"),
    )
    query = flow.query(flow.location(response))
    assert query["error"] == "invalid_request" and "not valid JSON" in query["error_description"]


# --- issue 14: the rest of token exchange (RFC 8693): audience, actor, refresh ----------------


@pytest.fixture
def wallet(ctx, rp) -> flow.RP:
    """Another app of the provider (the wallet service), which lets the seller center exchange
    tokens for it, with its home page at https://wallet.example/app."""
    return flow.register(
        "Wallet", exchangeable_by=[rp.client_id], client_uri="https://wallet.example/app"
    )


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda wallet: {"audience": wallet.client_id}, id="audience"),
        pytest.param(lambda w: {"resource": "https://wallet.example/app/api"}, id="resource"),
        pytest.param(
            lambda wallet: {"audience": wallet.client_id, "resource": "https://wallet.example/app"},
            id="both",
        ),
    ],
)
def test_rfc8693_audience_or_resource_names_the_app_the_token_is_for(
    web, shop, rp, wallet, alice_token, target
):
    response = exchange(web, rp, alice_token["access_token"], shop.my.public_id, **target(wallet))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    claims = flow.jwt_payload(body["access_token"])
    assert claims["aud"] == wallet.client_id and claims["client_id"] == rp.client_id
    assert claims["store"] == shop.my.public_id
    assert "refresh_token" not in body  # a token for another app is never refreshed by this one
    # The wallet (a resource server in the audience) may check it.
    assert flow.introspect(web, wallet, body["access_token"])["active"] is True


def _second_app(rp):
    return {"audience": flow.register("Chat console").client_id}


TARGET_REFUSALS = [
    pytest.param(lambda rp, w: {"audience": "no-such-app"}, id="unknown-audience"),
    pytest.param(lambda rp, w: {"audience": _second_app(rp)["audience"]}, id="not-allowed"),
    pytest.param(lambda rp, w: {"resource": "https://elsewhere.example/"}, id="unknown-resource"),
    pytest.param(lambda rp, w: {"resource": "wallet.example/app"}, id="relative-resource"),
    pytest.param(lambda rp, w: {"resource": "https://wallet.example/app#x"}, id="fragment"),
    pytest.param(
        lambda rp, w: {"audience": rp.client_id, "resource": "https://wallet.example/app"},
        id="different-apps",
    ),
]


@pytest.mark.parametrize("target", TARGET_REFUSALS)
def test_rfc8693_an_audience_that_cannot_be_served_is_invalid_target(
    web, shop, rp, wallet, alice_token, target
):
    before = flow.issued()
    request = target(rp, wallet)
    oauth_error(
        exchange(web, rp, alice_token["access_token"], shop.my.public_id, **request),
        "invalid_target",
    )
    assert flow.issued() == before


def test_rfc8693_two_audiences_are_refused(web, shop, rp, wallet, alice_token):
    data = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", alice_token["access_token"]),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("store", shop.my.public_id),
        ("audience", wallet.client_id),
        ("audience", rp.client_id),
    ]
    response = web.post(
        "/oauth/token",
        headers={**rp.basic, "Content-Type": "application/x-www-form-urlencoded"},
        data=urlencode(data),
    )
    oauth_error(response, "invalid_target")


def test_rfc8693_actor_token_gives_an_act_claim_nested_along_a_chain(web, shop, rp, alice_token):
    """bob (signed in to the same app) acts for alice; exchanged again with the delegated token
    as actor, the earlier actor is kept nested (RFC 8693 4.1)."""
    bob = sign_in(flow.browser(web.application), rp, "acme:bob")
    bob_claims = flow.jwt_payload(bob["access_token"])
    response = exchange(
        web,
        rp,
        alice_token["access_token"],
        shop.sg.public_id,
        actor_token=bob["access_token"],
        actor_token_type=ACCESS_TOKEN_TYPE,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    claims = flow.jwt_payload(body["access_token"])
    alice = flow.jwt_payload(alice_token["access_token"])
    assert claims["sub"] == alice["sub"]
    assert claims["act"] == {"sub": bob_claims["sub"], "client_id": rp.client_id}
    assert "refresh_token" not in body  # delegated tokens are not refreshed
    assert flow.introspect(web, rp, body["access_token"])["act"] == claims["act"]

    chained = exchange(
        web,
        rp,
        alice_token["access_token"],
        shop.sg.public_id,
        actor_token=body["access_token"],
        actor_token_type=ACCESS_TOKEN_TYPE,
    ).get_json()
    assert flow.jwt_payload(chained["access_token"])["act"] == {
        "sub": alice["sub"],
        "client_id": rp.client_id,
        "act": claims["act"],
    }


def _actor_of_another_app(web, shop, rp):
    other = flow.register("Chat console")
    return {"actor_token": flow.token_set(web, other)["access_token"]}


def _actor_of_another_company(web, shop, rp):
    make_owner = flow.browser(web.application)
    return {"actor_token": sign_in(make_owner, rp, "globex")["access_token"]}


def _revoked_actor(web, shop, rp):
    token = sign_in(flow.browser(web.application), rp, "acme:bob")
    web.post("/oauth/revoke", headers=rp.basic, data={"token": token["refresh_token"]})
    return {"actor_token": token["access_token"]}


ACTOR_REFUSALS = [
    pytest.param(
        lambda *a: {"actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request", id="type-alone"
    ),
    pytest.param(
        lambda *a: {"actor_token": "x.y.z", "actor_token_type": None},
        "invalid_request",
        id="no-type",
    ),
    pytest.param(lambda *a: {"actor_token": "x.y.z"}, "invalid_grant", id="forged"),
    pytest.param(_actor_of_another_app, "invalid_grant", id="another-app"),
    pytest.param(_actor_of_another_company, "invalid_grant", id="another-company"),
    pytest.param(_revoked_actor, "invalid_grant", id="revoked"),
]


@pytest.mark.parametrize(("setup", "error"), ACTOR_REFUSALS)
def test_rfc8693_actor_token_refusals(web, shop, rp, alice_token, setup, error):
    extra = {"actor_token_type": ACCESS_TOKEN_TYPE, **setup(web, shop, rp)}
    before = flow.issued()
    oauth_error(exchange(web, rp, alice_token["access_token"], shop.my.public_id, **extra), error)
    assert flow.issued() == before


def test_rfc8693_exchanged_refresh_token_keeps_its_store_while_another_family_works_elsewhere(
    web, shop, rp, alice_token
):
    """Two tabs of one SSO session: the first works in sg (the sign-in's family), the second
    switched to my by exchange. Each refreshes in its own store, again and again."""
    first = alice_token
    assert "offline_access" in flow.jwt_payload(first["access_token"])["scope"].split()
    second = exchange(web, rp, first["access_token"], shop.my.public_id).get_json()
    assert "refresh_token" in second
    sid = flow.jwt_payload(first["access_token"])["sid"]
    for _ in range(2):
        second = flow.refresh(web, rp, second["refresh_token"]).get_json()
        first = flow.refresh(web, rp, first["refresh_token"]).get_json()
        in_second, in_first = (flow.jwt_payload(t["access_token"]) for t in (second, first))
        assert in_second["store"] == shop.my.public_id and in_first["store"] == shop.sg.public_id
        assert in_second["sid"] == in_first["sid"] == sid
        assert "refresh_token" in second and "refresh_token" in first

    # R10: the store taken away, the exchanged family stops; the other tab's goes on.
    stores.apply_assignment(shop.alice, [shop.sg, shop.lz], stores.RESET)
    db.session.commit()
    oauth_error(flow.refresh(web, rp, second["refresh_token"]), "invalid_grant", described=False)
    assert flow.refresh(web, rp, first["refresh_token"]).status_code == 200


def test_rfc8693_no_refresh_token_without_offline_access(web, shop, rp, alice_token):
    narrow = exchange(web, rp, alice_token["access_token"], shop.my.public_id, scope="openid")
    assert narrow.status_code == 200 and "refresh_token" not in narrow.get_json()
    online = sign_in(flow.browser(web.application), rp, scope="openid profile")
    body = exchange(web, rp, online["access_token"], shop.my.public_id).get_json()
    assert "access_token" in body and "refresh_token" not in body
