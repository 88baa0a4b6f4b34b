"""Issue 19: SCIM 2.0 provisioning at /scim/v2 (RFC 7643, RFC 7644), through the real token
endpoint and the real HTTP stack of the app; every change is checked in the database, the audit
log and (for R5) by introspection of the staff member's tokens."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest

from idp.extensions import db
from idp.models import Account, AuditEvent
from idp.models.accounts import DEPARTED
from tests import oidc_flow as flow
from tests.scim_helpers import (
    BULK,
    ENTERPRISE,
    ERROR,
    GROUP,
    PATCH,
    SELLER,
    USER,
    Scim,
    client_token,
    patch_op,
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


def test_issue19_r4_r5_cross_company_ids_are_404_and_filters_stay_home(
    web, scim, acme, globex, make
):
    """A SCIM client of globex gets 404 for every id of acme, and no filter returns acme's."""
    alice = scim.ok("POST", "/Users", new_user(**{SELLER: {"stores": [acme._sg.public_id]}}), 201)
    group = scim.ok(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP],
            "displayName": f"{acme._sg.public_id}/Pre-sale",
        },
        201,
    )
    other = Scim(web, client_token(web, scim_client(globex)))
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        for path in (f"/Users/{alice['id']}", f"/Groups/{group['id']}", f"/Users/{acme.public_id}"):
            body = patch_op({"op": "replace", "path": "active", "value": False})
            answer = other(method, path, body if method == "PATCH" else new_user("x"))
            assert answer.status_code == 404, (method, path, answer.get_json())
    for query in ('userName eq "alice"', "userName pr", 'emails.value co "acme"'):
        found = other.ok("GET", "/Users?" + urlencode({"filter": query}))
        assert found["totalResults"] == 0
    assert other.ok("GET", "/Groups")["totalResults"] == 0
    # The main account is never a SCIM user, in its own company either.
    assert scim.get(f"/Users/{acme.public_id}").status_code == 404
    assert all(r["userName"] != "acme" for r in scim.ok("GET", "/Users")["Resources"])
    db.session.expire_all()
    assert db.session.query(Account).filter_by(name="alice").one().status != DEPARTED


def test_issue19_r5_entra_deactivate_ends_tokens_at_once_and_group_shows_in_next_token(
    web, scim, acme
):
    """Entra ID's sequence: create, PATCH "Replace" active "False" (a string), then re-enable;
    DELETE disables (R4). The staff member's token is inactive at once (R5); a group added
    through SCIM shows in the next token (R23)."""
    user = scim.ok(
        "POST",
        "/Users",
        new_user(password="alice-staff-pw-1", **{SELLER: {"stores": [acme._sg.public_id]}}),
        201,
    )
    from idp.services import accounts

    accounts.mark_verified(db.session.query(Account).filter_by(public_id=user["id"]).one(), "email")
    db.session.commit()  # R14: verified at first sign-in, which is not under test here
    app = flow.register("Seller center", grant_types=["authorization_code", "refresh_token"])
    first = flow.token_set(
        flow.browser(web.application), app, login="acme:alice", password="alice-staff-pw-1"
    )
    assert flow.introspect(web, app, first["access_token"])["active"] is True
    group = scim.ok(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP],
            "displayName": f"{acme._sg.public_id}/Pre-sale",
        },
        201,
    )
    scim.ok(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_op({"op": "Add", "path": "members", "value": [{"value": user["id"]}]}),
    )
    second = flow.token_set(
        flow.browser(web.application), app, login="acme:alice", password="alice-staff-pw-1"
    )
    assert flow.jwt_payload(first["access_token"])["groups"] == []
    assert flow.jwt_payload(second["access_token"])["groups"] == [f"{acme._sg.public_id}/Pre-sale"]
    # Entra ID takes a member out with a value, not a filter (non-standard): the next token.
    scim.ok(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_op({"op": "Remove", "path": "members", "value": [{"value": user["id"]}]}),
    )
    third = flow.token_set(
        flow.browser(web.application), app, login="acme:alice", password="alice-staff-pw-1"
    )
    assert flow.jwt_payload(third["access_token"])["groups"] == []
    scim.ok(
        "PATCH",
        f"/Users/{user['id']}",
        patch_op({"op": "Replace", "path": "active", "value": "False"}),
    )
    assert flow.introspect(web, app, second["access_token"])["active"] is False
    assert scim.ok("GET", f"/Users/{user['id']}")["active"] is False
    scim.ok("PATCH", f"/Users/{user['id']}", patch_op({"op": "replace", "value": {"active": True}}))
    assert scim.ok("GET", f"/Users/{user['id']}")["active"] is True
    assert scim("DELETE", f"/Users/{user['id']}").status_code == 204
    assert scim.ok("GET", f"/Users/{user['id']}")["active"] is False  # R4: never deleted
    assert len(entries(acme, "subaccount.disabled")) == 2  # the PATCH and the DELETE


