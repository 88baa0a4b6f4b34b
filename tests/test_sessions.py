"""The SSO session behind the ``idp_sso`` cookie: how it is set, renewed at every sign-in, shared by
the company's apps (R26), overridden by ``prompt``/``max_age`` (OIDC Core 3.1.2.1), protected by
CSRF, ended by an owner's password reset (R16) or disabling (R5); and consent for third parties."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import AuthorizationCode, SsoSession
from idp.oauth.crypto import token_hash
from idp.services import accounts
from tests import oidc_flow as flow

pytest_plugins = ["tests.oidc_fixtures"]  # owner, alice, rp, signed_in


def silent(web, rp: flow.RP) -> dict[str, str]:
    """``prompt=none``: what the session alone yields (a code, or an error), as query params."""
    response = flow.authorize(web, rp, flow.pkce()[1], prompt="none")
    assert flow.location(response).startswith(rp.redirect_uri + "?")
    return flow.query(flow.location(response))


def sso_set_cookie(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("idp_sso=")]
    return header


def live_sessions() -> list[SsoSession]:
    db.session.expire_all()
    return db.session.query(SsoSession).filter(SsoSession.ended_at.is_(None)).all()


def codes() -> int:
    return db.session.query(AuthorizationCode).count()


# --- the cookie --------------------------------------------------------------------------------


def test_sso_cookie_is_httponly_and_samesite_lax(web, alice, make):
    response = flow.sign_in(web, "acme:alice", make.PASSWORD)
    assert response.status_code == 302
    attributes = [a.strip() for a in sso_set_cookie(response).split(";")]
    assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
    value = attributes[0].removeprefix("idp_sso=")
    assert len(value) >= 40  # 256 random bits
    [stored] = live_sessions()
    assert stored.token_hash == token_hash(value) != value  # only its hash is kept


def test_a_new_sign_in_issues_a_new_cookie_and_ends_the_previous_session(ctx, web, rp, alice, make):
    web.set_cookie("idp_sso", "planted-by-an-attacker")
    flow.sign_in(web, "acme:alice", make.PASSWORD)
    first = flow.sso_cookie(web)
    assert first not in (None, "planted-by-an-attacker")

    flow.sign_in(web, "acme:alice", make.PASSWORD)
    second = flow.sso_cookie(web)
    assert second not in (None, first)
    [live] = live_sessions()
    assert live.token_hash == token_hash(second)

    stale = flow.browser(ctx)
    stale.set_cookie("idp_sso", first)
    assert silent(stale, rp)["error"] == "login_required"
    assert "code" in silent(web, rp)


def test_r26_one_sign_in_opens_every_app_of_the_company(web, rp, alice, make):
    chat = flow.register("Chat console", redirect_uri="https://chat.example/cb")
    first = flow.token_set(web, rp, login="acme:alice", password=make.PASSWORD)

    second = flow.token_set(web, chat)  # no credentials given: a code at once
    [session] = live_sessions()
    sid = flow.jwt_payload(first["id_token"])["sid"]
    assert sid == flow.jwt_payload(second["id_token"])["sid"] == session.sid
    assert flow.jwt_payload(second["id_token"])["aud"] == [chat.client_id]


# --- prompt, max_age, login_hint, ui_locales ---------------------------------------------------


@pytest.mark.parametrize(
    "extra", [{"prompt": "login"}, {"max_age": "0"}], ids=["prompt-login", "max-age-0"]
)
def test_fresh_sign_in_is_forced_even_with_a_session(signed_in, rp, make, extra):
    [old] = live_sessions()
    response = flow.authorize(signed_in, rp, flow.pkce()[1], **extra)
    assert response.status_code == 302
    assert flow.location(response).startswith("/login?")
    assert codes() == 0
    back = flow.query(flow.location(response))["next"]
    assert "prompt=" not in back and "max_age=" not in back  # no loop after signing in
    # the sign-in form itself, not "you are signed in, continue" (which would skip the sign-in)
    page = signed_in.get(flow.location(response)).get_data(as_text=True)
    assert "Sign in to your seller account" in page and "You are signed in" not in page

    signed_in_again = flow.sign_in(signed_in, "acme:alice", make.PASSWORD, flow.location(response))
    code = flow.code_from(signed_in.get(flow.location(signed_in_again)), rp)
    assert code
    [new] = live_sessions()
    assert new.id != old.id and new.auth_time > old.auth_time


def test_the_sign_in_page_of_a_signed_in_browser_says_as_whom_and_offers_a_way_on(
    signed_in, owner, make
):
    page = signed_in.get("/login?next=/account/sessions").get_data(as_text=True)
    assert "You are signed in as <strong>acme:alice</strong>." in page
    assert '<a class="button" href="/account/sessions">Continue</a>' in page
    assert "<summary>Use another account</summary>" in page  # the form, folded
    elsewhere = signed_in.get("/login?next=https://evil.example/").get_data(as_text=True)
    assert '<a class="button" href="/">Continue</a>' in elsewhere  # only local paths
    forced = signed_in.get("/login?prompt=login&next=/").get_data(as_text=True)
    assert "You are signed in" not in forced and "Sign in to your seller account" in forced
    # a real second sign-in, as another account, from the folded form
    [old] = live_sessions()
    assert flow.sign_in(signed_in, "acme", make.PASSWORD).status_code == 302
    [new] = live_sessions()
    assert new.id != old.id and new.account_id == owner.id


def test_login_hint_prefills_the_login_field(web, rp, alice):
    response = flow.authorize(web, rp, flow.pkce()[1], login_hint="acme:alice")
    page = web.get(flow.location(response)).get_data(as_text=True)
    assert 'name="login" value="acme:alice"' in page


def test_ui_locales_zh_cn_shows_the_chinese_login_page(web, rp):
    response = flow.authorize(web, rp, flow.pkce()[1], ui_locales="zh-CN en")
    page = web.get(flow.location(response)).get_data(as_text=True)
    assert "登录卖家账号" in page and "Sign in to your seller account" not in page


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
def test_login_post_without_a_valid_csrf_token_is_refused(web, alice, make, token):
    fields = flow.form_fields(web.get("/login?next=/").get_data(as_text=True))
    data = {"next": fields["next"], "login": "acme:alice", "password": make.PASSWORD}
    if token:
        data["csrf_token"] = token
    response = web.post("/login", data=data)
    assert response.status_code == 400
    assert not [h for h in response.headers.getlist("Set-Cookie") if h.startswith("idp_sso=")]
    assert flow.sso_cookie(web) is None and live_sessions() == []


# --- R16, R5: the owner ends sessions ----------------------------------------------------------


def test_r16_password_reset_ends_sessions_and_forces_a_new_password(web, rp, owner, alice, make):
    tokens = flow.token_set(web, rp, login="acme:alice", password=make.PASSWORD)
    accounts.reset_sub_account_password(owner, alice, "temporary-pass-1")

    assert silent(web, rp)["error"] == "login_required"
    assert live_sessions() == []
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert flow.introspect(web, rp, token) == {"active": False}
    assert flow.refresh(web, rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"

    before = codes()
    sent = flow.authorize(web, rp, flow.pkce()[1])
    signed_in = flow.sign_in(web, "acme:alice", "temporary-pass-1", flow.location(sent))
    assert signed_in.status_code == 302
    assert flow.location(signed_in).startswith("/account/password?")
    again = flow.authorize(web, rp, flow.pkce()[1])  # the app tries again: still no code
    assert flow.location(again).startswith("/account/password?")
    assert codes() == before

    page = web.get(flow.location(signed_in))
    fields = flow.form_fields(page.get_data(as_text=True))
    changed = web.post(
        "/account/password",
        data={**fields, "current_password": "temporary-pass-1", "new_password": "alice-chose-this"},
    )
    assert changed.status_code == 302 and flow.location(changed).startswith("/oauth/authorize?")
    assert flow.code_from(web.get(flow.location(changed)), rp)


def test_r5_disabling_an_account_ends_its_sessions(signed_in, rp, owner, alice, make):
    assert "code" in silent(signed_in, rp)
    accounts.disable_sub_account(owner, alice)
    assert live_sessions() == []
    assert silent(signed_in, rp)["error"] == "login_required"
    again = flow.sign_in(signed_in, "acme:alice", make.PASSWORD)
    assert again.status_code == 403 and "disabled" in again.get_data(as_text=True)
    assert live_sessions() == []


# --- consent for third-party apps --------------------------------------------------------------


def consent(web, rp: flow.RP, decision: str, params: dict):
    page = web.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200 and "Allow" in page.get_data(as_text=True)
    fields = flow.form_fields(page.get_data(as_text=True))
    return web.post("/oauth/authorize", query_string=params, data={**fields, "decision": decision})


def test_third_party_app_asks_for_consent_once(signed_in, alice):
    partner = flow.register("Partner ERP", first_party=False, redirect_uri="https://erp.example/cb")
    challenge = flow.pkce()[1]

    assert silent(signed_in, partner)["error"] == "consent_required"
    page = flow.authorize(signed_in, partner, challenge)
    assert page.status_code == 200
    assert "Partner ERP" in page.get_data(as_text=True) and codes() == 0

    params = flow.authorize_params(partner, challenge, state="st-deny")
    denied = flow.query(flow.location(consent(signed_in, partner, "deny", params)))
    assert denied["error"] == "access_denied" and denied["state"] == "st-deny"
    assert "code" not in denied and codes() == 0
    assert flow.authorize(signed_in, partner, challenge).status_code == 200  # still asks

    params = flow.authorize_params(partner, challenge)
    assert flow.code_from(consent(signed_in, partner, "allow", params), partner)
    assert flow.code_from(flow.authorize(signed_in, partner, challenge), partner)  # no page now
    assert "code" in silent(signed_in, partner)

    asked = flow.authorize(signed_in, partner, challenge, prompt="consent")
    assert asked.status_code == 200 and "Partner ERP" in asked.get_data(as_text=True)


def test_first_party_app_never_asks_for_consent(signed_in, rp):
    assert flow.code_from(flow.authorize(signed_in, rp, flow.pkce()[1]), rp)
