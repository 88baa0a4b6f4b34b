"""Scale-out: two provider instances on different ports over the same database (and, where
configured, Redis) behave as one. App processes hold no state of their own."""

from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from idp.app import create_app, settings_of
from idp.demo import load_demo
from idp.extensions import db
from idp.oauth import clients
from tests.apps import close
from tests.oidc_flow import pkce

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def two_instances(ctx):
    """Two apps, two ports, one issuer (as behind a load balancer), shared PostgreSQL/SQLite
    and shared Redis: under a key prefix of this test's own (test runs may overlap on one Redis;
    emptying a whole database under another run made its tests fail)."""
    from idp.kv import store_for

    prefix = f"test-scale-{secrets.token_hex(4)}:"
    servers, urls = [], []
    base = replace(settings_of(ctx), issuer="http://idp.example", redis_url=REDIS_URL)
    for _ in range(2):
        app = create_app(base)
        app.extensions["idp.kv"] = store_for(REDIS_URL, prefix=prefix)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls.append(f"http://127.0.0.1:{server.server_port}")
    yield urls, [s.app for s in servers]
    for server in servers:
        server.shutdown()
        server.server_close()
        close(server.app)
    client = servers[0].app.extensions["idp.kv"].client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def _client():
    list(load_demo())
    client, secret = clients.create_client(
        "Seller center",
        redirect_uris=["https://app.example/cb"],
        scope="openid profile offline_access",
    )
    return client.client_id, secret


def _form(html: str) -> dict:
    return {
        name: value.replace("&amp;", "&")
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', html)
    }


def _code(client_id: str, sign_in_at: str, come_back_at: str) -> tuple[str, str]:
    """alice signs in at one instance; the browser's next request lands on another. The code
    and its PKCE verifier."""
    verifier, challenge = pkce()
    browser = requests.Session()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://app.example/cb",
        "scope": "openid profile offline_access",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    login_page = browser.get(f"{sign_in_at}/oauth/authorize", params=params)
    fields = _form(login_page.text)
    signed_in = browser.post(
        f"{sign_in_at}/login",
        allow_redirects=False,
        data={
            "csrf_token": fields["csrf_token"],
            "next": fields["next"],
            "login": "acme:alice",
            "password": "alice-staff-pw",
        },
    )
    assert signed_in.status_code == 302
    back = browser.get(f"{come_back_at}{signed_in.headers['Location']}", allow_redirects=False)
    return parse_qs(urlsplit(back.headers["Location"]).query)["code"][0], verifier


def _redeem(base: str, client_id: str, secret: str, code: str, verifier: str):
    return requests.post(
        f"{base}/oauth/token",
        auth=(client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "https://app.example/cb",
        },
    )


