"""Issue 6: the token endpoint records each token with one statement (``idp.oauth.token_store``)
that checks, as it runs, what must still hold: the client still at the revision it was
authenticated at (its copy cached in the process may be older), the store still held (R10,
R27), the refresh token not yet rotated. These tests count what is sent and change things
behind the caches' backs, to show the statements are the authority."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, text

from idp.extensions import db
from idp.models import Client
from idp.oauth import clients
from tests import oidc_flow as flow
from tests.store_sso_helpers import TOKEN_EXCHANGE, exchange

pytest_plugins = ["tests.oidc_fixtures"]

CC = {"grant_type": "client_credentials", "scope": "openid"}
STATEMENTS = (
    "record",
    "record_exchanged",
    "find_refresh",
    "rotate",
    "rotate_at_once",
    "find_code",
    "undo_rotation",
)


class Sent:
    statements: dict[str, int]
    orm: list[str]


@contextmanager
def sent():
    """What the block sent: token_store statements by name (its metric), and every other
    statement of the app's ORM engine (on SQLite token_store uses that engine too)."""

    def value(name: str) -> float:
        labels = {"statement": name}
        return REGISTRY.get_sample_value("idp_token_store_statements_total", labels) or 0.0

    before = {name: value(name) for name in STATEMENTS}
    result = Sent()
    result.orm = []

    def record(_conn, _cursor, statement, *_args) -> None:
        result.orm.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield result
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        deltas = {name: int(value(name) - before[name]) for name in STATEMENTS}
        result.statements = {name: n for name, n in deltas.items() if n}


def only(result: Sent) -> None:
    """Nothing was sent beyond the token_store statements (on SQLite they go through the ORM
    engine, a rotation as an UPDATE and an INSERT; on PostgreSQL, on a cursor of their own)."""
    expected = 0
    if db.engine.dialect.name == "sqlite":
        expected = sum(n * (2 if name == "rotate" else 1) for name, n in result.statements.items())
    assert len(result.orm) == expected, result.orm


@pytest.fixture
def service(ctx):
    return flow.register("Report job", grant_types=["client_credentials"], scope="openid email")


@pytest.fixture
def exchanger(ctx):
    return flow.register(
        "Seller center", grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE]
    )


def cc(web, rp: flow.RP, scope: str = "openid"):
    return web.post("/oauth/token", headers=rp.basic, data={**CC, "scope": scope})


def test_client_credentials_send_one_statement(web, service):
    assert cc(web, service).status_code == 200  # the client is cached now
    with sent() as result:
        assert cc(web, service).status_code == 200
    assert result.statements == {"record": 1}
    only(result)


def test_refresh_sends_one_statement_on_postgresql(web, exchanger, alice, make):
    """On PostgreSQL one statement rotates the token, writes its successor and reads what the
    new access token needs; SQLite (no network) reads, then rotates."""
    tokens = flow.token_set(web, exchanger, login="acme:alice", password=make.PASSWORD)
    first = flow.refresh(web, exchanger, tokens["refresh_token"]).get_json()  # caches all
    with sent() as result:
        renewed = flow.refresh(web, exchanger, first["refresh_token"])
    assert renewed.status_code == 200, renewed.get_json()
    if db.engine.dialect.name == "postgresql":
        assert result.statements == {"rotate_at_once": 1}
    else:
        assert result.statements == {"find_refresh": 1, "rotate": 1}
    only(result)
    assert flow.introspect(web, exchanger, renewed.get_json()["access_token"])["active"] is True
    again = flow.refresh(web, exchanger, renewed.get_json()["refresh_token"])
    assert again.status_code == 200  # the successor was recorded as a refresh token


def test_a_refresh_asking_for_fewer_scopes_gets_them(web, exchanger, alice, make):
    tokens = flow.token_set(web, exchanger, login="acme:alice", password=make.PASSWORD)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    narrower = web.post("/oauth/token", headers=exchanger.basic, data={**data, "scope": "openid"})
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "openid"
    wider = web.post(
        "/oauth/token",
        headers=exchanger.basic,
        data={
            **data,
            "refresh_token": narrower.get_json()["refresh_token"],
            "scope": "openid email",
        },
    )
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"


def test_a_refresh_that_could_not_be_answered_is_no_replay_when_retried(
    ctx, web, exchanger, alice, make
):
    """Redis goes away after the rotation was written: the answer is a 503, the rotation is
    taken back, and the same refresh token works once Redis is back (no family revoked)."""
    from idp import kv

    tokens = flow.token_set(web, exchanger, login="acme:alice", password=make.PASSWORD)
    # (the client is cached in the process now: the request's first Redis read is the claims)
    held = flow.refresh(web, exchanger, tokens["refresh_token"]).get_json()["refresh_token"]
    working = ctx.extensions[kv.EXTENSION]
    ctx.extensions[kv.EXTENSION] = kv.RedisStore("redis://127.0.0.1:1/0")
    try:
        failed = flow.refresh(web, exchanger, held)
    finally:
        ctx.extensions[kv.EXTENSION] = working
    assert failed.status_code == 503
    retried = flow.refresh(web, exchanger, held)
    assert retried.status_code == 200, retried.get_json()
    assert flow.introspect(web, exchanger, retried.get_json()["access_token"])["active"] is True


def test_token_exchange_sends_one_statement(web, exchanger, owner, make):
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    make.staff(owner, "bob", stores_=[sg, my])
    tokens = flow.token_set(web, exchanger, login="acme:bob", password=make.PASSWORD)
    assert exchange(web, exchanger, tokens["access_token"], my.public_id).status_code == 200
    with sent() as result:
        answer = exchange(web, exchanger, tokens["access_token"], my.public_id)
    assert answer.status_code == 200, answer.get_json()
    assert result.statements == {"record_exchanged": 1}
    only(result)


