"""Interop: the provider over real HTTP on loopback, driven by independent client code (Authlib's
requests client for OAuth, ``requests`` as the browser, joserfc to check every JWT against the
published JWKS) — none of our own code on the client side. SPEC "What downstream apps see".

The user signs in on the HTML form like a browser would; the relying party's redirect URI is never
fetched, its code is read from the ``Location`` header."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from click.testing import CliRunner
from flask.cli import ScriptInfo
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

import idp.commands  # noqa: F401  (registers the subcommands on ``cli``)
from idp.cli import cli
from idp.demo import OWNER_PASSWORD, load_demo
from idp.oauth import clients
from idp.services import accounts, stores
from tests.live import HttpBrowser

pytest_plugins = ["tests.live"]  # live_server, live_app, logout_receiver

CALLBACK = "http://127.0.0.1:9/callback"  # never fetched
LOGGED_OUT = "http://127.0.0.1:9/logged-out"
SCOPE = "openid profile email"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
OWNER = ("acme", OWNER_PASSWORD)
ALICE = ("acme:alice", "alice-staff-pw")
DEMO_STORES = [
    "shopee-sg/1001",
    "shopee-my/2001",
    "lazada-sg/3001",
    "shopee-tw/4001",
    "taobao-cn/5001",
]


# --- the relying party and the browser --------------------------------------------------------


@pytest.fixture
def provider(live_server) -> dict:
    """OpenID Provider metadata, from discovery over HTTP."""
    response = requests.get(f"{live_server}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == live_server
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert metadata["backchannel_logout_supported"] is True
    return metadata


@pytest.fixture
def acme(ctx) -> None:
    list(load_demo())


def register(provider: dict, **options) -> OAuth2Session:
    """A client registered with the provider, as the relying party's OAuth library sees it."""
    client, secret = clients.create_client(
        "Interop app", redirect_uris=[CALLBACK], post_logout_redirect_uris=[LOGGED_OUT], **options
    )
    method = "none" if secret is None else "client_secret_basic"
    return OAuth2Session(
        client.client_id,
        secret,
        scope=SCOPE,
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )


# --- checking JWTs against the JWKS ------------------------------------------------------------


def jwks(provider: dict) -> dict:
    response = requests.get(provider["jwks_uri"], timeout=10)
    assert response.status_code == 200
    return response.json()


def verified(token: str, provider: dict, key=None, **expected) -> jwt.Token:
    """Signature checked against the JWKS fetched now; ``iss``, ``exp`` and ``expected`` claims
    checked by joserfc's registry (``aud`` matches when it lists the value)."""
    decoded = jwt.decode(
        token, key or KeySet.import_key_set(jwks(provider)), algorithms=["ES256", "RS256"]
    )
    options = {name: {"essential": True, "value": value} for name, value in expected.items()}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider["issuer"]},
        exp={"essential": True},
        iat={"essential": True},
        **options,
    ).validate(decoded.claims)
    return decoded


