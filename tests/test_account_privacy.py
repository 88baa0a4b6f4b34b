"""R21: an account's privacy level decides which clients are released its profile claims, by the
client's tier, in the ID token, userinfo and the access token, through the real OIDC flow.

The expected releases are written out here (``RELEASED``), not computed by the rule under test
(``idp.services.privacy``)."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import Account, AuditEvent, Client
from idp.models.accounts import (
    DEFAULT_PRIVACY,
    PRIVACY_ALL_APPS,
    PRIVACY_NO_APP,
    PRIVACY_PARTNER_APPS,
)
from idp.models.oauth import FIRST_PARTY, THIRD_PARTY, VERIFIED_PARTNER
from idp.oauth import clients, shared_state
from idp.services import accounts, privacy
from tests import oidc_flow as flow
from tests.sql import Statements

pytest_plugins = ["tests.oidc_fixtures"]

SCOPE = "openid profile email phone offline_access"
# What apps need to work: never withheld by the level (with ``sub``).
WORK = {
    "sub",
    "preferred_username",
    "company",
    "account_type",
    "roles",
    "permissions",
    "stores",
    "store",
    "marketplace",
    "groups",
    "muted",
}
PERSONAL = {"name", "gender", "email", "email_verified", "phone_number", "phone_number_verified"}
# The ID token's own claims (OIDC Core 2), beside what userinfo says.
PROTOCOL = {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"}

# (level, tier) -> whether the profile claims are released.
RELEASED = {
    (PRIVACY_ALL_APPS, FIRST_PARTY): True,
    (PRIVACY_ALL_APPS, VERIFIED_PARTNER): True,
    (PRIVACY_ALL_APPS, THIRD_PARTY): True,
    (PRIVACY_PARTNER_APPS, FIRST_PARTY): True,
    (PRIVACY_PARTNER_APPS, VERIFIED_PARTNER): True,
    (PRIVACY_PARTNER_APPS, THIRD_PARTY): False,
    (PRIVACY_NO_APP, FIRST_PARTY): False,
    (PRIVACY_NO_APP, VERIFIED_PARTNER): False,
    (PRIVACY_NO_APP, THIRD_PARTY): False,
}


@pytest.fixture
def carol(owner, make):
    """A staff member with every profile claim filled in, and a store."""
    shop = make.store(owner)
    account = make.staff(
        owner, "carol", stores_=[shop], email="carol@acme.example", phone="+6581230000"
    )
    accounts.update_sub_account(owner, account, nickname="Carol Tan", gender="female")
    accounts.mark_verified(db.session.get(Account, account.id), "phone")
    db.session.commit()
    return db.session.get(Account, account.id)


def signed_in_tokens(web, rp: flow.RP, *, login="acme:carol", password, consent: bool) -> dict:
    """The token response of a whole sign-in; a third party's consent page is approved."""
    verifier, challenge = flow.pkce()
    params = flow.authorize_params(rp, challenge, scope=SCOPE)
    response = web.get("/oauth/authorize", query_string=params)
    if flow.location(response).startswith("/login"):
        signed = flow.sign_in(web, login, password, flow.location(response))
        assert signed.status_code == 302
        response = web.get(flow.location(signed))
    if consent:
        assert response.status_code == 200, response.status_code
        fields = flow.form_fields(response.get_data(as_text=True))
        response = web.post(
            "/oauth/authorize", query_string=params, data={**fields, "decision": "allow"}
        )
    code = flow.code_from(response, rp)
    token = flow.exchange(web, rp, code, verifier)
    assert token.status_code == 200, token.get_json()
    return token.get_json()


