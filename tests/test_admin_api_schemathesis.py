"""Schemathesis against the live admin API (issue 16's "done when"): generated requests for every
operation of ``/api/v1/openapi.json``, sent over real HTTP with the owner's admin token, on SQLite
and on PostgreSQL. No answer is a 5xx, and every answer conforms to the document: its status is
described, and its body and headers fit their schemas."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from idp.services import groups, roles
from tests import oidc_flow as flow
from tests.admin_api import TOOL_SCOPE, owner_tool
from tests.factories import PASSWORD
from tests.live import _live_provider, live_app, live_server  # noqa: F401,F811  (fixtures)

CHECKS = (
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
EXAMPLES = 25  # per operation and backend: about a minute for each backend


@pytest.fixture
def owner_token(live_server, live_app, make) -> str:  # noqa: F811
    """acme with a store, staff, a role and a group, and its owner's token for a first-party
    tool, taken through the live server's real pages (so its audience is the live issuer's)."""
    owner = make.company("acme")
    store = make.store(owner, "shopee-sg")
    alice = make.staff(owner, "alice", stores_=[store])
    roles.create_role(owner, "Packers", ["orders:ship"])
    groups.add_member(owner, groups.create_group(owner, store, "Pre-sale"), alice)
    tool = owner_tool()
    live_app.config["IDP_API_RATE_LIMIT"] = 1_000_000  # generated calls come fast
    web = flow.browser(live_app)
    tokens = flow.token_set(web, tool, login="acme", password=PASSWORD, scope=TOOL_SCOPE)
    return tokens["access_token"]


def test_live_admin_api_conforms_to_its_description(live_server, owner_token):  # noqa: F811
    """Each operation's generated cases, one Hypothesis run per operation. (Schemathesis' own
    pytest integration, ``schemathesis.pytest.from_fixture``, does not run under pytest 9: it
    sets ``request.node._nodeid``, which pytest 9 no longer has.)"""
    document = requests.get(f"{live_server}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = f"{live_server}/api/v1"
    headers = {"Authorization": f"Bearer {owner_token}"}
    failures, operations = {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def conforms(case):
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=list(CHECKS))

        try:
            conforms()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures[operation.label] = exc
    assert operations == sum(len(methods) for methods in document["paths"].values())
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
