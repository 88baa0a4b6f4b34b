"""Refusals at the protocol endpoints (RFC 6749, RFC 7636, RFC 6750, RFC 7662, OIDC Core): each is a
clear OAuth error, nothing is issued, and nothing malformed ever reaches a 500."""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta

import pytest

from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models.base import utcnow
from idp.services import accounts
from tests import oidc_flow as flow

pytest_plugins = ["tests.oidc_fixtures"]  # owner, alice, rp, signed_in


def oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body
    return body


def redirected_error(response, rp: flow.RP, error: str) -> dict:
    """An error sent back to the (registered) redirect URI, with the request's state."""
    assert response.status_code == 302
    target = flow.location(response)
    assert target.startswith(rp.redirect_uri + "?"), target
    params = flow.query(target)
    assert params["error"] == error and "code" not in params
    assert params["state"].startswith("st-")
    return params


# --- /oauth/authorize --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/cb",
        flow.REDIRECT_URI + "/",
        flow.REDIRECT_URI + "?next=1",
        flow.REDIRECT_URI + "#x",
        "https://APP.example/cb",
        "http://app.example/cb",
    ],
    ids=["other-host", "trailing-slash", "extra-query", "fragment", "host-case", "http"],
)
def test_unregistered_redirect_uri_is_an_error_page_never_a_redirect(signed_in, rp, redirect_uri):
    before = flow.issued()
    response = signed_in.get(
        "/oauth/authorize",
        query_string=flow.authorize_params(rp, flow.pkce()[1], redirect_uri=redirect_uri),
    )
    assert response.status_code == 400
    assert "Location" not in response.headers  # exact match or nothing: no open redirector
    page = response.get_data(as_text=True)
    assert "invalid_request" in page and "code=" not in page
    assert flow.issued() == before


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"code_challenge_method": "plain"}, "plain"),
        ({"code_challenge": None, "code_challenge_method": None}, "code_challenge"),
    ],
    ids=["plain-pkce", "no-code-challenge"],
)
def test_public_client_needs_s256_pkce(signed_in, extra, why):
    public = flow.register("Mobile app", client_type="public")
    before = flow.issued()
    response = flow.authorize(signed_in, public, flow.pkce()[1], **extra)
    params = redirected_error(response, public, "invalid_request")
    assert why in params["error_description"]
    assert flow.issued() == before


def test_prompt_none_without_a_session_is_login_required(web, rp, alice):
    response = flow.authorize(web, rp, flow.pkce()[1], prompt="none", state="st-keep")
    assert redirected_error(response, rp, "login_required")["state"] == "st-keep"
    assert flow.issued() == {"authorization_codes": 0, "issued_tokens": 0, "sso_sessions": 0}


def test_r6_sub_account_cannot_sign_in_to_a_consumer_app(ctx, web, owner, alice, make):
    buyer_app = flow.register("Buyer app", app_type="consumer")
    response = flow.authorize(
        web, buyer_app, flow.pkce()[1], login="acme:alice", password=make.PASSWORD, state="st-buyer"
    )
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "staff" in page.lower()
    back = flow.query(flow.link(page))
    assert flow.link(page).startswith(buyer_app.redirect_uri + "?")
    assert back["error"] == "access_denied" and back["state"] == "st-buyer" and "code" not in back
    assert db.session.query(AuthorizationCode).count() == 0

    owner_web = flow.browser(ctx)  # the main account may use buyer apps
    code = flow.get_code(owner_web, buyer_app, flow.pkce()[1], login="acme", password=make.PASSWORD)
    assert code


# --- /oauth/token: authorization code ----------------------------------------------------------


@pytest.mark.parametrize(
    ("verifier", "status", "error"),
    [
        (None, 400, "invalid_request"),
        ("wrong-" + "v" * 50, 400, "invalid_grant"),
    ],
    ids=["missing-verifier", "wrong-verifier"],
)
def test_code_needs_its_pkce_verifier(signed_in, rp, verifier, status, error):
    code = flow.get_code(signed_in, rp, flow.pkce()[1])
    oauth_error(flow.exchange(signed_in, rp, code, verifier), status, error)
    assert flow.issued()["issued_tokens"] == 0