@pytest.mark.parametrize(("level", "tier"), sorted(RELEASED))
def test_r21_each_level_and_tier_release_exactly_these_claims(web, make, carol, level, tier):
    rp = flow.register(f"App {tier}", tier=tier, scope=SCOPE)
    privacy.set_level(carol, level)
    issued = signed_in_tokens(web, rp, password=make.PASSWORD, consent=tier != FIRST_PARTY)
    expected = WORK | (PERSONAL if RELEASED[(level, tier)] else set())

    answer = flow.userinfo(web, issued["access_token"])
    assert answer.status_code == 200
    assert set(answer.get_json()) == expected
    id_token = flow.jwt_payload(issued["id_token"])
    assert set(id_token) - PROTOCOL == expected
    access = flow.jwt_payload(issued["access_token"])
    assert ("name" in access) is RELEASED[(level, tier)]
    assert not PERSONAL - {"name"} & set(access)  # contacts never travel in access tokens
    if RELEASED[(level, tier)]:
        body = answer.get_json()
        assert body["name"] == id_token["name"] == "Carol Tan"
        assert body["email"] == "carol@acme.example" and body["phone_number_verified"] is True
        assert body["gender"] == "female"


def test_r21_the_default_is_all_apps_as_before(carol):
    """Accounts made before R21 (the migration's default) and after it show their information
    to every app they approve, as they did."""
    assert DEFAULT_PRIVACY == PRIVACY_ALL_APPS and carol.privacy == PRIVACY_ALL_APPS


def test_r21_a_level_change_reaches_userinfo_and_new_tokens_at_once(web, make, carol):
    """The answers cached for a token (userinfo, and the claims of the next token) follow the
    level at once: the same access token's userinfo loses the profile claims."""
    rp = flow.register("Seller center", scope=SCOPE)
    issued = signed_in_tokens(web, rp, password=make.PASSWORD, consent=False)
    assert flow.userinfo(web, issued["access_token"]).get_json()["email"] == "carol@acme.example"
    assert flow.userinfo(web, issued["access_token"]).get_json()["name"] == "Carol Tan"  # cached

    privacy.set_level(db.session.get(Account, carol.id), PRIVACY_NO_APP)
    assert set(flow.userinfo(web, issued["access_token"]).get_json()) == WORK
    renewed = flow.refresh(web, rp, issued["refresh_token"]).get_json()
    assert "name" not in flow.jwt_payload(renewed["access_token"])
    assert "name" not in flow.introspect(web, rp, renewed["access_token"])

    privacy.set_level(db.session.get(Account, carol.id), PRIVACY_PARTNER_APPS)
    assert flow.userinfo(web, issued["access_token"]).get_json()["name"] == "Carol Tan"


def test_r21_a_tier_change_reaches_userinfo_at_once(web, make, carol, run):
    """The operator verifying a partner (``idp clients set --tier``), or taking it back, changes
    what its current tokens get from userinfo, for an account that shows partners only."""
    rp = flow.register("Partner ERP", tier=THIRD_PARTY, scope=SCOPE)
    privacy.set_level(carol, PRIVACY_PARTNER_APPS)
    issued = signed_in_tokens(web, rp, password=make.PASSWORD, consent=True)
    assert set(flow.userinfo(web, issued["access_token"]).get_json()) == WORK

    run("clients", "set", rp.client_id, "--tier", "verified-partner")
    assert set(flow.userinfo(web, issued["access_token"]).get_json()) == WORK | PERSONAL
    run("clients", "set", rp.client_id, "--tier", "third-party")
    assert set(flow.userinfo(web, issued["access_token"]).get_json()) == WORK


def test_r21_userinfo_of_a_partner_only_account_sends_no_sql(web, make, carol):
    """The hot path stays one round trip to the shared store and no SQL: the client's tier is
    read from its cached row, in the same MGET as the token's state and the cached answer."""
    rp = flow.register("Partner ERP", tier=VERIFIED_PARTNER, scope=SCOPE)
    privacy.set_level(carol, PRIVACY_PARTNER_APPS)
    issued = signed_in_tokens(web, rp, password=make.PASSWORD, consent=True)
    shared_state.kv().delete(shared_state.client_key(rp.client_id))  # as after HOLD_TTL
    flow.userinfo(web, issued["access_token"])  # caches the client and the answer
    with Statements() as sql:
        answer = flow.userinfo(web, issued["access_token"])
    assert answer.get_json()["email"] == "carol@acme.example"
    assert sql.sent == []


