"""A relying party and a browser for protocol tests: register a client through the real registry,
sign in through the real /login form, walk /oauth/authorize and redeem the code at /oauth/token.

``Browser`` runs every request in an application context of its own, as a server does. The
``ctx`` fixture keeps an application context open for the test body, and Flask reuses an open
context for test-client requests; then ``flask.g`` (where the SSO session is looked up once per
request) and the database session would outlive a request and leak into the next one."""

from __future__ import annotations

import base64
import contextvars
import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models import AuthorizationCode, IssuedToken, SsoSession
from idp.oauth import clients

REDIRECT_URI = "https://app.example/cb"
SCOPE = "openid profile email offline_access"
_addresses = itertools.count(1)


class Browser(FlaskClient):
    """A test client whose requests each get a fresh application context, from its own IP.
    Answers are read whole and closed, as a server does once it has sent them (work a view
    leaves for after its answer, ``call_on_close``, runs then)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


def browser(app: Flask) -> Browser:
    """A new browser (own cookie jar) with its own address, so per-IP sign-in counters of one
    test never throttle another."""
    n = next(_addresses)
    web = Browser(app, app.response_class, use_cookies=True)
    web.environ_base["REMOTE_ADDR"] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    return web


@dataclass(frozen=True)
class RP:
    """A registered relying party, as its developer holds it."""

    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT_URI

    @property
    def basic(self) -> dict[str, str]:
        """``client_secret_basic`` (RFC 6749 2.3.1)."""
        pair = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def register(name: str = "Seller center", *, redirect_uri: str = REDIRECT_URI, **options) -> RP:
    """A client registered with ``idp.oauth.clients.create_client`` (options pass through)."""
    client, secret = clients.create_client(name, redirect_uris=[redirect_uri], **options)
    return RP(client.client_id, secret, redirect_uri)


def pkce() -> tuple[str, str]:
    """An RFC 7636 pair: (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(rp: RP, challenge: str | None, **extra) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": SCOPE,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's form (``csrf_token``, ``next``)."""
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in fields}


def sign_in(web: FlaskClient, login: str, password: str, login_page: str = "/login?next=/"):
    """Fill in and submit the real login form; returns the POST's response."""
    page = web.get(login_page)
    assert page.status_code == 200, page.status_code
    fields = form_fields(page.get_data(as_text=True))
    return web.post("/login", data={**fields, "login": login, "password": password})


def link(html: str) -> str:
    """The first link of a page's content (after the top bar)."""
    content = html[html.index("<main") :] if "<main" in html else html
    return unescape(re.search(r'<a [^>]*href="([^"]+)"', content).group(1))


def location(response) -> str:
    return response.headers.get("Location", "")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize(
    web: FlaskClient,
    rp: RP,
    challenge: str | None,
    *,
    login: str | None = None,
    password: str | None = None,
    **extra,
):
    """GET /oauth/authorize; when sent to sign in and credentials are given, sign in through
    the form and come back. Returns the last response (the redirect to the app, or a page)."""
    response = web.get("/oauth/authorize", query_string=authorize_params(rp, challenge, **extra))
    if login is not None and urlsplit(location(response)).path == "/login":
        signed_in = sign_in(web, login, password, location(response))
        assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
        response = web.get(location(signed_in))
    return response


def code_from(response, rp: RP) -> str:
    """The code of a successful authorization response (RFC 6749 4.1.2)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert location(response).startswith(rp.redirect_uri + "?"), location(response)
    return query(location(response))["code"]


def get_code(web: FlaskClient, rp: RP, challenge: str | None, **kwargs) -> str:
    return code_from(authorize(web, rp, challenge, **kwargs), rp)


def exchange(web: FlaskClient, rp: RP, code: str, verifier: str | None, **extra):
    """POST the code to /oauth/token with Basic auth (form auth for a public client)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier,
        **extra,
    }
    headers = rp.basic if rp.secret else {}
    if not rp.secret:
        data["client_id"] = rp.client_id
    return web.post(
        "/oauth/token", data={k: v for k, v in data.items() if v is not None}, headers=headers
    )


def token_set(
    web: FlaskClient, rp: RP, *, login: str | None = None, password: str | None = None, **extra
) -> dict:
    """The whole flow: authorize (signing in when asked to), redeem the code; the token
    response."""
    verifier, challenge = pkce()
    code = get_code(web, rp, challenge, login=login, password=password, **extra)
    response = exchange(web, rp, code, verifier)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh(web: FlaskClient, rp: RP, refresh_token: str):
    return web.post(
        "/oauth/token",
        headers=rp.basic,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def introspect(web: FlaskClient, rp: RP, token: str, **extra) -> dict:
    response = web.post("/oauth/introspect", data={"token": token, **extra}, headers=rp.basic)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def userinfo(web: FlaskClient, access_token: str):
    return web.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def jwt_payload(token: str) -> dict:
    """The claims of a JWT we issued, unverified (signatures are tested elsewhere)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sso_cookie(web: FlaskClient) -> str | None:
    cookie = web.get_cookie("idp_sso")
    return cookie.value if cookie else None


def issued() -> dict[str, int]:
    """How many codes, tokens and SSO sessions exist: to show that a refusal issued nothing."""
    return {
        model.__tablename__: db.session.query(model).count()
        for model in (AuthorizationCode, IssuedToken, SsoSession)
    }
