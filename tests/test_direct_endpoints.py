"""Issue 6: the machine endpoints (token, introspection, revocation, userinfo, JWKS) are answered
straight from WSGI (``idp.web.direct``). What they answer is the protocol's (the other protocol
tests cover it); here is what that layer owns: methods, body limits, malformed input, response
headers, request ids, metrics, and URIs built on the issuer behind a TLS-terminating proxy."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import REGISTRY
from werkzeug.test import EnvironBuilder

from idp.app import create_app, settings_of
from tests import oidc_flow as flow
from tests.apps import close

pytest_plugins = ["tests.oidc_fixtures"]

CC = {"grant_type": "client_credentials", "scope": "openid"}


@pytest.fixture
def service(ctx):
    return flow.register("Report job", grant_types=["client_credentials"], scope="openid")


def error_of(response, status: int, error: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    return body["error_description"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/oauth/token", "POST"),
        ("put", "/oauth/introspect", "POST"),
        ("delete", "/oauth/revoke", "POST"),
        ("post", "/oauth/jwks", "GET, HEAD"),
        ("patch", "/oauth/userinfo", "GET, POST"),
    ],
)
def test_a_wrong_method_is_405_with_allow(web, method, path, allowed):
    response = getattr(web, method)(path)
    error_of(response, 405, "invalid_request")
    assert response.headers["Allow"] == allowed


def test_a_body_over_64_kib_is_413_and_issues_nothing(web, service):
    response = web.post(
        "/oauth/token", headers=service.basic, data={**CC, "pad": "x" * (65 * 1024)}
    )
    assert "65536 bytes" in error_of(response, 413, "invalid_request")
    assert flow.issued()["issued_tokens"] == 0


def test_a_content_length_that_is_no_number_is_400(ctx, service):
    environ = EnvironBuilder(
        path="/oauth/token", method="POST", data=CC, headers=service.basic
    ).get_environ()
    environ["CONTENT_LENGTH"] = "many"
    response = ctx.response_class.from_app(ctx, environ)
    assert "Content-Length" in error_of(response, 400, "invalid_request")


def test_a_form_of_too_many_fields_is_400(web, service):
    body = "&".join(f"f{i}=v" for i in range(60))
    response = web.post(
        "/oauth/token",
        headers=service.basic,
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert "fields" in error_of(response, 400, "invalid_request")


def test_a_nul_anywhere_is_400_before_anything_runs(web, service):
    for kwargs in (
        {"data": {**CC, "scope": "openid\x00"}},
        {"data": CC, "query_string": "x=%00"},
    ):
        response = web.post("/oauth/token", headers=service.basic, **kwargs)
        assert "NUL" in error_of(response, 400, "invalid_request")
    assert flow.issued()["issued_tokens"] == 0


def test_a_json_body_is_refused_with_what_to_send(web, service):
    """RFC 6749 3.2: parameters come form-encoded."""
    response = web.post("/oauth/token", headers=service.basic, json=CC)
    assert "x-www-form-urlencoded" in error_of(response, 400, "invalid_request")


def test_token_answers_are_never_cached_and_carry_a_request_id(web, service):
    response = web.post(
        "/oauth/token", headers={**service.basic, "X-Request-ID": "trace-42"}, data=CC
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.headers["X-Request-ID"] == "trace-42"
    refused = web.post("/oauth/token", data=CC, headers={"X-Request-ID": "x" * 65})
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Request-ID"] not in ("", "x" * 65)


def test_jwks_is_cacheable_for_a_minute_and_answers_head(web):
    response = web.get("/oauth/jwks")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert {key["alg"] for key in response.get_json()["keys"]} == {"ES256", "RS256"}
    head = web.head("/oauth/jwks")
    assert head.status_code == 200 and head.get_data() == b""


def test_requests_are_counted_in_the_metrics_by_endpoint_and_status(web, service):
    def count(status: str) -> float:
        labels = {"endpoint": "oauth.token", "method": "POST", "status": status}
        return REGISTRY.get_sample_value("idp_http_requests_total", labels) or 0.0

    ok, refused = count("200"), count("401")
    web.post("/oauth/token", headers=service.basic, data=CC)
    web.post("/oauth/token", data=CC)
    assert (count("200"), count("401")) == (ok + 1, refused + 1)


def test_behind_a_tls_proxy_the_protocol_works_on_the_https_issuer(ctx, alice, make):
    """A TLS-terminating proxy forwards plain http; Authlib refuses http URIs as insecure
    transport. The provider's requests are judged on its issuer (https in production)."""
    app = create_app(replace(settings_of(ctx), issuer="https://idp.example"))
    try:
        with app.app_context():
            rp = flow.register()
            service = flow.register("Job", grant_types=["client_credentials"], scope="openid")
        web = flow.browser(app)
        assert web.post("/oauth/token", headers=service.basic, data=CC).status_code == 200
        tokens = flow.token_set(web, rp, login="acme:alice", password=make.PASSWORD)
        assert flow.jwt_payload(tokens["id_token"])["iss"] == "https://idp.example"
    finally:
        close(app)


def test_the_client_address_comes_from_a_trusted_proxy_only(ctx, alice, make):
    """Behind a TLS proxy (IDP_PROXY_HOPS=1) per-IP sign-in limits count the client's address
    from X-Forwarded-For; without trusted proxies that header is ignored (anyone can send it)."""
    from idp.services import throttle

    def counted(app) -> tuple[set[str], str]:
        """The addresses a failed sign-in was counted for, and the connection's own."""
        web = flow.browser(app)
        web.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
        flow.sign_in(web, "acme:alice", "wrong password")
        peer = web.environ_base["REMOTE_ADDR"]
        store = app.extensions["idp.kv"]
        counted = {
            ip
            for ip in ("203.0.113.7", peer)
            if store.get(throttle._pair_keys("acme:alice", ip)[0])
        }
        return counted, peer

    behind = create_app(replace(settings_of(ctx), proxy_hops=1))
    try:
        assert counted(behind)[0] == {"203.0.113.7"}
    finally:
        close(behind)
    ips, peer = counted(ctx)
    assert ips == {peer}
