"""Helpers for the one-login-across-stores tests (R26, R27): OAuth 2.0 Token Exchange (RFC 8693)
through a Flask test client, a subject token that has expired, and a browser over real HTTP that
counts how often the provider asked for a password."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from flask.testing import FlaskClient
from joserfc import jwt

from idp.oauth.keys import keyring
from tests import oidc_flow as flow

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def exchange(web: FlaskClient, rp: flow.RP, subject_token: str, store: str | None, **extra):
    """RFC 8693 2.1: the client (Basic auth) trades an access token for one working in ``store``."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "store": store,
        **extra,
    }
    return web.post(
        "/oauth/token", headers=rp.basic, data={k: v for k, v in data.items() if v is not None}
    )


def resigned(access_token: str, *, expires_in: int) -> str:
    """The same claims (so the ``jti`` is on record) signed again with the provider's current
    key, expiring ``expires_in`` seconds from now (in the past when negative). Needs the
    provider's application context."""
    now = int(time.time())
    claims = {
        **flow.jwt_payload(access_token),
        "iat": min(now, now + expires_in - 600),
        "exp": now + expires_in,
    }
    key = keyring().signing_key("ES256")
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, claims, key)


def _form_field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field on the page"
    return html.unescape(match.group(1))


class HttpBrowser:
    """A user agent over real HTTP with its own cookie jar. It follows the provider's redirects one
    by one, fills in the sign-in form when one is shown (counting it), and stops at the first
    redirect that leaves the provider (a relying party's redirect URI, never fetched)."""

    def __init__(self, provider_url: str) -> None:
        self.provider_url = provider_url
        self.http = requests.Session()
        self.password_prompts = 0

    def go(self, url: str, login: tuple[str, str] | None = None) -> tuple[str, dict[str, str]]:
        """The address the provider sent the browser back to, and its query parameters."""
        response = self.http.get(url, allow_redirects=False, timeout=10)
        for _ in range(10):
            if response.status_code == 200 and 'name="password"' in response.text:
                self.password_prompts += 1
                assert login, "the provider asked for a password again"
                response = self.http.post(
                    urljoin(response.url, "/login"),
                    data={
                        "csrf_token": _form_field(response.text, "csrf_token"),
                        "next": _form_field(response.text, "next"),
                        "login": login[0],
                        "password": login[1],
                    },
                    allow_redirects=False,
                    timeout=10,
                )
                continue
            assert response.status_code in (302, 303), (response.status_code, response.text[:300])
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.provider_url + "/"):
                return target, dict(parse_qsl(urlsplit(target).query))
            response = self.http.get(target, allow_redirects=False, timeout=10)
        raise AssertionError("too many redirects")