def test_code_replay_is_refused_and_revokes_what_the_first_use_issued(signed_in, rp):
    verifier, challenge = flow.pkce()
    code = flow.get_code(signed_in, rp, challenge)
    first = flow.exchange(signed_in, rp, code, verifier).get_json()
    assert flow.introspect(signed_in, rp, first["access_token"])["active"] is True

    oauth_error(flow.exchange(signed_in, rp, code, verifier), 400, "invalid_grant")
    assert flow.introspect(signed_in, rp, first["access_token"]) == {"active": False}
    assert flow.introspect(signed_in, rp, first["refresh_token"]) == {"active": False}
    oauth_error(flow.refresh(signed_in, rp, first["refresh_token"]), 400, "invalid_grant")
    assert flow.issued()["issued_tokens"] == 1


def test_expired_code_is_invalid_grant(signed_in, rp):
    verifier, challenge = flow.pkce()
    code = flow.get_code(signed_in, rp, challenge)
    row = db.session.query(AuthorizationCode).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    oauth_error(flow.exchange(signed_in, rp, code, verifier), 400, "invalid_grant")
    assert flow.issued()["issued_tokens"] == 0


def test_code_for_another_client_or_redirect_uri_is_invalid_grant(signed_in, rp):
    other = flow.register("Other app")
    verifier, challenge = flow.pkce()
    code = flow.get_code(signed_in, rp, challenge)
    oauth_error(flow.exchange(signed_in, other, code, verifier), 400, "invalid_grant")
    code = flow.get_code(signed_in, rp, challenge)
    wrong_uri = flow.exchange(signed_in, rp, code, verifier, redirect_uri=flow.REDIRECT_URI + "/")
    oauth_error(wrong_uri, 400, "invalid_grant")  # RFC 6749 5.2
    assert flow.issued()["issued_tokens"] == 0


def test_wrong_client_secret_is_invalid_client_and_leaves_the_code_usable(signed_in, rp):
    verifier, challenge = flow.pkce()
    code = flow.get_code(signed_in, rp, challenge)
    impostor = flow.RP(rp.client_id, "not-the-secret")
    response = flow.exchange(signed_in, impostor, code, verifier)
    oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert flow.issued()["issued_tokens"] == 0
    assert flow.exchange(signed_in, rp, code, verifier).status_code == 200


@pytest.mark.parametrize(
    "grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"]
)
def test_unsupported_grant_type(web, rp, grant_type):
    response = web.post(
        "/oauth/token",
        headers=rp.basic,
        data={"grant_type": grant_type, "username": "acme", "password": "x"},
    )
    oauth_error(response, 400, "unsupported_grant_type")


# --- /oauth/token: refresh, client credentials -------------------------------------------------


def test_refresh_token_reuse_revokes_the_whole_family(signed_in, rp):
    first = flow.token_set(signed_in, rp)
    second = flow.refresh(signed_in, rp, first["refresh_token"])
    assert second.status_code == 200
    newest = second.get_json()

    oauth_error(flow.refresh(signed_in, rp, first["refresh_token"]), 400, "invalid_grant")
    oauth_error(flow.refresh(signed_in, rp, newest["refresh_token"]), 400, "invalid_grant")
    assert flow.introspect(signed_in, rp, newest["access_token"]) == {"active": False}
    assert flow.issued()["issued_tokens"] == 2