def test_issue19_etag_if_match_no_lost_update_and_no_half_written_account(scim, acme, make):
    """A SCIM write against the version it read is refused (412) once the console changed the
    account, and nothing of it is written; a request that fails half-way writes nothing."""
    from idp.services import accounts

    user = scim.ok("POST", "/Users", new_user(), 201)
    path = f"/Users/{user['id']}"
    etag = scim("GET", path).headers["ETag"]
    account = db.session.query(Account).filter_by(public_id=user["id"]).one()
    accounts.update_sub_account(acme, account, nickname="Set in the console")  # the owner's edit

    stale = scim("PUT", path, new_user(displayName="From HR"), If_Match=etag)
    assert stale.status_code == 412
    stale = scim(
        "PATCH",
        path,
        patch_op({"op": "replace", "path": "displayName", "value": "From HR"}),
        If_Match=etag,
    )
    assert stale.status_code == 412
    db.session.expire_all()
    assert account.nickname == "Set in the console"  # the console's edit is not lost

    fresh = scim("GET", path).headers["ETag"]
    assert fresh != etag
    done = scim.ok(
        "PATCH",
        path,
        patch_op({"op": "replace", "path": "displayName", "value": "From HR"}),
        If_Match=fresh,
    )
    assert done["displayName"] == "From HR"

    # R3: the email is another company's account's: 409 uniqueness, and the new nickname and
    # department sent in the same PUT are not written either (one transaction).
    other = make.company("globex")
    make.staff(other, "zed", email="zed@globex.example")
    clash = scim(
        "PUT",
        path,
        new_user(
            displayName="Half",
            emails=[{"value": "zed@globex.example", "primary": True}],
            **{ENTERPRISE: {"department": "Half"}},
        ),
    )
    assert clash.status_code == 409 and clash.get_json()["scimType"] == "uniqueness"
    after = scim.ok("GET", path)
    assert after["displayName"] == "From HR" and ENTERPRISE not in after
    # The nickname is written by the console's edit, then the externalId is refused (too
    # long): the edit is rolled back with it.
    late = scim("PUT", path, new_user(displayName="Half", externalId="x" * 256))
    assert late.status_code == 400 and "external_id" in late.get_json()["detail"]
    assert scim.ok("GET", path)["displayName"] == "From HR"


def test_issue19_r2_quota_is_a_400_with_a_detail(web, make):
    """R2: the plan's limit (departed accounts count) answers 400 with a clear detail."""
    small = make.company("tiny", limit=1)
    scim = Scim(web, client_token(web, scim_client(small)))
    scim.ok("POST", "/Users", new_user("one"), 201)
    full = scim("POST", "/Users", new_user("two"))
    assert full.status_code == 400
    assert "1 sub-account" in full.get_json()["detail"]


