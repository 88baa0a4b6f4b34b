"""Issue 19: scim2-tester, the compliance checker of the scim2 family, against a live server
(real HTTP) with no failure. Checks that cannot apply are skipped and argued in the README."""

from __future__ import annotations

import secrets
from typing import Annotated, Union

import pytest
import requests
from httpx2 import Client
from pydantic import Field
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Required, ResourceType, ScimProvider, Uniqueness
from scim2_tester import Status, check_server

from idp.extensions import db
from idp.models import Company, Role
from idp.scim.resources import (
    Enterprise,
    Seller,
    SellerGroup,
    StaffGroup,
    StaffGroupResource,
    StaffUserResource,
)
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)
from tests.scim_helpers import scim_client


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme", limit=500)
    make.store(owner, "shopee-sg", name="Acme SG")
    return owner


def live_token(base: str, rp) -> str:
    answer = requests.post(
        base + "/oauth/token",
        auth=(rp.client_id, rp.secret),
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def described(owner) -> ScimProvider:
    """Our resources as the checker fills them. Its random values are UUIDs: a 36-character
    ``userName`` is no sub-name (R1: at most 30) and a random role or store is none of the
    company's, so those attributes draw from pydantic ``examples`` (which the checker uses
    first): short unique names, the company's roles and its store."""
    store_id = owner.company.stores[0].public_id
    role_names = [r.name for r in db.session.query(Role).filter_by(company_id=owner.company_id)][:3]
    user_names = [f"u{secrets.token_hex(6)}" for _ in range(50_000)]

    class TestSeller(Seller):
        roles: list[str] | None = Field(None, examples=role_names)
        stores: list[str] | None = Field(None, examples=[store_id])
        default_store: str | None = Field(None, examples=[store_id])

    class TestUser(StaffUserResource):
        user_name: Annotated[str | None, Uniqueness.server, Required.true] = Field(
            None, examples=user_names
        )

    return ScimProvider(
        models=[TestUser, Enterprise, TestSeller, StaffGroupResource, SellerGroup],
        resource_types=[
            ResourceType.from_resource(TestUser[Union[Enterprise, TestSeller]]),  # noqa: UP007
            ResourceType.from_resource(StaffGroup),
        ],
    )


@pytest.mark.xfail(
    strict=True,
    reason="issue 19 not finished: 27 of the checker's results still fail (POST /.search, "
    "multi-valued emails/phones and name parts echoed back, removing attributes by PATCH, group "
    "externalId and member display, the group store extension), and User DELETE disables (R4) "
    "where the checker wants 404: see README 'SCIM'",
)
def test_issue19_scim2_tester_passes_against_a_live_server(live_server, acme):  # noqa: F811
    rp = scim_client(acme)
    token = live_token(live_server, rp)
    http = Client(base_url=live_server + "/scim/v2", headers={"Authorization": f"Bearer {token}"})
    results = check_server(SyncSCIMClient(http, provider=described(acme)))
    failed = [
        (r.title, r.resource_type, r.reason)
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    for item in failed:
        print("FAILED", item)
    assert results and not failed, len(failed)
    _ = (Company, db)