def test_client_credentials_for_a_confidential_client_with_that_grant(web):
    service = flow.register("Order sync", grant_types=["client_credentials"], scope="openid")
    response = web.post(
        "/oauth/token", headers=service.basic, data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    claims = flow.jwt_payload(body["access_token"])
    assert claims["sub"] == claims["client_id"] == service.client_id
    assert "preferred_username" not in claims


def test_client_credentials_refused_for_a_client_without_that_grant(web, rp):
    response = web.post("/oauth/token", headers=rp.basic, data={"grant_type": "client_credentials"})
    oauth_error(response, 400, "unauthorized_client")
    assert flow.issued()["issued_tokens"] == 0


# --- R5 at introspection, refresh and userinfo -------------------------------------------------


def test_r5_disabled_account_tokens_stop_working_at_once(signed_in, rp, owner, alice, make):
    tokens = flow.token_set(signed_in, rp)
    assert flow.introspect(signed_in, rp, tokens["access_token"])["active"] is True
    assert flow.userinfo(signed_in, tokens["access_token"]).status_code == 200

    accounts.disable_sub_account(owner, alice)
    assert flow.introspect(signed_in, rp, tokens["access_token"]) == {"active": False}
    assert flow.introspect(signed_in, rp, tokens["refresh_token"]) == {"active": False}
    oauth_error(flow.refresh(signed_in, rp, tokens["refresh_token"]), 400, "invalid_grant")
    response = flow.userinfo(signed_in, tokens["access_token"])
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- userinfo and introspection ----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer garbage",
        "Bearer a.b.c",
        "Basic YWNtZTpwdw==",
        "Bearer " + "x" * 10_000,
    ],
    ids=["none", "garbage", "fake-jwt", "basic", "oversized"],
)
def test_userinfo_without_a_valid_token_is_401_with_a_bearer_challenge(web, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = web.get("/oauth/userinfo", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert "sub" not in body
    if authorization and authorization.startswith("Bearer "):
        assert body["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_introspection_by_a_public_client_is_refused(signed_in, rp):
    tokens = flow.token_set(signed_in, rp)
    public = flow.register("Mobile app", client_type="public")
    response = signed_in.post(
        "/oauth/introspect", data={"token": tokens["access_token"], "client_id": public.client_id}
    )
    body = oauth_error(response, 401, "invalid_client")
    assert "active" not in body and "sub" not in body


# --- malformed input ---------------------------------------------------------------------------

JUNK = "\x00\u202e\ufffe<script>" + "é" * 10


FORM = "application/x-www-form-urlencoded"
MALFORMED = {
    "token-10k-code": (
        "post",
        "/oauth/token",
        {
            "data": {
                "grant_type": "authorization_code",
                "code": "c" * 10_000,
                "redirect_uri": flow.REDIRECT_URI,
                "code_verifier": "v" * 10_000,
            }
        },
    ),
    "token-not-utf8": (
        "post",
        "/oauth/token",
        {"data": b"grant_type=\xff\xfe&code=\x00\xc3(", "content_type": FORM},
    ),
    "token-no-params": ("post", "/oauth/token", {"data": {}}),
    "token-refresh-missing": ("post", "/oauth/token", {"data": {"grant_type": "refresh_token"}}),
    "token-refresh-10k": (
        "post",
        "/oauth/token",
        {"data": {"grant_type": "refresh_token", "refresh_token": "r" * 10_000}},
    ),
    "token-junk-code": (
        "post",
        "/oauth/token",
        {"data": {"grant_type": "authorization_code", "code": JUNK}},
    ),
    "token-json-body": ("post", "/oauth/token", {"json": {"grant_type": "client_credentials"}}),
    "token-repeated-code": (
        "post",
        "/oauth/token",
        {"data": "grant_type=authorization_code&code=a&code=b", "content_type": FORM},
    ),
    "token-10k-client-id": (
        "post",
        "/oauth/token",
        {
            "data": {
                "grant_type": "client_credentials",
                "client_id": "c" * 10_000,
                "client_secret": "s",
            }
        },
    ),
    "token-nul-client-id-post": (
        "post",
        "/oauth/token",
        {"data": {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s"}},
    ),
    "token-nul-client-id-basic": (
        "post",
        "/oauth/token",
        {
            "data": {"grant_type": "client_credentials"},
            "headers": {"Authorization": "Basic " + base64.b64encode(b"a\x00b:s").decode()},
        },
    ),
    "introspect-10k-token": ("post", "/oauth/introspect", {"data": {"token": "t" * 10_000}}),
    "introspect-no-token": ("post", "/oauth/introspect", {"data": {}}),
    "revoke-junk-token": ("post", "/oauth/revoke", {"data": {"token": JUNK}}),
    "authorize-no-params": ("get", "/oauth/authorize", {}),
    "authorize-10k-client-id": (
        "get",
        "/oauth/authorize",
        {"query_string": {"client_id": "c" * 10_000, "response_type": "code"}},
    ),
    "authorize-not-utf8": ("get", "/oauth/authorize?client_id=%ff%fe%00&response_type=%c3%28", {}),
    "authorize-junk": (
        "get",
        "/oauth/authorize",
        {"query_string": {"client_id": JUNK, "redirect_uri": JUNK}},
    ),
    "logout-junk-client": (
        "get",
        "/oauth/logout",
        {
            "query_string": {
                "client_id": JUNK,
                "post_logout_redirect_uri": "https://app.example/bye",
            }
        },
    ),
    "login-junk": (
        "post",
        "/login",
        {"data": {"login": JUNK, "password": "p" * 10_000, "next": "//evil.example"}},
    ),
    "userinfo-junk": ("get", "/oauth/userinfo", {"headers": {"Authorization": "Bearer " + JUNK}}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("auth", ["basic", "none"])
def test_malformed_or_oversized_input_never_gives_a_500(web, rp, alice, case, auth):
    method, path, kwargs = MALFORMED[case]
    kwargs = dict(kwargs)
    if (
        auth == "basic"
        and path.startswith("/oauth/")
        and method == "post"
        and "headers" not in kwargs
    ):
        kwargs["headers"] = rp.basic
    response = getattr(web, method)(path, **kwargs)
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code == 200:  # RFC 7662 2.2 / RFC 7009 2.2: an unknown token is no error
        assert path in ("/oauth/introspect", "/oauth/revoke") and auth == "basic", path
        assert response.get_json() in ({"active": False}, None, {})
    elif response.is_json:
        assert response.get_json()["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert flow.issued() == {"authorization_codes": 0, "issued_tokens": 0, "sso_sessions": 0}


@pytest.mark.parametrize(
    "login",
    [JUNK, "acme:" + JUNK, "a" * 10_000, "acme:\x00", "\x00:alice"],
    ids=["junk", "junk-sub-name", "10k", "nul-sub-name", "nul-company"],
)
def test_junk_login_names_at_the_form_are_refused_never_a_500(web, alice, login):
    response = flow.sign_in(web, login, "p" * 10_000)
    # NUL never reaches the database: refused up front (400); other junk is a failed sign-in
    expected = 400 if "\x00" in login else 401
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    assert flow.sso_cookie(web) is None and flow.issued()["sso_sessions"] == 0


@pytest.mark.parametrize("header", ["W10", "MQ", "bnVsbA", "W1tbW1tbW1tbW10"])
def test_hostile_jose_headers_are_refused_never_a_500(web, rp, header):
    """A token whose header is a JSON array, number or null: 401 at userinfo, inactive at
    introspection, 400 at logout; never a 500."""
    token = f"{header}.eyJ9.x"
    userinfo = web.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code == 401 and userinfo.get_json()["error"] == "invalid_token"
    introspected = web.post("/oauth/introspect", data={"token": token}, headers=rp.basic)
    assert introspected.status_code == 200 and introspected.get_json() == {"active": False}
    assert web.get("/oauth/logout", query_string={"id_token_hint": token}).status_code == 400


def test_deeply_nested_claims_request_is_an_invalid_request(signed_in, rp):
    _, challenge = flow.pkce()
    for claims in ("[" * 3000, "[" * 1000 + "]" * 1000):
        response = signed_in.get(
            "/oauth/authorize", query_string=flow.authorize_params(rp, challenge, claims=claims)
        )
        assert response.status_code == 302
        assert flow.query(flow.location(response))["error"] == "invalid_request"
    assert flow.issued()["authorization_codes"] == 0


def test_r6_consumer_app_cannot_exchange_a_staff_token(ctx, web, make):
    """R6 holds at token exchange too, not only at the authorization endpoint."""
    from idp.oauth import clients

    owner = make.company("acme")
    store = make.store(owner, "shopee-sg")
    make.staff(owner, "alice", stores_=[store])
    seller = flow.register()
    tokens = flow.token_set(web, seller, login="acme:alice", password=make.PASSWORD)
    buyer, secret = clients.create_client(
        "Buyer app",
        app_type="consumer",
        redirect_uris=["https://shop.example/cb"],
        grant_types=["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
    )
    # Even when the seller center lets the buyer app exchange its tokens, R6 refuses.
    clients.set_relations(clients.get_client(seller.client_id), exchangeable_by=[buyer.client_id])
    basic = base64.b64encode(f"{buyer.client_id}:{secret}".encode()).decode()
    response = web.post(
        "/oauth/token",
        headers={"Authorization": f"Basic {basic}"},
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": tokens["access_token"],
            "store": store.public_id,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "access_denied"
    assert "buyer apps" in response.get_json()["error_description"]


def test_tokens_of_a_disabled_client_are_inactive(ctx, web, make):
    from idp.models import Client

    owner = make.company("acme")
    make.staff(owner, "alice")
    rp = flow.register()
    checker = flow.register("Resource server", resource_server_for=[rp.client_id])
    tokens = flow.token_set(web, rp, login="acme:alice", password=make.PASSWORD)
    assert flow.introspect(web, checker, tokens["access_token"])["active"] is True
    db.session.query(Client).filter_by(client_id=rp.client_id).update({"disabled": True})
    db.session.commit()
    assert flow.introspect(web, checker, tokens["access_token"]) == {"active": False}
    assert flow.userinfo(web, tokens["access_token"]).status_code == 401


# --- issue 12: what the attacker's probe found ------------------------------------------------

RFC6749_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def described_safely(description: str) -> None:
    """RFC 6749 4.1.2.1 / 5.2: %x20-21 / %x23-5B / %x5D-7E only."""
    assert RFC6749_DESCRIPTION.fullmatch(description), description


@pytest.mark.parametrize(
    "extra",
    [
        {"response_type": "\t"},
        {"response_type": 'co"de'},
        {"store": "é"},
        {"store": 'a"b\\c\td'},
        {"scope": "openid 商品"},
    ],
    ids=["tab-response-type", "quote-response-type", "accented-store", "quote-store", "cjk-scope"],
)
def test_echoed_parameters_never_break_the_error_description(signed_in, rp, extra):
    """595 of the 654 5xx the fuzzing found: Authlib refuses to build an error whose description
    holds a character RFC 6749 does not allow, and these descriptions echo a parameter."""
    response = signed_in.get(
        "/oauth/authorize", query_string=flow.authorize_params(rp, flow.pkce()[1], **extra)
    )
    assert response.status_code in (302, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 302 and "error" in flow.query(flow.location(response)):
        described_safely(flow.query(flow.location(response)).get("error_description", ""))
    assert flow.issued()["authorization_codes"] == 0 or "scope" in extra


def test_a_redirect_uri_with_a_quote_is_an_error_page(signed_in, rp):
    response = signed_in.get(
        "/oauth/authorize",
        query_string=flow.authorize_params(rp, flow.pkce()[1], redirect_uri='https://a"b/cb'),
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_exchange_into_an_odd_store_name_is_a_clean_oauth_error(signed_in, web, ctx, make):
    from tests.store_sso_helpers import TOKEN_EXCHANGE, exchange

    rp = flow.register("Seller center", grant_types=["authorization_code", TOKEN_EXCHANGE])
    tokens = flow.token_set(signed_in, rp)
    for store in ("é", 'x"y', "\t", "商店" * 40):
        answer = exchange(web, rp, tokens["access_token"], store)
        assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
        body = answer.get_json()
        assert body["error"] in ("access_denied", "invalid_request", "invalid_grant")
        described_safely(body["error_description"])


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
@pytest.mark.parametrize("credentials", ["//46/w==", "wqk6w6k=", "/w==", "é:é"])
def test_basic_credentials_that_are_not_utf8_are_invalid_client(web, path, credentials):
    """``Basic //46/w==`` decodes to bytes that are no UTF-8 text: a client that does not
    authenticate, never a 500."""
    response = web.post(
        path,
        data={"grant_type": "client_credentials", "token": "t"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 401, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] == "invalid_client"


def test_an_overlong_nonce_is_an_invalid_request_not_a_500(signed_in, rp):
    response = signed_in.get(
        "/oauth/authorize", query_string=flow.authorize_params(rp, flow.pkce()[1], nonce="n" * 300)
    )
    params = redirected_error(response, rp, "invalid_request")
    assert "nonce" in params["error_description"] and "255" in params["error_description"]
    assert flow.issued()["authorization_codes"] == 0


@pytest.mark.parametrize("size", [1025, 70_000])
def test_an_overlong_state_is_never_echoed(signed_in, rp, size):
    response = signed_in.get(
        "/oauth/authorize",
        query_string=flow.authorize_params(rp, flow.pkce()[1], state="s" * size),
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert "'state' is longer than 1024 characters" in html.unescape(
        response.get_data(as_text=True)
    )
    text = response.get_data(as_text=True)
    assert "s" * 1025 not in text.split("<main", 1)[1]  # only the language switcher keeps it
    if size > 4096:
        assert "s" * 1025 not in text  # too long for the switcher to carry back


def test_the_longest_allowed_parameters_still_sign_in(signed_in, rp):
    from idp.oauth.config import AUTHORIZE_PARAM_LIMITS as LIMITS

    response = flow.authorize(
        signed_in, rp, flow.pkce()[1], state="s" * LIMITS["state"], nonce="n" * LIMITS["nonce"]
    )
    assert flow.code_from(response, rp)
    assert len(flow.location(response)) < 8192
