"""Journeys a new user takes, in a real browser (Chromium driven by Playwright) against the
provider served over HTTP (issue 12: each of these broke while 1,600 tests passed):

- register, activate from the email, and sign in to an app whose userinfo call then succeeds;
- sign out from the start page and from an app, with and without a redirect URI;
- enrol a second factor after one mistyped code.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests

from idp.extensions import db
from idp.models import OutboxMessage
from idp.oauth import clients
from tests import oidc_flow as flow
from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright

PASSWORD = "a fine long password"


@pytest.fixture
def app_client(ctx, live_server):  # noqa: F811
    """A seller center registered for the live provider, with its logout address."""
    client, secret = clients.create_client(
        "Seller center",
        redirect_uris=[f"{live_server}/rp/callback"],
        post_logout_redirect_uris=[f"{live_server}/rp/bye"],
    )
    return client, secret


def authorize_url(base: str, client, verifier_challenge: tuple[str, str], **extra) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": f"{base}/rp/callback",
        "scope": "openid profile email",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": verifier_challenge[1],
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{base}/oauth/authorize?{urlencode(params)}"


def redeem(base: str, client, secret: str, url: str, verifier: str) -> dict:
    """What the app's back end does with the code the browser brought back."""
    code = parse_qs(urlsplit(url).query)["code"][0]
    answer = requests.post(
        f"{base}/oauth/token",
        auth=(client.client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{base}/rp/callback",
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def sign_in(page, login: str, password: str) -> None:  # noqa: F811
    """Submit the sign-in form and return once the page it leads to has loaded: ``page.click``
    may return before the navigation has even started, and a read or a ``goto`` right after it
    would meet the form's page (or cancel the sign-in)."""
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def activation_path() -> str:
    db.session.expire_all()
    row = db.session.query(OutboxMessage).filter_by(kind="activation").one()
    return re.search(r"http://[^/]+(/activate/\S+)", row.text_body).group(1)


def test_register_activate_and_the_new_owners_first_app_works(page, live_server, app_client):  # noqa: F811
    client, secret = app_client
    page.goto(f"{live_server}/register")
    page.fill("input[name=company_name]", "newshop")
    page.fill("input[name=email]", "owner@newshop.example")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm_password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "owner@newshop.example" in page.inner_text("main")

    page.goto(live_server + activation_path())
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "active" in page.inner_text("main")

    pkce = flow.pkce()
    page.goto(authorize_url(live_server, client, pkce))
    sign_in(page, "newshop", PASSWORD)
    page.wait_for_url(f"{live_server}/rp/callback*")
    tokens = redeem(live_server, client, secret, page.url, pkce[0])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = requests.get(f"{live_server}/oauth/userinfo", headers=bearer, timeout=10)
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["preferred_username"] == "newshop"
    introspected = requests.post(
        f"{live_server}/oauth/introspect",
        auth=(client.client_id, secret),
        data={"token": tokens["access_token"]},
        timeout=10,
    ).json()
    assert introspected["active"] is True


@pytest.fixture
def alice(ctx, make):
    owner = make.company("acme")
    return make.staff(owner, "alice", stores_=[make.store(owner, "shopee-sg", name="Acme SG")])


def has_session(page) -> bool:  # noqa: F811
    return any(c["name"] == "idp_sso" for c in page.context.cookies())


def test_sign_out_from_the_start_page(page, live_server, alice, make):  # noqa: F811
    page.goto(f"{live_server}/")
    sign_in(page, "acme:alice", make.PASSWORD)
    page.wait_for_url(f"{live_server}/")
    assert "Acme SG" in page.inner_text("main")
    with page.expect_navigation():
        page.click("header >> text=Sign out")
    assert page.title() == "Sign out"
    with page.expect_navigation():
        page.click("main button:has-text('Sign out')")
    assert "You are signed out" in page.inner_text("main")
    assert not has_session(page)
    page.goto(f"{live_server}/")
    assert page.url == f"{live_server}/login"


@pytest.mark.parametrize("back", [True, False], ids=["with-redirect-uri", "without"])
def test_sign_out_from_an_app(page, live_server, alice, make, app_client, back):  # noqa: F811
    client, secret = app_client
    pkce = flow.pkce()
    page.goto(authorize_url(live_server, client, pkce))
    sign_in(page, "acme:alice", make.PASSWORD)
    page.wait_for_url(f"{live_server}/rp/callback*")
    id_token = redeem(live_server, client, secret, page.url, pkce[0])["id_token"]
    params = {"id_token_hint": id_token}
    if back:
        params.update(post_logout_redirect_uri=f"{live_server}/rp/bye", state="bye-1")
    page.goto(f"{live_server}/oauth/logout?{urlencode(params)}")
    if back:
        assert page.url == f"{live_server}/rp/bye?state=bye-1"
    else:
        assert "You are signed out" in page.inner_text("main")
    assert not has_session(page)


def test_enrol_a_second_factor_after_one_mistyped_code(page, live_server, alice, make):  # noqa: F811
    page.goto(f"{live_server}/login")
    sign_in(page, "acme:alice", make.PASSWORD)
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/account/security/totp")
    secret = page.inner_text("main code")
    authenticator = pyotp.TOTP(secret)
    wrong = f"{(int(authenticator.now()) + 1) % 1_000_000:06d}"
    page.fill("input[name=password]", make.PASSWORD)
    page.fill("input[name=code]", wrong)
    with page.expect_navigation():
        page.click("button:has-text('Turn on')")
    assert "not valid" in page.inner_text("[role=alert]")
    assert page.inner_text("main code") == secret  # the app already holds this one
    page.fill("input[name=password]", make.PASSWORD)  # a password is never sent back to fill in
    page.fill("input[name=code]", authenticator.now())
    with page.expect_navigation():
        page.click("button:has-text('Turn on')")
    assert "recovery" in page.inner_text("main").lower()