def half_hash(value: str) -> str:
    """OIDC Core 3.1.3.6 ``at_hash`` for the SHA-256 algorithms (ES256, RS256)."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


@dataclass
class SignIn:
    token: dict
    id_token: jwt.Token
    browser: HttpBrowser

    @property
    def claims(self) -> dict:
        return self.id_token.claims


def sign_in(
    oauth: OAuth2Session,
    provider: dict,
    login: tuple[str, str] | None = None,
    browser: HttpBrowser | None = None,
) -> SignIn:
    """Authorization code with PKCE (S256), then the ID token checked as OIDC Core 3.1.3.7 says."""
    browser = browser or HttpBrowser(provider["issuer"])
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = oauth.create_authorization_url(
        provider["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    _, callback = browser.go(url, login)
    assert callback["state"] == state and "code" in callback, callback
    token = oauth.fetch_token(
        provider["token_endpoint"], code=callback["code"], code_verifier=verifier
    )
    id_token = verified(
        token["id_token"],
        provider,
        aud=oauth.client_id,
        nonce=nonce,
        auth_time=None,
        sid=None,
        sub=None,
    )
    assert id_token.claims["auth_time"] <= id_token.claims["iat"] <= time.time() + 5
    assert id_token.claims["at_hash"] == half_hash(token["access_token"])
    return SignIn(token, id_token, browser)


def introspect(oauth: OAuth2Session, provider: dict, token: str) -> dict:
    response = oauth.introspect_token(provider["introspection_endpoint"], token=token)
    assert response.status_code == 200
    return response.json()


def refused_grant(oauth: OAuth2Session, provider: dict, refresh_token: str) -> str:
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(provider["token_endpoint"], refresh_token=refresh_token)
    return refused.value.error


# --- the flows ----------------------------------------------------------------------------------


def expected_claims(login: str) -> dict:
    """What SPEC's claim table says tokens carry for the demo company's accounts."""
    owner = accounts.find_by_login_name("acme")
    ids = {ref: stores.get_store(owner, ref).public_id for ref in DEMO_STORES}
    landing = {"store": ids["shopee-sg/1001"], "marketplace": "shopee-sg", "muted": False}
    if login == "acme":  # the main account holds every store and lands in the first one
        return {
            "preferred_username": "acme",
            "account_type": "main",
            "roles": ["owner"],
            "stores": list(ids.values()),
            "groups": [],
            **landing,
        }
    return {
        "preferred_username": "acme:alice",
        "account_type": "sub",
        **landing,  # R9 default
        "roles": ["Customer Service"],
        "permissions": ["chat:read", "chat:send", "inquiries:own", "orders:view", "refunds:handle"],
        "stores": [ids["shopee-sg/1001"], ids["shopee-my/2001"], ids["lazada-sg/3001"]],
        "groups": [f"{ids['shopee-sg/1001']}/Pre-sale"],
    }


@pytest.mark.parametrize("login", [OWNER, ALICE], ids=["main", "sub"])
def test_full_flow_over_http(provider, acme, logout_receiver, login):
    """discovery → code + PKCE → ID token on the JWKS → userinfo → refresh → introspect → revoke
    → RP-initiated logout → back-channel logout to a real receiver → prompt=none login_required."""
    expected = expected_claims(login[0])
    account = accounts.find_by_login_name(login[0])
    oauth = register(provider, backchannel_logout_uri=logout_receiver.url)

    first = sign_in(oauth, provider, login)
    claims = first.claims
    assert claims["sub"] == account.public_id
    assert {k: claims[k] for k in expected} == expected
    assert claims["company"] == {"id": account.company.public_id, "name": "acme"}
    if login == OWNER:
        assert {"products:edit", "orders:ship"} <= set(claims["permissions"])

    userinfo = oauth.get(provider["userinfo_endpoint"], timeout=10)
    assert userinfo.status_code == 200
    assert {k: userinfo.json()[k] for k in (*expected, "sub", "company")} == {
        k: claims[k] for k in (*expected, "sub", "company")
    }

    # Refresh: rotated; presenting the old one again revokes the whole family (new one included).
    second = dict(
        oauth.refresh_token(provider["token_endpoint"], refresh_token=first.token["refresh_token"])
    )
    assert second["refresh_token"] != first.token["refresh_token"]
    active = introspect(oauth, provider, second["access_token"])
    assert active["active"] is True and active["username"] == login[0]
    assert active["sub"] == account.public_id and active["client_id"] == oauth.client_id

    revoked = oauth.revoke_token(
        provider["revocation_endpoint"],
        token=second["access_token"],
        token_type_hint="access_token",
    )
    assert revoked.status_code == 200
    assert introspect(oauth, provider, second["access_token"]) == {"active": False}
    assert refused_grant(oauth, provider, first.token["refresh_token"]) == "invalid_grant"
    assert refused_grant(oauth, provider, second["refresh_token"]) == "invalid_grant"

    # RP-initiated logout, back to a registered address with the state.
    bye = first.browser.http.get(
        provider["end_session_endpoint"],
        params={
            "id_token_hint": first.token["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
            "state": "bye-42",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert bye.status_code == 302
    assert bye.headers["Location"] == f"{LOGGED_OUT}?state=bye-42"

    url, state = oauth.create_authorization_url(
        provider["authorization_endpoint"], code_verifier=generate_token(48), prompt="none"
    )
    _, silent = first.browser.go(url)
    assert (silent["error"], silent["state"]) == ("login_required", state)

    [delivery] = logout_receiver.wait_for(1)
    assert delivery["content_type"].startswith("application/x-www-form-urlencoded")
    logout = verified(
        delivery["logout_token"],
        provider,
        aud=oauth.client_id,
        sub=claims["sub"],
        sid=claims["sid"],
        jti=None,
    )
    assert logout.header["typ"] == "logout+jwt"
    assert logout.claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in logout.claims  # Back-Channel Logout 1.0, 2.4


def test_public_client_uses_pkce_without_a_secret(provider, acme):
    oauth = register(provider, client_type="public")
    assert oauth.client_secret is None
    flow = sign_in(oauth, provider, ALICE)
    assert flow.claims["preferred_username"] == "acme:alice"
    refreshed = oauth.refresh_token(
        provider["token_endpoint"], refresh_token=flow.token["refresh_token"]
    )
    assert refreshed["refresh_token"] != flow.token["refresh_token"]

    url, state = oauth.create_authorization_url(provider["authorization_endpoint"])  # no PKCE
    _, refused = flow.browser.go(url)
    assert (refused["error"], refused["state"]) == ("invalid_request", state)


def test_rs256_client_id_token_verifies_with_the_rsa_key(provider, acme):
    oauth = register(provider, id_token_alg="RS256")
    flow = sign_in(oauth, provider, OWNER)
    assert flow.id_token.header["alg"] == "RS256"
    [jwk] = [k for k in jwks(provider)["keys"] if k["kid"] == flow.id_token.header["kid"]]
    assert jwk["kty"] == "RSA"
    verified(flow.token["id_token"], provider, RSAKey.import_key(jwk), aud=oauth.client_id)


def test_token_signed_before_key_rotation_still_verifies(provider, acme, live_app, monkeypatch):
    """``idp keys rotate`` on the app the server runs: the old key stays in the JWKS, old tokens
    keep verifying (and introspect active), and new tokens are signed with the new key."""
    oauth = register(provider)
    before = sign_in(oauth, provider, OWNER)
    old_kid = before.id_token.header["kid"]

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # FlaskGroup sets it; undone after the test
    with live_app.app_context():  # else the command would run in the test app already pushed
        result = CliRunner().invoke(
            cli, ["keys", "rotate"], obj=ScriptInfo(create_app=lambda: live_app)
        )
    assert result.exit_code == 0, result.output
    new_kid = re.search(r"now signing ES256 with (\S+)", result.output).group(1)

    kids = {k["kid"] for k in jwks(provider)["keys"]}
    assert {old_kid, new_kid} <= kids and old_kid != new_kid
    verified(before.token["id_token"], provider, aud=oauth.client_id)
    verified(before.token["access_token"], provider, aud=oauth.client_id)
    assert introspect(oauth, provider, before.token["access_token"])["active"] is True

    after = sign_in(oauth, provider, browser=before.browser)  # single sign-on: no password
    assert after.id_token.header["kid"] == new_kid
    assert verified(after.token["access_token"], provider).header["kid"] == new_kid
