"""RFC 6749 3.3: a client gets at most the scopes it is registered for, whatever it asks. The
wallet check (R15, ``wallet:verify``) and the messaging scopes (R14) are only as safe as this."""

from __future__ import annotations

from tests import oidc_flow as flow

pytest_plugins = ["tests.oidc_fixtures"]


def test_r15_client_credentials_never_grant_a_scope_the_client_is_not_registered_for(web):
    rp = flow.register("Report job", grant_types=["client_credentials"], scope="openid")
    data = {"grant_type": "client_credentials", "scope": "openid wallet:verify"}
    answer = web.post("/oauth/token", headers=rp.basic, data=data)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["scope"] == "openid"
    assert "wallet:verify" not in flow.jwt_payload(body["access_token"])["scope"].split()


def test_r14_a_sign_in_never_grants_a_scope_the_app_is_not_registered_for(web, alice, make):
    rp = flow.register("Seller center", scope="openid profile")  # no messaging scopes
    tokens = flow.token_set(
        web, rp, login="acme:alice", password=make.PASSWORD, scope="openid profile chat:send email"
    )
    assert tokens["scope"].split() == ["openid", "profile"]
    assert flow.jwt_payload(tokens["access_token"])["scope"].split() == ["openid", "profile"]
    assert "email" not in flow.jwt_payload(tokens["id_token"])
    renewed = flow.refresh(web, rp, tokens["refresh_token"])
    assert renewed.get_json()["scope"].split() == ["openid", "profile"]
