"""Issue 6: introspection and userinfo answer from the verified token plus the shared store (no
SQL), and the store stays in step with the database: revocation (R5, R10, RFC 7009), changes to
what claims are made of (R14, R18), clients changed or disabled, and a rolled-back change."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import Account, Client, IssuedToken
from idp.oauth import shared_state
from idp.services import accounts, roles, stores
from tests import oidc_flow as flow
from tests.sql import Statements

pytest_plugins = ["tests.oidc_fixtures"]


@pytest.fixture
def issued(signed_in, rp):
    return flow.token_set(signed_in, rp)


def test_introspection_and_userinfo_of_an_active_token_send_no_sql(web, rp, issued):
    # Registering the client held its entry (read from the database only) for HOLD_TTL: as if
    # that had passed. The next introspection caches the client.
    shared_state.kv().delete(shared_state.client_key(rp.client_id))
    flow.introspect(web, rp, issued["access_token"])
    flow.userinfo(web, issued["access_token"])  # caches the answer
    with Statements() as sql:
        body = flow.introspect(web, rp, issued["access_token"])
        answer = flow.userinfo(web, issued["access_token"])
    assert body["active"] is True and body["username"] == "acme:alice"
    assert answer.status_code == 200 and answer.get_json()["preferred_username"] == "acme:alice"
    assert sql.sent == []


def test_r5_disabling_an_account_marks_its_tokens_revoked_in_the_shared_store(
    web, rp, owner, alice, issued
):
    jti = flow.jwt_payload(issued["access_token"])["jti"]
    assert flow.introspect(web, rp, issued["access_token"])["active"] is True
    accounts.disable_sub_account(owner, db.session.get(Account, alice.id))
    assert shared_state.kv().get(shared_state.revoked_key(jti)) == "1"
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}
    assert flow.userinfo(web, issued["access_token"]).status_code == 401


def test_rfc7009_revoking_an_access_token_is_seen_at_once_by_both_paths(web, rp, issued):
    flow.userinfo(web, issued["access_token"])  # a cached answer must not outlive revocation
    web.post("/oauth/revoke", headers=rp.basic, data={"token": issued["access_token"]})
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}
    assert flow.userinfo(web, issued["access_token"]).status_code == 401


def test_r10_removing_the_store_revokes_the_tokens_for_it(web, rp, owner, make):
    shop = make.store(owner)
    make.staff(owner, "bob", stores_=[shop])
    issued = flow.token_set(web, rp, login="acme:bob", password=make.PASSWORD)
    assert flow.jwt_payload(issued["access_token"])["store"] == shop.public_id
    flow.userinfo(web, issued["access_token"])
    stores.assign_stores(owner, ["bob"], [shop.public_id], mode=stores.REMOVE)
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}
    assert flow.userinfo(web, issued["access_token"]).status_code == 401


def test_r14_userinfo_shows_a_verification_at_once(web, rp, alice, issued, make):
    assert flow.userinfo(web, issued["access_token"]).get_json()["muted"] is False
    account = db.session.get(Account, alice.id)
    account.email_verified_at = account.phone_verified_at = None
    db.session.commit()
    assert flow.userinfo(web, issued["access_token"]).get_json()["muted"] is True
    accounts.mark_verified(db.session.get(Account, alice.id), "email")
    db.session.commit()
    assert flow.userinfo(web, issued["access_token"]).get_json()["muted"] is False


def test_r18_a_role_change_reaches_the_cached_userinfo_and_new_tokens_at_once(
    web, rp, owner, alice, issued
):
    before = flow.userinfo(web, issued["access_token"]).get_json()["roles"]
    role = roles.create_role(owner, "Night shift", ["orders:ship"])
    accounts.update_sub_account(owner, db.session.get(Account, alice.id), roles=[role.id])
    after = flow.userinfo(web, issued["access_token"]).get_json()
    assert "Night shift" in after["roles"] and "Night shift" not in before
    assert "orders:ship" in after["permissions"]
    renewed = flow.refresh(web, rp, issued["refresh_token"]).get_json()
    assert "Night shift" in flow.jwt_payload(renewed["access_token"])["roles"]


def test_a_rotated_client_secret_stops_working_at_once_though_the_client_was_cached(web, rp):
    from idp.oauth import clients

    assert flow.introspect(web, rp, "x")["active"] is False  # authenticated: cached now
    new_secret = clients.rotate_secret(clients.get_client(rp.client_id))
    refused = web.post("/oauth/introspect", headers=rp.basic, data={"token": "x"})
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    rotated = flow.RP(rp.client_id, new_secret)
    assert flow.introspect(web, rotated, "x") == {"active": False}


def test_a_client_changed_while_a_reader_loads_it_is_not_cached_stale(web, rp):
    """A reader that loaded the row before a change committed must not put it back: the change
    holds the entry, and readers fill only an absent one."""
    from idp.oauth import clients

    key = shared_state.client_key(rp.client_id)
    shared_state.kv().delete(key)
    stale = shared_state.rowcache.dump(clients.get_client(rp.client_id))  # read before ...
    new_secret = clients.rotate_secret(clients.get_client(rp.client_id))  # ... this commits
    assert shared_state.kv().get(key) == shared_state.HELD
    assert not shared_state.kv().set(key, stale, 300, only_if_absent=True)  # the late fill
    assert web.post("/oauth/introspect", headers=rp.basic, data={"token": "x"}).status_code == 401
    assert flow.introspect(web, flow.RP(rp.client_id, new_secret), "x") == {"active": False}


def test_cli_disables_a_client_at_once_and_enables_it_again(run, web, rp, issued):
    assert flow.introspect(web, rp, issued["access_token"])["active"] is True
    run("clients", "disable", rp.client_id)
    assert flow.userinfo(web, issued["access_token"]).status_code == 401
    refused = web.post("/oauth/introspect", headers=rp.basic, data={"token": "x"})
    assert refused.status_code == 401
    run("clients", "enable", rp.client_id)
    assert flow.introspect(web, rp, "x") == {"active": False}  # authenticates again


def test_shared_state_reset_applies_a_hand_made_sql_change(run, web, rp, alice, issued):
    from sqlalchemy import text

    assert flow.userinfo(web, issued["access_token"]).status_code == 200
    db.session.execute(
        text("UPDATE accounts SET status = 'disabled' WHERE id = :id"), {"id": alice.id}
    )
    db.session.commit()  # raw SQL: no session event saw it
    assert flow.introspect(web, rp, issued["access_token"])["active"] is True  # not seen yet
    run("shared-state-reset")
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}


def test_an_unknown_client_id_is_remembered_until_it_is_registered(web):
    from idp.oauth import clients

    data = {"grant_type": "client_credentials"}
    auth = {"Authorization": flow.RP("later-app", "s3cret").basic["Authorization"]}
    assert web.post("/oauth/token", headers=auth, data=data).status_code == 401
    with Statements() as sql:
        assert web.post("/oauth/token", headers=auth, data=data).status_code == 401
    assert not [s for s in sql.sent if "clients" in s]
    _, secret = clients.create_client(
        "Later app", client_id="later-app", grant_types=["client_credentials"], scope="openid"
    )
    answer = web.post("/oauth/token", data=data, headers=flow.RP("later-app", secret).basic)
    assert answer.status_code == 200


def test_a_rolled_back_revocation_takes_its_markers_back(web, rp, issued):
    row = (
        db.session.query(IssuedToken)
        .filter_by(jti=flow.jwt_payload(issued["access_token"])["jti"])
        .one()
    )
    shared_state.revoke(IssuedToken.family == row.family)
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}  # fail closed
    db.session.rollback()
    assert flow.introspect(web, rp, issued["access_token"])["active"] is True


def test_a_client_disabled_by_a_bulk_update_is_refused_and_its_tokens_inactive(web, rp, issued):
    flow.introspect(web, rp, issued["access_token"])
    db.session.query(Client).filter_by(client_id=rp.client_id).update({"disabled": True})
    db.session.commit()
    assert flow.userinfo(web, issued["access_token"]).status_code == 401
    refused = web.post("/oauth/introspect", headers=rp.basic, data={"token": "x"})
    assert refused.status_code == 401


def test_a_store_that_lost_its_data_never_makes_a_revoked_token_active_again(web, rp, issued):
    """Redis restarted empty (it keeps nothing on disk here): the markers are written again
    from the database before any token is judged."""
    web.post("/oauth/revoke", headers=rp.basic, data={"token": issued["access_token"]})
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}
    from idp import kv

    web.application.extensions[kv.EXTENSION] = kv.MemoryStore()  # everything forgotten
    assert flow.introspect(web, rp, issued["access_token"]) == {"active": False}
    assert flow.userinfo(web, issued["access_token"]).status_code == 401


def test_a_cold_store_lets_concurrent_requests_wait_for_one_rebuild(web, rp, issued):
    """Issue 12: right after a start on an empty Redis, six introspections at once answered
    503 503 503 200 200 200. One rebuilds the markers; the others wait for it."""
    import os
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from idp import kv

    url = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    prefix = f"test-cold-{secrets.token_hex(4)}:"
    web.application.extensions[kv.EXTENSION] = cold = kv.store_for(url, prefix=prefix)
    try:

        def introspect(_):
            answer = flow.browser(web.application).post(
                "/oauth/introspect", headers=rp.basic, data={"token": issued["access_token"]}
            )
            return answer.status_code, (answer.get_json() or {}).get("active")

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(introspect, range(6)))
        assert answers == [(200, True)] * 6
    finally:
        for key in cold.client.scan_iter(f"{prefix}*"):
            cold.client.delete(key)


def test_a_rebuild_that_takes_long_elsewhere_is_answered_from_the_database(
    web, rp, issued, signed_in, monkeypatch
):
    """Another instance holds the rebuild longer than a request waits: the request asks the
    database, and a revoked token stays revoked."""
    from idp import kv

    revoked = flow.token_set(signed_in, rp)["access_token"]
    web.post("/oauth/revoke", headers=rp.basic, data={"token": revoked})
    cold = web.application.extensions[kv.EXTENSION] = kv.MemoryStore()
    cold.set(shared_state.MARKERS_LOCK, "1", 30)  # a rebuild under way on another instance
    monkeypatch.setattr(shared_state, "REBUILD_WAIT", 0.1)
    assert flow.introspect(web, rp, issued["access_token"])["active"] is True
    assert flow.introspect(web, rp, revoked) == {"active": False}
    assert flow.userinfo(web, issued["access_token"]).status_code == 200
    assert flow.userinfo(web, revoked).status_code == 401
    assert cold.get(shared_state.MARKERS_READY) is None  # nothing built here: not its turn


def test_redis_unreachable_is_a_503_never_a_500(web, rp, issued):
    from idp import kv

    extensions = web.application.extensions
    working, extensions[kv.EXTENSION] = (
        extensions[kv.EXTENSION],
        kv.RedisStore("redis://127.0.0.1:1/0"),
    )
    try:
        token = {"token": issued["access_token"]}
        answer = web.post("/oauth/introspect", headers=rp.basic, data=token)
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "temporarily_unavailable"
        assert flow.userinfo(web, issued["access_token"]).status_code == 503
    finally:
        extensions[kv.EXTENSION] = working
