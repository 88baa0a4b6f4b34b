"""Helpers for the admin API's tests (issue 16): tokens of every kind of caller, and calls."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from idp.extensions import db
from idp.models import Account
from idp.oauth import clients
from idp.oauth.config import ADMIN_SCOPE
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.store_sso_helpers import TOKEN_EXCHANGE

TOOL_SCOPE = f"openid profile {ADMIN_SCOPE}"


def owner_tool(name: str = "Owner tool") -> flow.RP:
    """A first-party app that may ask for the admin scope (and exchange its tokens)."""
    return flow.register(
        name,
        scope=TOOL_SCOPE,
        grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE],
    )


def user_token(app: Flask, rp: flow.RP, login: str, scope: str = TOOL_SCOPE) -> str:
    """An access token of ``login`` (signed in through the real pages) for ``rp``."""
    tokens = flow.token_set(flow.browser(app), rp, login=login, password=PASSWORD, scope=scope)
    return tokens["access_token"]


def company_client(owner: Account, name: str = "Company ERP") -> flow.RP:
    """A company's own API client, as the console makes one (issue 16)."""
    client, secret = clients.create_client(
        name, grant_types=["client_credentials"], scope=ADMIN_SCOPE, first_party=False
    )
    client.company_id = owner.company_id
    db.session.commit()
    return flow.RP(client.client_id, secret)


def client_token(web, rp: flow.RP, scope: str = ADMIN_SCOPE) -> str:
    response = web.post(
        "/oauth/token",
        headers=rp.basic,
        data={"grant_type": "client_credentials", "scope": scope},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@dataclass
class Api:
    """Calls to ``/api/v1`` with one token."""

    web: object
    token: str | None

    def __call__(self, method: str, path: str, body=None, **headers):
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        return self.web.open("/api/v1" + path, method=method.upper(), headers=headers, json=body)

    def get(self, path: str, **headers):
        return self("GET", path, **headers)

    def etag(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, response.get_json()
        return response.headers["ETag"]
