"""Helpers for the SCIM tests (issue 19): a company's SCIM client and calls to /scim/v2."""

from __future__ import annotations

from dataclasses import dataclass

from idp.models import Account
from idp.services import api_clients
from tests import oidc_flow as flow

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SELLER = "urn:seller-idp:params:scim:schemas:extension:seller:2.0:User"
SELLER_GROUP = "urn:seller-idp:params:scim:schemas:extension:seller:2.0:Group"


def scim_client(owner: Account, name: str = "HR sync") -> flow.RP:
    """A SCIM client as the console makes one."""
    client, secret = api_clients.create(owner, name, scim=True)
    return flow.RP(client.client_id, secret)


def client_token(web, rp: flow.RP, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = web.post("/oauth/token", headers=rp.basic, data=data)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@dataclass
class Scim:
    """Calls to ``/scim/v2`` with one token."""

    web: object
    token: str | None

    def __call__(self, method: str, path: str, body=None, **headers):
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        return self.web.open(
            "/scim/v2" + path,
            method=method.upper(),
            headers=headers,
            data=None if body is None else __import__("json").dumps(body),
            content_type="application/scim+json",
        )

    def get(self, path: str, **headers):
        return self("GET", path, **headers)

    def ok(self, method: str, path: str, body=None, status: int = 200, **headers) -> dict:
        response = self(method, path, body, **headers)
        assert response.status_code == status, (response.status_code, response.get_json())
        return response.get_json() if response.data else {}


def patch_op(*operations: dict) -> dict:
    return {"schemas": [PATCH], "Operations": list(operations)}


def live_grant_token(base: str, rp: flow.RP) -> str:
    """An access token by the client credentials grant, over real HTTP to a live server."""
    import requests

    answer = requests.post(
        base + "/oauth/token",
        auth=(rp.client_id, rp.secret),
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]