def test_a_rotated_secret_works_at_once_though_the_client_was_cached(web, service):
    assert cc(web, service).status_code == 200
    new_secret = clients.rotate_secret(clients.get_client(service.client_id))
    refused = cc(web, service)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert cc(web, flow.RP(service.client_id, new_secret)).status_code == 200


def test_a_narrowed_scope_applies_to_the_next_token_at_once(web, service):
    assert cc(web, service, "openid email").get_json()["scope"] == "openid email"
    client = clients.get_client(service.client_id)
    client.scope = "openid"
    db.session.commit()
    assert cc(web, service, "openid email").get_json()["scope"] == "openid"


def test_a_client_disabled_by_a_bulk_update_issues_nothing_more(web, service):
    assert cc(web, service).status_code == 200
    db.session.query(Client).filter_by(client_id=service.client_id).update({"disabled": True})
    db.session.commit()
    with sent() as result:
        refused = cc(web, service)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert result.statements.get("record", 0) <= 1  # the cached copy's try, refused by SQL


def test_every_change_to_a_client_raises_its_revision(ctx, service, run):
    def revision() -> int:
        db.session.expire_all()
        return clients.get_client(service.client_id).revision

    start = revision()
    clients.rotate_secret(clients.get_client(service.client_id))
    assert revision() == start + 1
    db.session.query(Client).filter_by(client_id=service.client_id).update({"name": "Renamed"})
    db.session.commit()
    assert revision() == start + 2
    db.session.execute(text("UPDATE clients SET scope = 'openid'"))  # by hand: no event
    db.session.commit()
    assert revision() == start + 2
    run("shared-state-reset")
    assert revision() == start + 3


def test_a_hand_made_client_change_applies_after_shared_state_reset(web, service, run):
    assert cc(web, service, "openid email").get_json()["scope"] == "openid email"
    db.session.execute(
        text("UPDATE clients SET scope = 'openid' WHERE client_id = :id"),
        {"id": service.client_id},
    )
    db.session.commit()
    run("shared-state-reset")
    assert cc(web, service, "openid email").get_json()["scope"] == "openid"


def test_r10_exchange_is_refused_by_its_statement_when_the_store_went_behind_the_cache(
    web, exchanger, owner, make
):
    """The account's claims (cached) still list the store; the database no longer does."""
    sg, my = make.store(owner, "shopee-sg"), make.store(owner, "shopee-my")
    bob = make.staff(owner, "bob", stores_=[sg, my])
    tokens = flow.token_set(web, exchanger, login="acme:bob", password=make.PASSWORD)
    assert exchange(web, exchanger, tokens["access_token"], my.public_id).status_code == 200
    db.session.execute(  # by hand: no session event, the cached claims are not renewed
        text("DELETE FROM store_assignments WHERE account_id = :a AND store_id = :s"),
        {"a": bob.id, "s": my.id},
    )
    db.session.commit()
    with sent() as result:
        refused = exchange(web, exchanger, tokens["access_token"], my.public_id)
    assert refused.status_code == 400 and refused.get_json()["error"] == "access_denied"
    assert "does not hold" in refused.get_json()["error_description"]
    assert result.statements["record_exchanged"] >= 1


def test_a_code_for_another_client_does_not_use_it_up(signed_in, rp):
    verifier, challenge = flow.pkce()
    code = flow.get_code(signed_in, rp, challenge)
    other = flow.register("Other app")
    assert flow.exchange(signed_in, other, code, verifier).status_code == 400
    assert flow.exchange(signed_in, rp, code, verifier).status_code == 200


def test_a_nonce_is_refused_the_second_time(signed_in, rp):
    """OIDC Core 3.1.2.1: a nonce this client used before is a replay."""
    _, challenge = flow.pkce()
    flow.get_code(signed_in, rp, challenge, nonce="n-once")
    again = flow.query(flow.location(flow.authorize(signed_in, rp, challenge, nonce="n-once")))
    assert (again["error"], again["error_description"]) == ("invalid_request", "Replay attack")
    assert "code" not in again
    other = flow.register("Other app")  # nonces are per client
    elsewhere = flow.authorize(signed_in, other, challenge, nonce="n-once")
    assert "code" in flow.query(flow.location(elsewhere))


def test_r16_a_password_change_demanded_reaches_a_signed_in_browser_at_once(signed_in, rp, alice):
    """The authorization endpoint reads the account's facts from the shared store; a change
    to them is seen by the next request."""
    _, challenge = flow.pkce()
    flow.get_code(signed_in, rp, challenge)  # the facts are cached now
    account = db.session.get(type(alice), alice.id)
    account.must_change_password = True
    db.session.commit()
    response = flow.authorize(signed_in, rp, challenge)
    assert response.status_code == 302
    assert flow.location(response).startswith("/account/password")


def test_a_refresh_token_used_twice_at_once_is_used_once_and_its_family_revoked(
    ctx, web, exchanger, alice, make
):
    tokens = flow.token_set(web, exchanger, login="acme:alice", password=make.PASSWORD)
    start, answers = threading.Barrier(2), []

    def use() -> None:
        browser = flow.browser(ctx)
        start.wait()
        answers.append(flow.refresh(browser, exchanger, tokens["refresh_token"]))

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 400]
    winner = next(answer for answer in answers if answer.status_code == 200).get_json()
    assert flow.introspect(web, exchanger, winner["access_token"]) == {"active": False}
    assert flow.refresh(web, exchanger, winner["refresh_token"]).status_code == 400
