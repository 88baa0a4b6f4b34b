"""R21 on the pages: the account centre's privacy page (every account, main or sub), the
operator's ``idp clients`` with tiers, and consent screens that show what the app will get."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.extensions import db
from idp.models import Account, AuditEvent, Client
from idp.models.accounts import PRIVACY_ALL_APPS, PRIVACY_NO_APP, PRIVACY_PARTNER_APPS
from idp.models.oauth import FIRST_PARTY, THIRD_PARTY, VERIFIED_PARTNER
from idp.oauth import clients
from idp.services import privacy
from tests import oidc_flow as flow

pytest_plugins = ["tests.oidc_fixtures"]

ZH = {"Accept-Language": "zh-CN"}


def page(response) -> str:
    return response.get_data(as_text=True)


def form_token(web, path: str = "/account/privacy") -> str:
    return flow.form_fields(page(web.get(path)))["csrf_token"]


def checked(html: str) -> str:
    return re.search(r'name="privacy" value="([a-z_]+)" checked', html).group(1)


@pytest.mark.parametrize("login", ["acme", "acme:alice"])
def test_r21_every_account_sets_its_level_on_its_privacy_page(web, make, owner, alice, login):
    assert flow.sign_in(web, login, make.PASSWORD).status_code == 302
    shown = web.get("/account/privacy")
    assert shown.status_code == 200 and checked(page(shown)) == PRIVACY_ALL_APPS
    assert 'href="/account/privacy" aria-current="page"' in page(shown)  # its tab

    saved = web.post(
        "/account/privacy",
        data={"csrf_token": form_token(web), "privacy": PRIVACY_PARTNER_APPS},
    )
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/account/privacy")
    after = page(web.get("/account/privacy"))
    assert checked(after) == PRIVACY_PARTNER_APPS and "was saved" in after
    account = db.session.query(Account).filter_by(id=(owner if login == "acme" else alice).id)
    assert account.one().privacy == PRIVACY_PARTNER_APPS
    assert db.session.query(AuditEvent).filter_by(action="account.privacy_changed").count() == 1


def test_r21_a_level_not_offered_is_a_400_with_its_message(signed_in, alice):
    refused = signed_in.post(
        "/account/privacy", data={"csrf_token": form_token(signed_in), "privacy": "everyone"}
    )
    assert refused.status_code == 400 and "Choose one of the levels offered" in page(refused)
    assert db.session.get(Account, alice.id).privacy == PRIVACY_ALL_APPS


def test_r21_the_level_is_not_changed_without_the_form_token(signed_in, alice):
    refused = signed_in.post("/account/privacy", data={"privacy": PRIVACY_NO_APP})
    assert refused.status_code == 400
    assert db.session.get(Account, alice.id).privacy == PRIVACY_ALL_APPS


def test_r21_the_page_needs_a_sign_in(web):
    answer = web.get("/account/privacy")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=40))
def test_r21_any_posted_level_is_taken_only_when_offered(signed_in, alice, value):
    token = form_token(signed_in)
    answer = signed_in.post("/account/privacy", data={"csrf_token": token, "privacy": value})
    level = db.session.get(Account, alice.id).privacy
    db.session.remove()
    if value in (PRIVACY_ALL_APPS, PRIVACY_PARTNER_APPS, PRIVACY_NO_APP):
        assert answer.status_code == 302 and level == value
    else:  # (NUL is refused before any view, with its own message)
        assert answer.status_code == 400
        assert "levels offered" in page(answer) or "\x00" in value


def test_r21_the_page_shows_what_each_app_gets_in_both_languages(web, make, alice):
    partner = flow.register("Partner ERP", tier=THIRD_PARTY)
    center = flow.register("Seller center")
    clients.set_relations(
        db.session.query(Client).filter_by(client_id=center.client_id).one(),
        client_uri="https://sg.example/",
    )
    privacy.set_level(alice, PRIVACY_PARTNER_APPS)
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    verifier, challenge = flow.pkce()
    params = flow.authorize_params(flow.RP(partner.client_id, partner.secret), challenge)
    consent = web.get("/oauth/authorize", query_string=params)
    web.post(
        "/oauth/authorize",
        query_string=params,
        data={**flow.form_fields(page(consent)), "decision": "allow"},
    )
    english = page(web.get("/account/privacy"))
    rows = re.findall(r"<tr>\s*<td[^>]*><strong>([^<]+)</strong></td>.*?</tr>", english, re.S)
    assert rows == ["Partner ERP", "Seller center"]
    assert re.search(
        r"<strong>Partner ERP</strong>.*?Other third-party apps.*?Withheld", english, re.S
    )
    assert re.search(
        r"<strong>Seller center</strong>.*?Your company.{1,6}s apps.*?Shared", english, re.S
    )
    chinese = page(web.get("/account/privacy", headers={**ZH}))
    assert '<html lang="zh-Hans">' in chinese


# --- consent screens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "tier", "withheld"),
    [
        (PRIVACY_ALL_APPS, THIRD_PARTY, False),
        (PRIVACY_PARTNER_APPS, VERIFIED_PARTNER, False),
        (PRIVACY_PARTNER_APPS, THIRD_PARTY, True),
        (PRIVACY_NO_APP, VERIFIED_PARTNER, True),
    ],
)
def test_r21_the_consent_screen_shows_what_will_be_shared(signed_in, alice, level, tier, withheld):
    privacy.set_level(db.session.get(Account, alice.id), level)
    partner = flow.register("Partner ERP", tier=tier, scope="openid profile email phone")
    shown = page(
        flow.authorize(signed_in, partner, flow.pkce()[1], scope="openid profile email phone")
    )
    assert "Your login name, company, account type, roles and stores" in shown
    assert ("<s>Your email address</s>" in shown) is withheld
    assert ("<s>Your name, gender and photo</s>" in shown) is withheld
    assert ("<s>Your mobile number</s>" in shown) is withheld
    assert ("keeps your personal information from this app" in shown) is withheld
    assert ("Verified partner" if tier == VERIFIED_PARTNER else "not verified") in shown


def test_r21_a_first_party_app_asked_to_prompt_for_consent_says_so(signed_in, alice, rp):
    privacy.set_level(db.session.get(Account, alice.id), PRIVACY_NO_APP)
    shown = page(flow.authorize(signed_in, rp, flow.pkce()[1], prompt="consent"))
    assert re.search(r"Your company.{1,6}s app<", shown)
    assert "This app is run for your company" in shown
    assert "<s>Your name, gender and photo</s>" in shown


# --- the operator's command ----------------------------------------------------------------------


def test_r21_idp_clients_creates_sets_and_lists_tiers(run):
    out = run(
        "clients", "create", "Partner ERP", "--tier", "verified-partner",
        "--redirect-uri", "https://erp.example/cb",
    ).output  # fmt: skip
    client_id = re.search(r"client_id:\s+(\S+)", out).group(1)
    assert db.session.query(Client).filter_by(client_id=client_id).one().tier == VERIFIED_PARTNER
    listed = run("clients", "list").output
    assert re.search(rf"{re.escape(client_id)}\s.*verified-partner\s+Partner ERP", listed)

    changed = run("clients", "set", client_id, "--tier", "third-party").output
    assert "tier=third-party" in changed
    db.session.remove()
    assert db.session.query(Client).filter_by(client_id=client_id).one().tier == THIRD_PARTY
    assert "third-party      Partner ERP" in run("clients", "list").output

    old_flag = run(
        "clients", "create", "Old ERP", "--third-party", "--redirect-uri", "https://o.example/cb"
    ).output
    old_id = re.search(r"client_id:\s+(\S+)", old_flag).group(1)
    assert db.session.query(Client).filter_by(client_id=old_id).one().tier == THIRD_PARTY
    first = run("clients", "create", "Center", "--redirect-uri", "https://c.example/cb").output
    first_id = re.search(r"client_id:\s+(\S+)", first).group(1)
    assert db.session.query(Client).filter_by(client_id=first_id).one().tier == FIRST_PARTY


def test_r21_idp_clients_refuses_an_unknown_or_contradictory_tier(run):
    assert run("clients", "create", "X", "--tier", "partner", code=2).exit_code == 2
    both = run(
        "clients", "create", "X", "--third-party", "--tier", "first-party",
        "--redirect-uri", "https://x.example/cb", code=2,
    )  # fmt: skip
    assert "different tiers" in both.output
    assert db.session.query(Client).filter_by(name="X").count() == 0


def test_r21_a_company_api_client_stays_a_third_party(ctx, owner):
    """A first-party client may call the admin API for any company's owner (issue 16): a
    company's own client must never become one."""
    from idp.services import api_clients

    client, _secret = api_clients.create(owner, "ERP")
    with pytest.raises(Exception, match="stays a third party"):
        clients.set_relations(client, tier=FIRST_PARTY)
    db.session.rollback()
    assert db.session.get(Client, client.id).tier == THIRD_PARTY