def test_issue19_okta_sequence_and_bulk_with_fail_on_errors(web, scim, acme):
    """Okta's sequence (GET by userName filter, POST, PUT for updates, PATCH active false/true,
    group members add and remove by filter), then a Bulk request that stops after its first
    failure and resolves a bulkId."""
    assert scim.ok("GET", "/Users?filter=" + 'userName eq "bob"')["totalResults"] == 0
    bob = scim.ok(
        "POST", "/Users", new_user("bob", **{SELLER: {"stores": [acme._sg.public_id]}}), 201
    )
    put = new_user("bob", displayName="Bobby", **{ENTERPRISE: {"employeeNumber": "E-7"}})
    assert scim.ok("PUT", f"/Users/{bob['id']}", put)[ENTERPRISE]["employeeNumber"] == "E-7"
    off = patch_op({"op": "replace", "value": {"active": False}})
    assert scim.ok("PATCH", f"/Users/{bob['id']}", off)["active"] is False
    on = patch_op({"op": "replace", "value": {"active": True}})
    assert scim.ok("PATCH", f"/Users/{bob['id']}", on)["active"] is True
    group = scim.ok(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": f"{acme._sg.public_id}/After-sale"},
        201,
    )
    added = scim.ok(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_op({"op": "add", "path": "members", "value": [{"value": bob["id"]}]}),
    )
    assert [m["value"] for m in added["members"]] == [bob["id"]]
    removed = scim.ok(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_op({"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}),
    )
    assert "members" not in removed

    answer = scim.ok(
        "POST",
        "/Bulk",
        {
            "schemas": [BULK],
            "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "c1", "data": new_user("carol")},
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g1",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": f"{acme._my.public_id}/Night",
                        "members": [{"value": "bulkId:c1"}],
                    },
                },
                {"method": "POST", "path": "/Users", "bulkId": "d1", "data": new_user("carol")},
                {"method": "POST", "path": "/Users", "bulkId": "e1", "data": new_user("erin")},
            ],
        },
    )
    statuses = [op["status"] for op in answer["Operations"]]
    assert statuses == ["201", "201", "409"]  # the fourth is not run (failOnErrors: 1)
    assert answer["Operations"][2]["response"]["scimType"] == "uniqueness"
    assert scim.ok("GET", '/Users?filter=userName eq "erin"')["totalResults"] == 0
    night = scim.ok("GET", "/Groups/" + answer["Operations"][1]["location"].rsplit("/", 1)[-1])
    carol = answer["Operations"][0]["location"].rsplit("/", 1)[-1]
    assert [m["value"] for m in night["members"]] == [carol]
    # Carol was given the group's store to join it (R23: members hold the store).
    assert acme._my.public_id in scim.ok("GET", f"/Users/{carol}")[SELLER]["stores"]


