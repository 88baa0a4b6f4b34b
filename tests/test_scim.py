"""Issue 19: SCIM 2.0 provisioning at /scim/v2 (RFC 7643, RFC 7644), through the real token
endpoint and the real HTTP stack of the app; every change is checked in the database, the audit
log and (for R5) by introspection of the staff member's tokens."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from tests.scim_helpers import (
    ENTERPRISE,
    SELLER,
    USER,
    Scim,
    client_token,
    scim_client,
)


@pytest.fixture
def acme(ctx, make):
    owner = make.company("acme")
    owner._sg = make.store(owner, "shopee-sg", name="Acme SG")
    owner._my = make.store(owner, "shopee-my", name="Acme MY")
    db.session.execute(db.text("select 1"))
    return owner


@pytest.fixture
def globex(ctx, make):
    owner = make.company("globex")
    make.store(owner, "lazada-sg", name="Globex SG")
    return owner


@pytest.fixture
def rp(acme):
    return scim_client(acme)


@pytest.fixture
def scim(web, rp) -> Scim:
    return Scim(web, client_token(web, rp))


def new_user(name: str = "alice", **extra) -> dict:
    return {
        "schemas": [USER],
        "userName": name,
        "externalId": f"hr-{name}",
        "name": {"givenName": name.title(), "familyName": "Tan"},
        "displayName": f"{name.title()} T.",
        "emails": [{"value": f"{name}@acme.example", "type": "work", "primary": True}],
        "active": True,
        **extra,
    }


def entries(owner, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return (
        db.session.query(AuditEvent)
        .filter_by(company_id=owner.company_id, action=action)
        .order_by(AuditEvent.id)
        .all()
    )


def test_issue19_create_read_and_filter_users(scim, acme, rp):
    created = scim.ok(
        "POST",
        "/Users",
        new_user(**{SELLER: {"stores": [acme._sg.public_id]}, ENTERPRISE: {"department": "CS"}}),
        201,
    )
    assert created["userName"] == "alice"
    assert created["active"] is True
    assert created[SELLER]["stores"] == [acme._sg.public_id]
    assert created[SELLER]["defaultStore"] == acme._sg.public_id  # R9
    assert created[ENTERPRISE]["department"] == "CS"
    assert "password" not in created
    scim.ok("POST", "/Users", new_user("bob"), 201)
    # One audit entry per change, naming the SCIM client as the actor.
    made = entries(acme, "subaccount.created")
    assert [e.actor for e in made] == [f"api:{rp.client_id}"] * 2
    assert made[0].details["api"] == {"client_id": rp.client_id}

    got = scim.ok("GET", f"/Users/{created['id']}")
    assert got["externalId"] == "hr-alice"
    assert got["meta"]["version"].startswith('W/"')
    for query, names in (
        ('userName eq "ALICE"', ["alice"]),
        ('emails.value co "bob@"', ["bob"]),
        ('userName sw "a" or externalId eq "hr-bob"', ["alice", "bob"]),
        ("externalId pr and active eq true", ["alice", "bob"]),
        ('emails[type eq "work" and value ew "acme.example"]', ["alice", "bob"]),
    ):
        listed = scim.ok("GET", "/Users?" + urlencode({"filter": query}))
        assert sorted(r["userName"] for r in listed["Resources"]) == names, query
    page = scim.ok("GET", "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=1")
    assert page["totalResults"] == 2 and [r["userName"] for r in page["Resources"]] == ["alice"]
    only = scim.ok("GET", "/Users?attributes=userName")
    assert set(only["Resources"][0]) == {"schemas", "id", "userName"}
    without = scim.ok("GET", f"/Users/{created['id']}?excludedAttributes=emails")
    assert "emails" not in without and without["userName"] == "alice"
    bad = scim("GET", "/Users?filter=userName%20eq")
    assert bad.status_code == 400 and bad.get_json()["scimType"] == "invalidFilter"
