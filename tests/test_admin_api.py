"""The admin API (issue 16): who may call it (every route refuses a sub-account's token, a token
without the admin scope, a token for another audience and another company's API client), its
OpenAPI 3.1 description, ETag/If-Match (two edits at once: one wins, one gets 412),
Idempotency-Key (a replay creates nothing), cursor pagination, the per-client rate limit, and the
audit entries that name the API client or the owner's token."""

from __future__ import annotations

import re
import threading

import pytest
from openapi_spec_validator import validate

from idp.extensions import db
from idp.models import Account, AuditEvent
from idp.oauth import clients, tokens
from idp.oauth.config import ADMIN_SCOPE
from idp.services import accounts, groups, roles
from tests import oidc_flow as flow
from tests.admin_api import Api, client_token, company_client, owner_tool, user_token
from tests.factories import PASSWORD
from tests.store_sso_helpers import exchange
from tests.test_r15_wallet import WALLET_PW, assert_unchanged, snapshot

PUBLIC = {"/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def sg(owner, make):
    return make.store(owner, "shopee-sg")


@pytest.fixture
def my(owner, make):
    return make.store(owner, "shopee-my")


@pytest.fixture
def alice(owner, sg, make) -> Account:
    return make.staff(owner, "alice", stores_=[sg], email="alice@example.test")


@pytest.fixture
def tool(ctx) -> flow.RP:
    return owner_tool()


@pytest.fixture
def api(ctx, owner, tool) -> Api:
    """The owner's tool, with the owner's token."""
    return Api(flow.browser(ctx), user_token(ctx, tool, "acme"))


@pytest.fixture
def erp(ctx, owner) -> Api:
    """The company's own API client."""
    web = flow.browser(ctx)
    return Api(web, client_token(web, company_client(owner)))


def company_rows(owner: Account) -> tuple:
    """What another caller must never change of the company: its log and its objects' versions."""
    db.session.expire_all()
    events = db.session.query(AuditEvent).filter_by(company_id=owner.company_id).count()
    staff = [accounts.edit_version(a) for a in accounts.list_staff(owner, status="all")]
    role_versions = [roles.edit_version(r) for r in roles.list_roles(owner)]
    group_versions = [groups.edit_version(g) for g in groups.list_groups(owner)]
    return events, staff, role_versions, group_versions


# --- every route refuses the callers it must (issue 16's "done when") -------------------------


def api_routes(app) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return found


def concrete(rule: str, ids: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: ids[m.group(1)], rule)


@pytest.fixture
def company_ids(owner, alice, sg) -> dict[str, str]:
    """Real ids of acme's objects, for the routes' parameters."""
    role = roles.create_role(owner, "Packers", ["orders:ship"])
    group = groups.create_group(owner, sg, "Pre-sale")
    groups.add_member(owner, group, alice)
    return {
        "ident": alice.public_id,
        "role_id": str(role.id),
        "group_id": str(group.id),
        "store": sg.public_id,
    }


def test_every_admin_route_refuses_the_four_kinds_of_caller(ctx, make, owner, tool, company_ids):
    web = flow.browser(ctx)
    other = make.company("globex")
    refused = {
        "sub-account": (user_token(ctx, tool, "acme:alice"), 403, "forbidden"),
        "no admin scope": (
            user_token(ctx, flow.register("Seller center"), "acme", scope="openid profile"),
            403,
            "insufficient_scope",
        ),
        "another audience": (
            _exchanged_for_another_app(ctx, tool, company_ids["store"]),
            401,
            "invalid_token",
        ),
        "provider app": (_provider_app_token(web), 403, "forbidden"),
    }
    globex = Api(web, client_token(web, company_client(other, "Globex ERP")))
    routes = api_routes(ctx)
    assert len(routes) >= 30
    before = snapshot()
    for method, rule in routes:
        path = concrete(rule, company_ids).removeprefix("/api/v1")
        for kind, (token, status, error) in refused.items():
            response = Api(web, token)(method, path, If_Match="*")
            assert response.status_code == status, (kind, method, rule, response.get_json())
            assert response.get_json()["error"] == error, (kind, method, rule)
            if error == "insufficient_scope":
                challenge = response.headers["WWW-Authenticate"]
                assert 'error="insufficient_scope"' in challenge and ADMIN_SCOPE in challenge
    assert_unchanged(before)

    acme = company_rows(owner)
    acme_ids = {company_ids["ident"], company_ids["store"], "acme"}
    for method, rule in routes:
        path = concrete(rule, company_ids).removeprefix("/api/v1")
        response = globex(method, path, If_Match="*")
        if "<" in rule:  # acme's ids: not found (or the body refused before anything is read)
            assert response.status_code in (400, 403, 404), (method, rule, response.get_json())
        else:  # its own company's lists (or a refusal)
            assert response.status_code < 500, (method, rule)
        assert not any(i in response.get_data(as_text=True) for i in acme_ids), (method, rule)
    assert company_rows(owner) == acme


def _exchanged_for_another_app(ctx, tool: flow.RP, store: str) -> str:
    """The owner's admin token traded (RFC 8693) for a token meant for another app: its ``aud``
    is that app, not the admin API."""
    other = flow.register("Chat console")
    clients.set_relations(clients.get_client(other.client_id), exchangeable_by=[tool.client_id])
    token = user_token(ctx, tool, "acme")
    web = flow.browser(ctx)
    response = exchange(web, tool, token, store, audience=other.client_id)
    assert response.status_code == 200, response.get_json()
    exchanged = response.get_json()
    assert ADMIN_SCOPE in exchanged["scope"].split()
    assert flow.jwt_payload(exchanged["access_token"])["aud"] == other.client_id
    return exchanged["access_token"]


def _provider_app_token(web) -> str:
    """A client-credentials token of one of the provider's own apps, no company's."""
    rp = flow.register("Reporting", grant_types=["client_credentials"], scope=ADMIN_SCOPE)
    return client_token(web, rp)


def test_a_call_without_a_token_or_with_garbage_is_401(ctx, owner):
    web = flow.browser(ctx)
    missing = Api(web, None).get("/staff")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert Api(web, "garbage").get("/staff").status_code == 401


def test_owner_token_names_the_api_in_its_audience(ctx, owner, tool):
    token = user_token(ctx, tool, "acme")
    assert tokens.api_audience() in flow.jwt_payload(token)["aud"]


# --- the description -------------------------------------------------------------------------


def test_openapi_document_validates_and_describes_every_route(ctx, owner):
    web = flow.browser(ctx)
    response = web.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)  # openapi-spec-validator: OpenAPI 3.1
    assert document["openapi"] == "3.1.0"
    described = {
        (method.upper(), "/api/v1" + path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        (method, re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule)) for method, rule in api_routes(ctx)
    }
    assert described == served
    staff = document["paths"]["/staff/{ident}"]["patch"]
    headers = {p["name"] for p in staff["parameters"] if p["in"] == "header"}
    assert headers == {"If-Match"} and {"412", "428"} <= set(staff["responses"])
    assert "ETag" in staff["responses"]["200"]["headers"]
    create = document["paths"]["/staff"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    flows = document["components"]["securitySchemes"]["company_client"]["flows"]
    assert ADMIN_SCOPE in flows["clientCredentials"]["scopes"]


def test_reference_page_is_rendered_from_the_document_with_the_sites_stylesheet(ctx):
    web = flow.browser(ctx)
    page = web.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/static/css/app.css" in html and "Admin API reference" in html
    assert "/staff/{ident}/hand-over" in html and "//cdn" not in html
    chinese = web.get("/api/v1/docs", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 200


# --- a session: create a sub-account, assign stores, read the log ------------------------------


def test_owner_creates_staff_assigns_stores_and_reads_the_audit_log(api, owner, sg, my, alice):
    created = api("POST", "/staff", {"name": "bob", "stores": [sg.public_id], "email": "b@x.test"})
    assert created.status_code == 201, created.get_json()
    bob = created.get_json()
    assert bob["staff"]["login_name"] == "acme:bob" and bob["password"]
    assert created.headers["Location"].endswith("/api/v1/staff/" + bob["staff"]["id"])
    assert created.headers["Cache-Control"] == "no-store"

    assigned = api(
        "POST",
        "/staff/assignments",
        {"accounts": [bob["staff"]["id"], "alice"], "stores": [my.public_id], "mode": "add"},
    )
    assert assigned.status_code == 200, assigned.get_json()
    assert all(my.public_id in s["stores"] for s in assigned.get_json()["staff"])

    log = api.get("/audit?limit=5")
    assert log.status_code == 200
    actions = [e["action"] for e in log.get_json()["items"]]
    assert "stores.batch_add" in actions and "subaccount.created" in actions


def test_a_bad_body_gets_a_precise_400_and_writes_nothing(api, owner):
    before = snapshot()
    for body, field in (
        ({"stores": []}, "name"),
        ({"name": "bob", "colour": "red"}, "colour"),
        ({"name": "bob", "roles": [{"x": 1}]}, "roles"),
    ):
        response = api("POST", "/staff", body)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"] == "invalid_request"
        assert response.get_json()["field"] == field
    not_json = api.web.post(
        "/api/v1/staff", data="{", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert not_json.status_code == 400
    assert_unchanged(before)


# --- ETag and If-Match -------------------------------------------------------------------------


def test_edits_need_if_match_and_a_stale_one_is_412(api, alice):
    path = f"/staff/{alice.public_id}"
    etag = api.etag(path)
    missing = api("PATCH", path, {"nickname": "Ali"})
    assert missing.status_code == 428 and missing.get_json()["error"] == "precondition_required"
    done = api("PATCH", path, {"nickname": "Ali"}, If_Match=etag)
    assert done.status_code == 200 and done.get_json()["nickname"] == "Ali"
    assert done.headers["ETag"] != etag
    stale = api("PATCH", path, {"nickname": "Al"}, If_Match=etag)
    assert stale.status_code == 412 and stale.get_json()["error"] == "precondition_failed"
    assert api.get(path).get_json()["nickname"] == "Ali"


def _race(ctx, calls) -> list:
    """Run ``calls`` at once, each in its own thread (its own app context and session)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        with ctx.app_context():
            barrier.wait()
            response = call()
            results[i] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_concurrent_edits_with_one_etag_one_wins_one_gets_412(ctx, api, alice):
    path = f"/staff/{alice.public_id}"
    etag = api.etag(path)
    results = _race(
        ctx,
        [
            lambda n=n: Api(flow.browser(ctx), api.token)(
                "PATCH", path, {"nickname": n}, If_Match=etag
            )
            for n in ("First", "Second")
        ],
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 412], results
    winner = next(body for status, body in results if status == 200)
    db.session.expire_all()
    assert db.session.get(Account, alice.id).nickname == winner["nickname"]


def test_roles_groups_and_company_settings_carry_etags_too(api, owner, sg, alice):
    role = api("POST", "/roles", {"name": "Packers", "permissions": ["orders:ship"]})
    assert role.status_code == 201 and role.headers["ETag"]
    path = f"/roles/{role.get_json()['id']}"
    stale = role.headers["ETag"]
    assert api("PATCH", path, {"name": "Shippers"}, If_Match=stale).status_code == 200
    assert api("PATCH", path, {"name": "Senders"}, If_Match=stale).status_code == 412
    assert api("DELETE", path, If_Match=stale).status_code == 412
    assert api("DELETE", path, If_Match=api.etag(path)).status_code == 204

    group = api("POST", "/groups", {"store": sg.public_id, "name": "Pre-sale"})
    assert group.status_code == 201
    gpath = f"/groups/{group.get_json()['id']}"
    joined = api("POST", gpath + "/members", {"account": "alice"}, If_Match=group.headers["ETag"])
    assert joined.status_code == 200 and joined.get_json()["members"] == ["acme:alice"]
    again = api("PATCH", gpath, {"name": "After-sale"}, If_Match=group.headers["ETag"])
    assert again.status_code == 412

    etag = api.etag("/company")
    on = api("PUT", "/company/second-factor", {"required": True}, If_Match=etag)
    assert on.status_code == 200 and on.get_json()["require_second_factor"] is True
    late = api("PUT", "/company/preferences", {"language": "zh_CN"}, If_Match=etag)
    assert late.status_code == 412


# --- Idempotency-Key ---------------------------------------------------------------------------


def _staff_count(owner) -> int:
    db.session.expire_all()
    return len(accounts.list_staff(owner, status="all"))


def test_a_replayed_idempotency_key_creates_one_sub_account(api, owner):
    body = {"name": "carol"}
    first = api("POST", "/staff", body, Idempotency_Key="hr-42")
    assert first.status_code == 201 and first.get_json()["password"]
    replay = api("POST", "/staff", body, Idempotency_Key="hr-42")
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["staff"] == first.get_json()["staff"]
    assert replay.get_json()["password"] is None  # a generated password is shown once, not kept
    assert replay.headers["ETag"] == first.headers["ETag"]
    assert _staff_count(owner) == 1
    other = api("POST", "/staff", {"name": "dave"}, Idempotency_Key="hr-42")
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_key_reused"
    assert _staff_count(owner) == 1
    # without a key, the same body is a second request (refused here: the name is taken)
    assert api("POST", "/staff", body).status_code == 409


def test_two_concurrent_first_uses_of_a_key_create_one(ctx, api, owner):
    body = {"name": "erin", "password": PASSWORD}
    results = _race(
        ctx,
        [
            lambda: Api(flow.browser(ctx), api.token)("POST", "/staff", body, Idempotency_Key="k1")
            for _ in range(2)
        ],
    )
    statuses = sorted(status for status, _ in results)
    assert statuses in ([201, 201], [201, 409]), results
    assert _staff_count(owner) == 1


def test_idempotency_keys_are_per_caller(api, erp, owner):
    assert api("POST", "/staff", {"name": "fay"}, Idempotency_Key="same").status_code == 201
    theirs = erp("POST", "/staff", {"name": "fay"}, Idempotency_Key="same")
    assert theirs.status_code == 409  # not a replay of the owner's: run, and the name is taken


# --- pagination --------------------------------------------------------------------------------


def test_cursor_pagination_walks_every_page_without_duplicates(api, owner, make):
    names = [f"staff{i:02d}" for i in range(11)]
    for name in names:
        make.staff(owner, name)
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/staff" + query).get_json()
        seen += [s["name"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == names

    entries, cursor = [], None
    while True:
        page = api.get("/audit?limit=5" + (f"&cursor={cursor}" if cursor else "")).get_json()
        entries += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(entries) == len(set(entries)) and entries == sorted(entries, reverse=True)
    assert api.get("/staff?cursor=%%%").status_code == 400


# --- the rate limit ----------------------------------------------------------------------------


def test_too_many_calls_from_one_client_get_429_with_retry_after(ctx, api, erp):
    ctx.config["IDP_API_RATE_LIMIT"] = 3
    try:
        assert [api.get("/company").status_code for _ in range(3)] == [200, 200, 200]
        limited = api.get("/company")
        assert limited.status_code == 429
        assert limited.get_json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert erp.get("/company").status_code == 200  # another client counts on its own
    finally:
        ctx.config.pop("IDP_API_RATE_LIMIT")


# --- company clients and the audit entries -----------------------------------------------------


def test_a_company_client_acts_in_its_company_and_its_entries_name_it(ctx, make, erp, owner, sg):
    created = erp("POST", "/staff", {"name": "gus", "stores": [sg.public_id]})
    assert created.status_code == 201, created.get_json()
    event = db.session.query(AuditEvent).filter_by(action="subaccount.created").one()
    client_id = flow.jwt_payload(erp.token)["client_id"]
    assert event.company_id == owner.company_id
    assert event.actor == f"api:{client_id}" and event.details["acting_for"] == "acme"
    assert event.details["api"] == {"client_id": client_id}

    other = make.company("globex")
    outsider = make.staff(other, "hank")
    assert erp.get(f"/staff/{outsider.public_id}").status_code == 404
    assert "hank" not in erp.get("/staff").get_data(as_text=True)


def test_owner_token_entries_name_the_client_and_the_token_never_the_token_itself(api, alice):
    path = f"/staff/{alice.public_id}"
    assert api("POST", path + "/disable", If_Match=api.etag(path)).status_code == 200
    claims = flow.jwt_payload(api.token)
    event = db.session.query(AuditEvent).filter_by(action="subaccount.disabled").one()
    assert event.actor == "acme"
    assert event.details["api"] == {"client_id": claims["client_id"], "jti": claims["jti"]}
    assert api.token not in str(event.details)
    reads = db.session.query(AuditEvent).filter_by(action="api.read").all()
    assert reads and all(r.details["api"]["jti"] == claims["jti"] for r in reads)


def test_a_revoked_company_client_stops_at_once(ctx, owner):
    web = flow.browser(ctx)
    rp = company_client(owner)
    erp = Api(web, client_token(web, rp))
    assert erp.get("/company").status_code == 200
    clients.set_disabled(clients.get_client(rp.client_id), True)
    assert erp.get("/company").status_code == 401


def test_the_wallet_password_takes_the_owners_own_token(api, erp, owner):
    body = {"current_password": PASSWORD, "new_password": WALLET_PW}
    refused = erp("POST", "/wallet/password", body)
    assert refused.status_code == 403
    done = api("POST", "/wallet/password", body)
    assert done.status_code == 200 and done.get_json()["status"] == "set"


# --- the routes that were there before --------------------------------------------------------


def test_old_owner_routes_still_work_and_point_to_their_successors(ctx, owner, alice):
    from tests.test_console_api import user_token as old_token

    token = old_token(ctx, flow.register("Seller center"), "acme")["access_token"]
    web = flow.browser(ctx)
    response = web.get("/api/staff", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Deprecation"].startswith("@")
    assert response.headers["Link"] == '</api/v1/staff>; rel="successor-version"'
    verify = web.post("/api/wallet/verify", json={})
    assert "Deprecation" not in verify.headers