def test_r21_introspection_releases_what_the_level_allows_the_less_trusted_client(web, make, carol):
    """A resource server registered for a first-party app reads that app's tokens, but the
    profile claims only as the account's level allows the lower of the two tiers, and only as
    the level is now (a token issued before the level went down keeps its copy of them)."""
    center = flow.register("Seller center", scope=SCOPE)
    reader, secret = clients.create_client(
        "Partner analytics", redirect_uris=["https://rs.example/cb"], tier=THIRD_PARTY
    )
    clients.set_relations(reader, resource_server_for=[center.client_id])
    db.session.commit()
    resource_server = flow.RP(reader.client_id, secret, "https://rs.example/cb")
    privacy.set_level(carol, PRIVACY_PARTNER_APPS)
    issued = signed_in_tokens(web, center, password=make.PASSWORD, consent=False)
    assert flow.jwt_payload(issued["access_token"])["name"] == "Carol Tan"

    read = flow.introspect(web, resource_server, issued["access_token"])
    assert read["active"] is True and read["preferred_username"] == "acme:carol"
    assert not PERSONAL & set(read)
    assert flow.introspect(web, center, issued["access_token"])["name"] == "Carol Tan"

    privacy.set_level(db.session.get(Account, carol.id), PRIVACY_NO_APP)
    read = flow.introspect(web, center, issued["access_token"])
    assert read["active"] is True and not PERSONAL & set(read)


def test_r21_token_exchange_releases_what_the_less_trusted_app_may_see(web, make, carol):
    """A token exchanged for another app's audience is read by both: the profile claims go in
    only when the level allows both tiers."""
    target = flow.register("Partner ERP", tier=THIRD_PARTY, scope=SCOPE)
    center = flow.register(
        "Seller center",
        scope=SCOPE,
        grant_types=("authorization_code", "refresh_token", clients.TOKEN_EXCHANGE),
    )
    partner = db.session.query(Client).filter_by(client_id=target.client_id).one()
    clients.set_relations(partner, tier=VERIFIED_PARTNER)
    privacy.set_level(carol, PRIVACY_PARTNER_APPS)
    issued = signed_in_tokens(web, center, password=make.PASSWORD, consent=False)
    signed_in_tokens(web, target, password=make.PASSWORD, consent=True)  # carol approves it
    clients.set_relations(
        db.session.query(Client).filter_by(client_id=target.client_id).one(),
        exchangeable_by=[center.client_id],
    )
    subject = flow.jwt_payload(issued["access_token"])

    def exchanged() -> dict:
        response = web.post(
            "/oauth/token",
            headers=center.basic,
            data={
                "grant_type": clients.TOKEN_EXCHANGE,
                "subject_token": issued["access_token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "store": subject["store"],
                "audience": target.client_id,
            },
        )
        assert response.status_code == 200, response.get_json()
        return flow.jwt_payload(response.get_json()["access_token"])

    assert exchanged()["name"] == "Carol Tan"
    clients.set_relations(
        db.session.query(Client).filter_by(client_id=target.client_id).one(), tier=THIRD_PARTY
    )
    assert "name" not in exchanged()


def test_r21_the_level_is_one_of_three_and_its_change_is_audited(carol):
    with pytest.raises(Exception, match="levels offered"):
        privacy.set_level(carol, "everyone")
    privacy.set_level(db.session.get(Account, carol.id), PRIVACY_NO_APP)
    event = db.session.query(AuditEvent).filter_by(action="account.privacy_changed").one()
    assert event.actor == "acme:carol"
    assert (event.details["before"], event.details["after"]) == (PRIVACY_ALL_APPS, PRIVACY_NO_APP)
