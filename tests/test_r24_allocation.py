"""R24: inquiries are allocated by weighted round-robin over the eligible staff; each condition of
eligibility taken away makes that member get nothing more at once. Presence comes from the chat
app's heartbeat (issue 18, item 1); the allocation API answers the chat platform's back end."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp import kv
from idp.extensions import db
from idp.models import Account
from idp.oauth import clients, sessions
from idp.services import accounts, groups, inquiries, stores
from tests import oidc_flow as flow
from tests.inquiry_helpers import ALLOCATE, backend_token, platform

_ids = itertools.count(1)


def _new_ids(n: int) -> list[str]:
    return [f"inq-{next(_ids)}" for _ in range(n)]


def test_r24_round_robin_spreads_inquiries_evenly_and_keeps_each_answer(ctx):
    world = platform(ctx)
    ids = _new_ids(30)
    first = [world.who(i) for i in ids]
    assert Counter(first) == {"acme:alice": 10, "acme:bob": 10, "acme:carol": 10}
    # round-robin: three in a row are three people
    assert all(len(set(first[k : k + 3])) == 3 for k in range(0, 30, 3))
    # an inquiry asked again keeps its answer, and does not move the rotation
    again = world.allocate(ids[0])
    assert again.get_json()["login_name"] == first[0] and again.get_json()["kept"] is True
    assert again.get_json()["sub"] == world.staff[first[0].split(":")[1]].public_id


def test_r24_weights_give_weighted_shares(ctx):
    world = platform(ctx, weights={"alice": 3, "bob": 1, "carol": 2})
    counts = Counter(world.who(i) for i in _new_ids(60))
    assert counts == {"acme:alice": 30, "acme:bob": 10, "acme:carol": 20}


def _take_away(world, condition: str, name: str, clock_store) -> None:
    owner, account = world.owner, world.staff[name]
    if condition == "disabled":  # R5
        accounts.disable_sub_account(owner, account)
    elif condition == "muted":  # R14: a changed email is unverified again
        accounts.update_sub_account(owner, account, email=f"new-{name}@acme.test")
    elif condition == "unassigned":
        stores.assign_stores(owner, [account], [world.store], mode="remove")
    elif condition == "not_in_group":
        groups.remove_member(owner, world.group, account)
    elif condition == "switched_off":  # by the owner
        inquiries.set_member_rules(owner, account, receives=False)
    elif condition == "own_break":  # by the member, on their own page
        web = world.browsers[name]
        page = web.get("/account")  # the overview's inquiries card
        fields = flow.form_fields(page.get_data(as_text=True))
        answer = web.post(
            "/account/inquiries", data={"csrf_token": fields["csrf_token"], "receives": "off"}
        )
        assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    elif condition == "offline":  # the chat app signs the member out
        assert world.sign_out(name).status_code == 200
    elif condition == "heartbeat_lapsed":
        clock_store.now += ctx_presence_ttl(world) + 1
        for other in world.staff:  # the others keep beating
            if other != name:
                assert world.heartbeat(other).status_code == 200
    elif condition == "session_ended":  # the owner ends the member's sessions (R16)
        sessions.end_sessions_by_owner(owner, account)
    elif condition == "signed_out_of_provider":  # the member signs out of the provider
        web = world.browsers[name]
        page = web.get("/oauth/logout")
        fields = flow.form_fields(page.get_data(as_text=True))
        assert web.post("/oauth/logout", data={**fields, "confirm": "yes"}).status_code in (
            200,
            302,
        )
    else:  # pragma: no cover
        raise AssertionError(condition)


def ctx_presence_ttl(world) -> int:
    return world.app.extensions["idp.settings"].presence_ttl


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CONDITIONS = [
    "disabled",
    "muted",
    "unassigned",
    "not_in_group",
    "switched_off",
    "own_break",
    "offline",
    "heartbeat_lapsed",
    "session_ended",
    "signed_out_of_provider",
]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_r24_member_no_longer_eligible_gets_nothing_more_at_once(ctx, condition):
    """R24: take one condition away from bob; at once he gets no new inquiry and the ones he
    had go to the others when asked again."""
    clock_store = ManualClock()
    ctx.extensions[kv.EXTENSION] = kv.MemoryStore(clock=clock_store)
    world = platform(ctx)
    before = {i: world.who(i) for i in _new_ids(9)}
    bobs = [i for i, who in before.items() if who == "acme:bob"]
    assert len(bobs) == 3
    _take_away(world, condition, "bob", clock_store)
    db.session.expire_all()
    after = Counter(world.who(i) for i in _new_ids(20))
    assert "acme:bob" not in after
    assert after == {"acme:alice": 10, "acme:carol": 10}
    for inquiry in bobs:  # re-allocated, not kept
        answer = world.allocate(inquiry).get_json()
        assert answer["login_name"] != "acme:bob" and answer["kept"] is False
    # the others keep their inquiries
    for inquiry, who in before.items():
        if who != "acme:bob":
            assert world.allocate(inquiry).get_json()["login_name"] == who


def test_r24_no_one_eligible_goes_to_the_main_account_with_a_reason(ctx):
    world = platform(ctx, names=("alice",))
    assert world.sign_out("alice").status_code == 200
    answer = world.allocate("inq-x").get_json()
    assert answer["account_type"] == "main" and answer["login_name"] == "acme"
    assert answer["reason"] == "no_one_eligible"
    inquiries.set_store_rules(world.owner, world.store, enabled=False, group_id=None)
    assert world.allocate("inq-y").get_json()["reason"] == "allocation_off"


def test_r24_the_request_names_another_group(ctx):
    world = platform(ctx)
    after_sale = groups.create_group(world.owner, world.store, "After-sale")
    groups.add_member(world.owner, after_sale, world.staff["carol"])
    answers = {world.allocate(i, group="after-sale").get_json()["login_name"] for i in _new_ids(4)}
    assert answers == {"acme:carol"}
    refused = world.allocate("inq-z", group="Night shift")
    assert refused.status_code == 400 and refused.get_json()["field"] == "group"


def test_r24_a_back_in_member_joins_the_rotation_without_a_burst(ctx):
    world = platform(ctx)
    assert world.sign_out("bob").status_code == 200
    for i in _new_ids(40):
        world.who(i)
    assert world.heartbeat("bob").status_code == 200
    after = Counter(world.who(i) for i in _new_ids(30))
    assert after == {"acme:alice": 10, "acme:bob": 10, "acme:carol": 10}


def test_r24_allocation_takes_the_platform_token_with_its_scope(ctx):
    world = platform(ctx, names=("alice",))
    web = flow.browser(ctx)
    body = {"store": world.store.public_id, "inquiry_id": "i1"}
    assert web.post("/api/inquiries/allocate", json=body).status_code == 401
    # a person's token (even with chat:read) is not the platform's
    person = web.post(
        "/api/inquiries/allocate", json=body, headers=world.bearer(world.tokens["alice"])
    )
    assert person.status_code == 403
    # a client token without the scope
    other, secret = __import__("idp.oauth.clients", fromlist=["x"]).create_client(
        "Other service", grant_types=["client_credentials"], scope="openid"
    )
    token = web.post(
        "/oauth/token",
        headers=flow.RP(other.client_id, secret).basic,
        data={"grant_type": "client_credentials"},
    ).get_json()["access_token"]
    refused = web.post("/api/inquiries/allocate", json=body, headers=world.bearer(token))
    assert (
        refused.status_code == 403 and "inquiries:allocate" in refused.headers["WWW-Authenticate"]
    )
    # presence takes the member's own token, with the chat app's scope
    assert (
        web.post("/api/inquiries/presence", headers=world.bearer(world.backend_token)).status_code
        == 401
    )


def test_r24_tenants_never_see_each_others_stores(ctx, make):
    world = platform(ctx, names=("alice",))
    globex = make.company("globex")
    theirs = make.store(globex, "lazada-sg")
    # a company's own API client may allocate only its own company's inquiries
    from tests.admin_api import company_client

    erp = company_client(globex, "Globex ERP")
    client = (
        db.session.query(__import__("idp.models", fromlist=["Client"]).Client)
        .filter_by(client_id=erp.client_id)
        .one()
    )
    client.scope = "inquiries:allocate"
    db.session.commit()
    token = (
        flow.browser(ctx)
        .post("/oauth/token", headers=erp.basic, data={"grant_type": "client_credentials"})
        .get_json()["access_token"]
    )
    web = flow.browser(ctx)
    ours = web.post(
        "/api/inquiries/allocate",
        headers=world.bearer(token),
        json={"store": world.store.public_id, "inquiry_id": "i1"},
    )
    assert ours.status_code == 404
    own = web.post(
        "/api/inquiries/allocate",
        headers=world.bearer(token),
        json={"store": theirs.public_id, "inquiry_id": "i1"},
    )
    assert own.status_code == 200 and own.get_json()["login_name"] == "globex"


def test_r24_an_app_limited_to_some_marketplaces_allocates_only_their_stores(ctx):
    """A provider app registered for Lazada reads no Shopee store's staff (who is online) and
    moves no Shopee rotation: "no such store", as the events intake answers."""
    world = platform(ctx)  # acme's store is on shopee-sg
    lazada, secret = clients.create_client(
        "Lazada chat",
        grant_types=["client_credentials"],
        scope=ALLOCATE,
        marketplaces=["lazada-sg"],
    )
    token = backend_token(flow.browser(ctx), flow.RP(lazada.client_id, secret))
    refused = flow.browser(ctx).post(
        "/api/inquiries/allocate",
        headers=world.bearer(token),
        json={"store": world.store.public_id, "inquiry_id": "x1"},
    )
    assert refused.status_code == 404, refused.get_json()
    assert "login_name" not in refused.get_json() and "sub" not in refused.get_json()
    # the rotation did not move: the platform's next inquiry goes to the first in turn
    assert world.who("x2") == "acme:alice"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(["store", "inquiry_id", "group"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=300), st.lists(st.integers(), max_size=3)
        ),
    )
)
def test_r24_any_allocation_body_is_answered_never_a_500(ctx_module_platform, body):
    world = ctx_module_platform
    response = flow.browser(world.app).post(
        "/api/inquiries/allocate", headers=world.bearer(world.backend_token), json=body
    )
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)[:300]
    assert "error" in response.get_json() or response.status_code == 200


@pytest.fixture
def ctx_module_platform(ctx):
    return platform(ctx, names=("alice",))


def test_r14_muted_rule_in_python_and_sql_agree(ctx, make):
    """R14 is written twice (``Account.is_muted`` and ``Account.unmuted()``, side by side)."""
    owner = make.company("acme")
    make.staff(owner, "verified")
    make.staff(owner, "unverified", verified=False)
    phone = make.staff(owner, "phoned", verified=False)
    accounts.mark_verified(phone, "phone")
    db.session.commit()
    in_sql = set(db.session.scalars(db.select(Account.name).where(Account.unmuted())))
    in_python = {a.name for a in db.session.query(Account) if not a.is_muted and not a.is_main}
    assert in_sql - {"acme"} == in_python == {"verified", "phoned"}