def test_sign_in_on_one_instance_and_finish_on_the_other(two_instances):
    (one, two), _ = two_instances
    client_id, secret = _client()
    # the browser's next request lands on the other instance: same session, same cookies
    code, verifier = _code(client_id, one, two)
    tokens = _redeem(one, client_id, secret, code, verifier).json()
    # the code is single-use across instances
    replay = _redeem(two, client_id, secret, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # revoke through one, inactive at the other (the replay revoked it already; check refresh)
    refreshed = requests.post(
        f"{two}/oauth/token",
        auth=(client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 400  # family revoked by the replay, seen on instance two


def test_revoke_on_one_instance_is_seen_at_the_other(two_instances):
    (one, two), _ = two_instances
    service, service_secret = clients.create_client(
        "Service", grant_types=["client_credentials"], scope="openid"
    )
    access = requests.post(
        f"{one}/oauth/token",
        auth=(service.client_id, service_secret),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    introspect = lambda base: requests.post(  # noqa: E731
        f"{base}/oauth/introspect", auth=(service.client_id, service_secret), data={"token": access}
    ).json()
    assert introspect(two)["active"] is True
    assert (
        requests.post(
            f"{one}/oauth/revoke", auth=(service.client_id, service_secret), data={"token": access}
        ).status_code
        == 200
    )
    assert introspect(two) == {"active": False}


def test_changes_through_one_instance_reach_the_others_hot_paths_at_once(two_instances):
    """Issue 6: introspection and userinfo answer from the shared store at instance two; a
    role change (R18) and then disabling the account (R5), made through instance one, show
    there at once."""
    from idp.models import Account
    from idp.services import accounts, roles

    (one, two), (app_one, _) = two_instances
    client_id, secret = _client()
    code, verifier = _code(client_id, one, one)
    access = _redeem(one, client_id, secret, code, verifier).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    assert requests.get(f"{two}/oauth/userinfo", headers=bearer).json()["roles"] != ["Auditor"]
    with app_one.app_context():
        owner = accounts.find_by_login_name("acme")
        role = roles.create_role(owner, "Auditor", ["orders:view"])
        alice = db.session.query(Account).filter_by(name="alice").one()
        accounts.update_sub_account(owner, alice, roles=[role.id])
    assert requests.get(f"{two}/oauth/userinfo", headers=bearer).json()["roles"] == ["Auditor"]
    with app_one.app_context():
        owner = accounts.find_by_login_name("acme")
        alice = db.session.query(Account).filter_by(name="alice").one()
        accounts.disable_sub_account(owner, alice)
    assert requests.get(f"{two}/oauth/userinfo", headers=bearer).status_code == 401
    assert requests.post(
        f"{two}/oauth/introspect", auth=(client_id, secret), data={"token": access}
    ).json() == {"active": False}


def test_keys_rotated_through_one_instance_verify_at_the_other(two_instances):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    (one, two), (app_one, _) = two_instances
    service, secret = clients.create_client(
        "Service", grant_types=["client_credentials"], scope="openid"
    )
    from idp.oauth import keys

    with app_one.app_context():
        keys.rotate()
    token = requests.post(
        f"{one}/oauth/token",
        auth=(service.client_id, secret),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    kid = jwt.decode(token, KeySet.import_key_set(requests.get(f"{one}/oauth/jwks").json())).header[
        "kid"
    ]
    # instance two never rotated anything itself: it finds the new key in the shared database
    jwks_two = requests.get(f"{two}/oauth/jwks").json()
    assert kid in {k["kid"] for k in jwks_two["keys"]}
    verified = jwt.decode(token, KeySet.import_key_set(jwks_two))
    assert verified.claims["sub"] == service.client_id
    assert (
        requests.post(
            f"{two}/oauth/introspect", auth=(service.client_id, secret), data={"token": token}
        ).json()["active"]
        is True
    )


def test_brute_force_counters_are_shared_through_redis(two_instances):
    (one, two), (app_one, _) = two_instances
    _client()
    with app_one.app_context():
        from idp.kv import kv

        assert type(kv()).__name__ == "RedisStore"
    browser = requests.Session()
    statuses = []
    for attempt in range(3):
        base = (one, two)[attempt % 2]  # alternate instances, as a load balancer would
        page = browser.get(f"{base}/login")
        statuses.append(
            browser.post(
                f"{base}/login",
                data={
                    "csrf_token": _form(page.text)["csrf_token"],
                    "login": "acme:carol",
                    "password": f"wrong-{attempt}",
                },
            ).status_code
        )
    assert statuses == [401, 401, 401]
    # Instance one saw two failures and instance two one; the shared counter holds all three
    # (per-process counters would hold two or one), so the delays and the lock apply everywhere.
    from idp.services import throttle

    with app_one.app_context():
        from idp.kv import kv

        fail_key, _ = throttle._name_keys("acme:carol")
        assert kv().get(fail_key) == "3"
        pair_key, _ = throttle._pair_keys("acme:carol", "127.0.0.1")
        assert kv().get(pair_key) == "3"  # the same address, through both instances


def test_readyz_and_healthz(two_instances):
    (one, _), _ = two_instances
    assert requests.get(f"{one}/healthz").json() == {"status": "ok"}
    ready = requests.get(f"{one}/readyz").json()
    assert ready["status"] == "ready" and ready["checks"] == {"database": "ok", "redis": "ok"}
    metrics = requests.get(f"{one}/metrics").text
    assert 'idp_http_requests_total{endpoint="ops.healthz",method="GET",status="200"}' in metrics