def test_issue19_console_creates_a_scim_client_shows_the_endpoint_once_and_last_synced(web, acme):
    """The owner makes the SCIM client on the console's API clients page (CSRF and all): the
    page shows the SCIM endpoint and the secret once; the client works at once, holds the
    scim scope alone (the admin API refuses it), and the list says when it last synced."""
    from tests.test_api_clients import PAGE, post, shown, signed_in, text_of

    owner_web = signed_in(web.application, "acme")
    page = post(owner_web, PAGE, name="Entra ID", kind="scim")
    rp = shown(page)
    assert "/scim/v2</pre>" in text_of(page)
    listed = text_of(owner_web.get(PAGE))
    assert "SCIM" in listed and rp.secret not in listed

    token = client_token(web, rp)
    assert flow.jwt_payload(token)["scope"] == "scim"
    assert web.get("/api/v1/staff", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    never_synced = 'data-label="Last synced"><span class="muted">Not yet'

    def row() -> str:
        return text_of(owner_web.get(PAGE)).split(rp.client_id, 1)[1].split("</tr>", 1)[0]

    assert never_synced in row()
    Scim(web, token).ok("POST", "/Users", new_user(), 201)
    assert never_synced not in row()  # last synced: just now

    refused = post(owner_web, PAGE, name="", kind="scim")
    assert refused.status_code == 400


def test_issue19_item5_a_read_is_a_sync_noted_once_a_minute(web, acme, globex):
    """An identity platform that only reads (Okta's connection test, a sync with nothing to
    change) has synced: the console says when it last called, at once. A burst of calls writes
    that once a minute (one UPDATE, which leaves the client's revision and cached copies be); a
    refused bearer moves nothing, and another company's client is untouched."""
    from idp.kv import kv
    from idp.models import Client
    from idp.services import api_clients
    from tests.sql import Statements
    from tests.test_api_clients import PAGE, signed_in, text_of

    client, _secret, token = api_clients.create_scim(acme, "Okta")
    other, _secret, other_token = api_clients.create_scim(globex, "Okta")
    stale, _secret, old_token = api_clients.create_scim(acme, "Entra ID")
    api_clients.replace_scim_token(acme, stale.client_id)
    owner_web = signed_in(web.application, "acme")

    def row(client_id: str) -> str:
        return text_of(owner_web.get(PAGE)).split(client_id, 1)[1].split("</tr>", 1)[0]

    def last_call(of: Client):
        db.session.expire_all()
        return db.session.get(Client, of.id).scim_last_call_at

    never = 'data-label="Last synced"><span class="muted">Not yet'
    assert never in row(client.client_id)
    revision = db.session.get(Client, client.id).revision

    with Statements() as sql:
        assert Scim(web, token).get("/Users").status_code == 200
    writes = [s for s in sql.sent if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert len(writes) == 1 and "clients" in writes[0] and "scim_last_call_at" in writes[0]
    noted = last_call(client)
    assert noted is not None
    assert db.session.get(Client, client.id).revision == revision
    page_row = row(client.client_id)
    assert never not in page_row and "No change made yet" in page_row

    with Statements() as sql:  # within the minute: the same answer, no write
        assert Scim(web, token).get("/Users").status_code == 200
        assert Scim(web, token).get("/Groups").status_code == 200
    assert not [s for s in sql.sent if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert last_call(client) == noted

    # Refused bearers: a replaced token, a wrong one. Neither moves anything.
    for wrong in (old_token, token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert Scim(web, wrong).get("/Users").status_code == 401
    assert last_call(stale) is None and never in row(stale.client_id)
    assert last_call(other) is None

    # A minute later a change is a call too; both show, the change once it differs.
    kv().delete(f"scim-call:{client.id}")
    Scim(web, token).ok("POST", "/Users", new_user(), 201)
    moved = last_call(client)
    assert moved > noted
    page_row = row(client.client_id)
    assert "No change made yet" not in page_row and "Last change" not in page_row
    for entry in db.session.query(AuditEvent).filter_by(actor=f"api:{client.client_id}"):
        entry.created_at = moved - timedelta(minutes=2)  # as if the change were older
    db.session.commit()
    kv().delete(f"scim-call:{client.id}")
    assert Scim(web, token).get("/Users").status_code == 200
    assert last_call(client) > moved and "Last change" in row(client.client_id)
    assert last_call(other) is None
    assert Scim(web, other_token).get("/Users").status_code == 200  # globex's own call
    assert last_call(other) is not None


def unstorable_alphabet():
    """Any character, NUL and lone surrogates often among them: what no database stores."""
    from hypothesis import strategies as st

    return st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff"])


def test_issue19_fuzzed_filters_sorts_selections_and_patches_never_break(scim, acme):
    """Hypothesis: any filter, sortBy, attributes or PATCH operation is answered 200 or a SCIM
    error (RFC 7644 3.12), never a 500, and never reaches beyond the company."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    UNSTORABLE = unstorable_alphabet()

    user = scim.ok("POST", "/Users", new_user(), 201)
    words = st.sampled_from(
        [
            "userName", "emails.value", "externalId", "active", "name.givenName", "meta.created",
            'emails[type eq "work"]', SELLER + ":roles", "eq", "co", "sw", "pr", "gt", "and",
            "or", "not", "(", ")", "[", "]", '"a"', "true", "null", "1", " ", "é", "\\x00",
        ]
    )  # fmt: skip
    text = st.one_of(st.lists(words, max_size=8).map(" ".join), st.text(UNSTORABLE, max_size=40))
    failures: list = []

    @settings(
        deadline=None,
        database=None,
        max_examples=120,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        filter_=text,
        sort=text,
        attrs=text,
        op=st.sampled_from(["add", "replace", "remove", "Replace", "move", ""]),
        path=st.one_of(st.none(), text),
        value=st.one_of(st.none(), st.booleans(), text, st.dictionaries(text, text, max_size=2)),
    )
    def probe(filter_, sort, attrs, op, path, value):
        query = urlencode({"filter": filter_, "sortBy": sort, "attributes": attrs})
        answers = [scim.get("/Users?" + query)]
        operation = {"op": op, "value": value} | ({"path": path} if path is not None else {})
        answers.append(scim("PATCH", f"/Users/{user['id']}", patch_op(operation)))
        for answer in answers:
            body = answer.get_json(silent=True) or {}
            if answer.status_code >= 500 or (
                answer.status_code >= 400 and body.get("schemas") != [ERROR]
            ):
                failures.append((filter_, sort, attrs, operation, answer.status_code))
            for found in body.get("Resources", []):
                if found.get("id") not in (None, user["id"]):
                    failures.append(("another user", found))

    probe()
    assert not failures, failures[:5]


def test_issue19_enterprise_manager_is_the_team_of_issue18(scim, acme, globex, make):
    """``manager`` writes ``Account.manager_id`` through the team's own service (cycles and
    strangers refused with SCIM's 400), in Entra ID's bare-id PATCH form and in a POST, and is
    served back with its ref and login name."""
    alice = scim.ok("POST", "/Users", new_user("alice"), status=201)
    bob = scim.ok(
        "POST",
        "/Users",
        {
            **new_user("bob"),
            "schemas": [USER, ENTERPRISE],
            ENTERPRISE: {"department": "Sales", "manager": {"value": alice["id"]}},
        },
        status=201,
    )
    assert bob[ENTERPRISE]["manager"]["value"] == alice["id"]
    assert bob[ENTERPRISE]["manager"]["displayName"] == "acme:alice"
    assert bob[ENTERPRISE]["manager"]["$ref"].endswith(f"/Users/{alice['id']}")
    db.session.expire_all()
    stored = db.session.query(Account).filter_by(public_id=bob["id"]).one()
    assert stored.manager_id == db.session.query(Account).filter_by(public_id=alice["id"]).one().id

    carol = scim.ok("POST", "/Users", new_user("carol"), status=201)
    entra = patch_op({"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": bob["id"]})
    patched = scim.ok("PATCH", f"/Users/{carol['id']}", entra)
    assert patched[ENTERPRISE]["manager"]["value"] == bob["id"]

    # alice -> carol -> bob -> alice would be a cycle: refused, nothing written.
    cycle = patch_op({"op": "replace", "path": f"{ENTERPRISE}:manager", "value": carol["id"]})
    refused = scim("PATCH", f"/Users/{alice['id']}", cycle)
    assert refused.status_code == 400 and "cannot report to" in refused.get_json()["detail"]
    assert ENTERPRISE not in scim.ok("GET", f"/Users/{alice['id']}")

    stranger = make.staff(globex, "gina")
    for ident in (stranger.public_id, acme.public_id, "acct_nobody"):
        unknown = patch_op({"op": "replace", "path": f"{ENTERPRISE}:manager", "value": ident})
        answer = scim("PATCH", f"/Users/{carol['id']}", unknown)
        assert answer.status_code == 400, answer.get_json()
        assert "no staff member of your company" in answer.get_json()["detail"]
    assert scim.ok("GET", f"/Users/{carol['id']}")[ENTERPRISE]["manager"]["value"] == bob["id"]

    removed = patch_op({"op": "remove", "path": f"{ENTERPRISE}:manager"})
    assert "manager" not in scim.ok("PATCH", f"/Users/{carol['id']}", removed).get(ENTERPRISE, {})
    [*_, last] = entries(acme, "inquiries.member_rules")
    assert last.details["manager"] is None


HOSTILE = {
    "a group id of a non-ASCII digit": ("GET", "/Groups/grp_\u00b2", None, 404),
    "a group id past a BIGINT": ("GET", "/Groups/grp_99999999999999999999", None, 404),
    "a group id past a 32-bit row id": ("GET", "/Groups/grp_2147483648", None, 404),
    "JSON nested 600 deep": (
        "POST", "/Bulk", {"schemas": [BULK], "Operations": [
            {"method": "POST", "bulkId": "a", "path": "/Users", "data": "NESTED"}]}, 400
    ),
    "PATCH Operations not a list": (
        "PATCH", "/Users/{id}", {"schemas": [PATCH], "Operations": 5}, 400
    ),
    "sortBy a list of strings": ("GET", "/Users?sortBy=schemas", None, 200),
    "sortBy the seller roles": ("GET", f"/Users?sortBy={SELLER}:roles", None, 200),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
def test_issue19_hostile_requests_get_a_scim_answer_never_a_500(scim, acme, case):
    """Found in review: each of these raised (a 500 in production)."""
    user = scim.ok("POST", "/Users", new_user(), 201)
    method, path, body, status = HOSTILE[case]
    if case == "JSON nested 600 deep":
        nested: dict = {}
        for _ in range(600):
            nested = {"a": nested}
        body = {**body, "Operations": [{**body["Operations"][0], "data": nested}]}
    answer = scim(method, path.replace("{id}", user["id"]), body)
    assert answer.status_code == status, answer.get_json()
    if status >= 400:
        assert answer.get_json()["schemas"] == [ERROR]


def test_issue19_hostile_bulk_operations_are_answered_one_by_one(scim, acme):
    """Found in review: a number for an operation's ``version`` or a string for its ``data``
    raised, losing the answers of the operations before it that had been applied."""
    user = scim.ok("POST", "/Users", new_user(), 201)
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "b1", "data": new_user("bob")},
        {"method": "DELETE", "path": f"/Users/{user['id']}", "version": 5},
        {"method": "PATCH", "path": f"/Users/{user['id']}", "data": "x"},
        {"method": "PATCH", "path": f"/Users/{user['id']}", "data": {"Operations": {"op": "x"}}},
    ]
    answer = scim.ok("POST", "/Bulk", {"schemas": [BULK], "Operations": operations})
    statuses = [o["status"] for o in answer["Operations"]]
    assert statuses == ["201", "400", "400", "400"], answer
    assert scim.ok("GET", f"/Users/{user['id']}")["active"] is True  # the bad DELETE did nothing


def test_issue19_fuzzed_whole_bodies_never_break(scim, acme):
    """Hypothesis: any JSON as a PATCH body, a bulk operation or a new user is answered with a
    SCIM status, never a 500."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    UNSTORABLE = unstorable_alphabet()

    user = scim.ok("POST", "/Users", new_user(), 201)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(UNSTORABLE, max_size=12),
    )
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(UNSTORABLE, max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )
    keys = st.sampled_from(
        ["Operations", "op", "path", "value", "method", "data", "version", "bulkId",
         "schemas", "userName", "emails", "active"]
    )  # fmt: skip
    bodies = st.dictionaries(keys, values, max_size=4)
    failures: list = []

    @settings(
        deadline=None,
        database=None,
        max_examples=80,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(patch=bodies, operation=bodies, new=bodies)
    def probe(patch, operation, new):
        answers = [
            scim("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], **patch}),
            scim("POST", "/Bulk", {"schemas": [BULK], "Operations": [operation]}),
            scim("POST", "/Users", {"schemas": [USER], **new}),
        ]
        for answer in answers:
            if answer.status_code >= 500:
                failures.append((patch, operation, new, answer.status_code))

    probe()
    assert not failures, failures[:5]


def test_issue19_r3_emails_follow_the_services_rule_reserved_domains_included(scim, acme, make):
    """Found in review: SCIM checked emails with email-validator, which refuses reserved domains
    (``.local``, ``.test``, ``.internal``) that the rest of the service accepts, so one staff
    member with such an address made every listing of the company a 500. SCIM takes and serves
    what the services take, and refuses what they refuse with a 400."""
    make.staff(acme, "alice", stores_=[acme._sg], email="alice@corp.local")
    listed = scim.ok("GET", "/Users")
    assert [e["value"] for r in listed["Resources"] for e in r.get("emails", [])] == [
        "alice@corp.local"
    ]
    created = scim.ok(
        "POST", "/Users", new_user("bob", emails=[{"value": "bob@hr.internal"}]), status=201
    )
    assert created["emails"][0]["value"] == "bob@hr.internal"
    for bad in ("bob", "bob@", "b ob@acme.example", "x" * 250 + "@acme.example"):
        refused = scim("POST", "/Users", new_user("carol", emails=[{"value": bad}]))
        assert refused.status_code == 400, (bad, refused.get_json())
        assert refused.get_json()["schemas"] == [ERROR]


def replace(path: str, value) -> dict:
    return patch_op({"op": "replace", "path": path, "value": value})


UNSTORABLE_TEXT = {"NUL": "x\x00y", "a lone high surrogate": "\ud800", "a lone low one": "\udfff"}
UNSTORABLE_AT = {
    "POST /Users externalId": ("POST", "/Users", lambda t: new_user("nul", externalId=t)),
    "POST /Users givenName": (
        "POST", "/Users", lambda t: {**new_user("nul"), "name": {"givenName": t}}
    ),
    "POST /Users department": (
        "POST",
        "/Users",
        lambda t: {**new_user("nul"), "schemas": [USER, ENTERPRISE], ENTERPRISE: {"department": t}},
    ),
    "POST /Users email type": (
        "POST", "/Users", lambda t: new_user("nul", emails=[{"value": "n@acme.example", "type": t}])
    ),
    "POST /Groups externalId": (
        "POST", "/Groups", lambda t: {"schemas": [GROUP], "displayName": "g", "externalId": t}
    ),
    "PATCH /Users externalId": ("PATCH", "/Users/{id}", lambda t: replace("externalId", t)),
    "PATCH /Users displayName": ("PATCH", "/Users/{id}", lambda t: replace("displayName", t)),
    "PATCH a key": ("PATCH", "/Users/{id}", lambda t: patch_op({"op": "replace", t: "x"})),
}  # fmt: skip


@pytest.mark.parametrize("text", list(UNSTORABLE_TEXT))
@pytest.mark.parametrize("where", list(UNSTORABLE_AT))
def test_issue19_nul_and_lone_surrogates_are_a_400_invalid_value(scim, acme, where, text):
    """Found in review: the NUL check never fired (it looked for NUL in JSON text, where it is
    escaped) and nothing looked for lone surrogates: both reached the database, a 500 (NUL on
    PostgreSQL, surrogates on both). The admin API's check now reads SCIM bodies too."""
    user = scim.ok("POST", "/Users", new_user(), 201)
    method, path, body = UNSTORABLE_AT[where]
    answer = scim(method, path.replace("{id}", user["id"]), body(UNSTORABLE_TEXT[text]))
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    error = answer.get_json()
    assert error["schemas"] == [ERROR] and error["scimType"] == "invalidValue"
    assert ("NUL" if text == "NUL" else "surrogate") in error["detail"]


def test_issue19_an_if_match_that_is_no_etag_of_ours_is_a_400_never_a_500(scim, acme):
    """Found in review: a non-ASCII ``If-Match`` (or a bulk operation's ``version``) made the
    version check raise, a 500. Our ETags are hex: anything else is refused before any check,
    and a hex one we never gave is a stale version (412)."""
    user = scim.ok("POST", "/Users", new_user(), 201)
    named = f"{acme._sg.public_id}/Pre-sale"
    group = scim.ok("POST", "/Groups", {"schemas": [GROUP], "displayName": named}, 201)
    writes = [
        ("PUT", f"/Users/{user['id']}", new_user(displayName="From HR")),
        ("PATCH", f"/Users/{user['id']}", replace("displayName", "From HR")),
        ("PUT", f"/Groups/{group['id']}", {"schemas": [GROUP], "displayName": named + "2"}),
        ("DELETE", f"/Users/{user['id']}", None),
    ]
    for method, path, body in writes:
        for etag in ('W/"\u00e9"', '"caf\u00e9"', 'W/"zz"'):
            answer = scim(method, path, body, If_Match=etag)
            assert answer.status_code == 400, (method, etag, answer.status_code)
            assert answer.get_json()["scimType"] == "invalidValue"
        assert scim(method, path, body, If_Match='W/"0123abcd"').status_code == 412
    bulk = {"method": "DELETE", "path": f"/Users/{user['id']}", "version": 'W/"\u00e9"'}
    answer = scim.ok("POST", "/Bulk", {"schemas": [BULK], "Operations": [bulk]})
    assert answer["Operations"][0]["status"] == "400"
    assert scim.ok("GET", f"/Users/{user['id']}")["active"] is True
    assert scim.ok("GET", f"/Groups/{group['id']}")["displayName"] == "Pre-sale"
