"""The owner console pages (``/console``) and the owner API (``/api``): R16, the owner resets a
sub-account's password (a new one must be chosen at next sign-in, its sessions end), resets its
second factor and ends its sessions; R4, disables and re-enables it; R15, sets the wallet
password. R6: a sub-account is refused on every page and every call, whatever its role, and
nothing is written."""

from __future__ import annotations

import re
from html import unescape

import pyotp
import pytest

from idp.extensions import db
from idp.models import Account, Company, SsoSession, Store
from idp.oauth import sessions
from idp.services import accounts, passwords, roles, totp
from idp.services.permissions import PERMISSIONS
from tests import oidc_flow as flow
from tests.authenticator import Authenticator
from tests.factories import PASSWORD
from tests.test_r15_wallet import (
    OTHER_WALLET_PW,
    WALLET_PW,
    assert_unchanged,
    enrol,
    register_passkey,
    snapshot,
)

OWNER_ONLY = "Only the company's main account can do this"


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def sg(owner, make) -> Store:
    return make.store(owner, "shopee-sg")


@pytest.fixture
def alice(owner, sg, make) -> Account:
    """Staff holding every role there is: no role lets a sub-account into the console (R6)."""
    roles.create_role(owner, "Everything", list(PERMISSIONS))
    every_role = [r.name for r in roles.list_roles(owner)]
    return make.staff(owner, "alice", stores_=[sg], email="alice@example.test", roles=every_role)


@pytest.fixture
def bob(owner, sg, make) -> Account:
    return make.staff(owner, "bob", stores_=[sg])


@pytest.fixture
def dave(owner, make) -> Account:
    dave = make.staff(owner, "dave")
    accounts.disable_sub_account(owner, dave)
    return dave


def signed_in(app, login: str, password: str = PASSWORD) -> flow.Browser:
    web = flow.browser(app)
    response = flow.sign_in(web, login, password)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return web


@pytest.fixture
def owner_web(ctx, owner) -> flow.Browser:
    return signed_in(ctx, "acme")


@pytest.fixture
def alice_web(ctx, alice) -> flow.Browser:
    return signed_in(ctx, "acme:alice")


def csrf(web, page: str = "/account/password") -> str:
    return flow.form_fields(web.get(page).get_data(as_text=True))["csrf_token"]


def live_sessions(account: Account) -> list[SsoSession]:
    db.session.expire_all()
    return db.session.query(SsoSession).filter_by(account_id=account.id, ended_at=None).all()


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


# --- console: who may enter --------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/console/staff", "/console/wallet", "/console/"])
def test_r6_console_pages_send_a_visitor_to_sign_in(ctx, page):
    response = flow.browser(ctx).get(page)
    assert response.status_code == 302
    assert flow.location(response).startswith("/login?")
    assert flow.query(flow.location(response)) == {"next": page}


CONSOLE_CALLS = [
    pytest.param("get", "/console/staff", {}, id="staff-list"),
    pytest.param("get", "/console/wallet", {}, id="wallet-page"),
    pytest.param(
        "post",
        "/console/wallet",
        {"current_password": PASSWORD, "new_password": WALLET_PW, "confirm_password": WALLET_PW},
        id="wallet-set",
    ),
    pytest.param("post", "/console/staff/bob/reset-password", {}, id="reset-password"),
    pytest.param(
        "post",
        "/console/staff/bob/reset-password",
        {"password": "a chosen password"},
        id="reset-password-chosen",
    ),
    pytest.param("post", "/console/staff/alice/reset-password", {}, id="reset-own-password"),
    pytest.param("post", "/console/staff/bob/reset-2fa", {}, id="reset-2fa"),
    pytest.param("post", "/console/staff/bob/end-sessions", {}, id="end-sessions"),
]


@pytest.mark.parametrize(("method", "path", "form"), CONSOLE_CALLS)
def test_r6_sub_account_is_refused_every_console_page(alice_web, bob, method, path, form):
    enrol(bob)
    sessions.create(bob, amr=["pwd", "otp"])  # something to end
    data = {**form, "csrf_token": csrf(alice_web)} if method == "post" else None
    before = snapshot()
    response = getattr(alice_web, method)(path, data=data)
    assert response.status_code == 403
    assert OWNER_ONLY in unescape(response.get_data(as_text=True))
    assert_unchanged(before)


def test_console_forms_need_a_csrf_token(owner_web, bob):
    before = snapshot()
    for path in ("/console/staff/bob/reset-password", "/console/staff/bob/end-sessions"):
        assert owner_web.post(path, data={}).status_code == 400
    wallet_form = {"current_password": PASSWORD, "new_password": WALLET_PW}
    response = owner_web.post(
        "/console/wallet", data={**wallet_form, "confirm_password": WALLET_PW}
    )
    assert response.status_code == 400
    assert_unchanged(before)


# --- console: staff credentials (R16) ----------------------------------------------------------


def test_r4_console_lists_enabled_and_departed_staff(owner_web, alice, bob, dave):
    enabled = owner_web.get("/console/staff").get_data(as_text=True)
    assert "acme:alice" in enabled and "acme:bob" in enabled and "acme:dave" not in enabled
    departed = owner_web.get("/console/staff?status=departed").get_data(as_text=True)
    assert "acme:dave" in departed and "acme:alice" not in departed
    searched = owner_web.get("/console/staff?q=ali").get_data(as_text=True)
    assert "acme:alice" in searched and "acme:bob" not in searched
    everyone = owner_web.get("/console/staff?status=all&q=a").get_data(as_text=True)
    assert "acme:alice" in everyone and "acme:dave" in everyone


def test_r16_console_reset_password_generates_one_shown_once(ctx, owner_web, alice):
    alice_web = signed_in(ctx, "acme:alice")
    response = owner_web.post(
        f"/console/staff/{alice.public_id}/reset-password", data={"csrf_token": csrf(owner_web)}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    generated = re.search(r'<pre id="password"[^>]*>([^<]+)</pre>', page).group(1)
    assert len(generated) >= 12
    assert passwords.verify_password(fresh(alice).password_hash, generated)
    assert fresh(alice).must_change_password
    assert live_sessions(alice) == []
    assert alice_web.get("/account/password").status_code == 302  # signed out
    again = flow.sign_in(alice_web, "acme:alice", generated)
    assert flow.location(again).startswith("/account/password")
    assert generated not in owner_web.get("/console/staff").get_data(as_text=True)


def test_r16_console_reset_password_to_one_the_owner_chose(owner_web, alice):
    response = owner_web.post(
        "/console/staff/alice/reset-password",
        data={"csrf_token": csrf(owner_web), "password": "owner chose this"},
    )
    assert response.status_code == 200 and "owner chose this" in response.get_data(as_text=True)
    assert accounts.authenticate("acme:alice", "owner chose this").must_change_password


@pytest.mark.parametrize(
    ("target", "password", "status", "message"),
    [
        ("alice", "short", 400, "at least 8"),
        ("alice", "123456789", 400, "all digits"),
        ("nobody", "", 404, "No such sub-account"),
        ("acme", "", 404, "No such sub-account"),
    ],
)
def test_r16_console_bad_reset_re_renders_the_list_and_writes_nothing(
    owner_web, alice, target, password, status, message
):
    before = snapshot()
    response = owner_web.post(
        f"/console/staff/{target}/reset-password",
        data={"csrf_token": csrf(owner_web), "password": password},
    )
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page and "acme:alice" in page  # the staff list, with the message
    assert_unchanged(before)


def test_r16_console_reset_second_factor(owner_web, alice):
    enrol(alice)
    member = f"/console/staff/{alice.public_id}"
    assert "Reset two-step verification" in owner_web.get(member).get_data(as_text=True)
    response = owner_web.post(f"{member}/reset-2fa", data={"csrf_token": csrf(owner_web)})
    assert response.status_code == 302 and flow.location(response) == member
    assert "second factor of acme:alice was removed" in owner_web.get(member).text
    assert not totp.is_enrolled(fresh(alice))
    twice = owner_web.post(
        f"/console/staff/{alice.public_id}/reset-2fa", data={"csrf_token": csrf(owner_web)}
    )
    assert twice.status_code == 409 and "no second factor" in twice.get_data(as_text=True)


def test_r6_forbidden_page_says_its_heading_once(alice_web):
    """The heading says what is refused; the box under it says who is signed in, not the
    heading again."""
    page = unescape(alice_web.get("/console/staff").get_data(as_text=True))
    assert page.count(OWNER_ONLY) == 1
    assert "You are signed in as <strong>acme:alice</strong>" in page


def test_r16_console_end_sessions(ctx, owner_web, alice):
    alice_web = signed_in(ctx, "acme:alice")
    assert len(live_sessions(alice)) == 1
    response = owner_web.post(
        f"/console/staff/{alice.public_id}/end-sessions", data={"csrf_token": csrf(owner_web)}
    )
    assert response.status_code == 302
    assert "1 session of acme:alice ended" in owner_web.get(flow.location(response)).text
    assert live_sessions(alice) == []
    assert alice_web.get("/account/password").status_code == 302
    assert len(live_sessions(fresh_owner(alice))) == 1  # the owner's own session goes on


def test_r16_console_end_sessions_when_none_open(ctx, owner_web, alice):
    """No "0 sessions ended": the owner reads that there was nothing to end."""
    assert live_sessions(alice) == []
    response = owner_web.post(
        f"/console/staff/{alice.public_id}/end-sessions", data={"csrf_token": csrf(owner_web)}
    )
    assert response.status_code == 302
    page = owner_web.get(flow.location(response)).text
    assert "acme:alice had no open sessions." in page
    assert "0 session" not in page


def fresh_owner(account: Account) -> Account:
    db.session.expire_all()
    return db.session.query(Account).filter_by(company_id=account.company_id, kind="main").one()


# --- console: the wallet password (R15) --------------------------------------------------------


def wallet_form(web, **fields) -> dict:
    form = {
        "csrf_token": csrf(web, "/console/wallet"),
        "current_password": PASSWORD,
        "new_password": WALLET_PW,
        "confirm_password": WALLET_PW,
    }
    form.update(fields)
    return form


def wallet_hash(owner: Account) -> str | None:
    db.session.expire_all()
    return db.session.get(Company, owner.company_id).wallet_password_hash


def test_r15_console_sets_then_changes_the_wallet_password(owner_web, owner):
    assert "No wallet password is set yet" in owner_web.get("/console/wallet").text
    response = owner_web.post("/console/wallet", data=wallet_form(owner_web))
    assert response.status_code == 302 and flow.location(response) == "/console/wallet"
    page = owner_web.get("/console/wallet").text
    assert "The wallet password was set." in page and "Set on " in page
    assert passwords.verify_password(wallet_hash(owner), WALLET_PW)
    changed = owner_web.post(
        "/console/wallet",
        data=wallet_form(owner_web, new_password=OTHER_WALLET_PW, confirm_password=OTHER_WALLET_PW),
    )
    assert changed.status_code == 302
    assert "The wallet password was changed." in owner_web.get("/console/wallet").text
    assert passwords.verify_password(wallet_hash(owner), OTHER_WALLET_PW)


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"confirm_password": "something else"}, 400, "The two new wallet passwords differ"),
        ({"current_password": "wrong password"}, 403, "The current password is incorrect"),
        ({"new_password": PASSWORD, "confirm_password": PASSWORD}, 400, "differ from your login"),
        ({"new_password": "short", "confirm_password": "short"}, 400, "at least 8"),
    ],
)
def test_r15_console_bad_input_re_renders_the_form_and_writes_nothing(
    owner_web, owner, fields, status, message
):
    before = snapshot()
    response = owner_web.post("/console/wallet", data=wallet_form(owner_web, **fields))
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page and 'name="new_password"' in page
    assert_unchanged(before)


def test_r15_console_asks_for_the_totp_code_when_enrolled(owner_web, owner):
    secret = enrol(owner)
    assert 'name="totp_code"' in owner_web.get("/console/wallet").text
    before = snapshot()
    for code in ("", "12345"):
        response = owner_web.post("/console/wallet", data=wallet_form(owner_web, totp_code=code))
        assert response.status_code == 403
        assert "authenticator" in response.text or "not valid" in response.text
    assert_unchanged(before)
    good = owner_web.post(
        "/console/wallet", data=wallet_form(owner_web, totp_code=pyotp.TOTP(secret).now())
    )
    assert good.status_code == 302
    assert passwords.verify_password(wallet_hash(owner), WALLET_PW)


def test_r15_r19_console_asks_a_passkey_owner_for_the_passkey(owner_web, owner):
    """An owner whose only second factor is a passkey: the page offers it (the account
    centre's passkey script), the password alone is refused, the passkey's answer sets it."""
    device = Authenticator("http://localhost")
    register_passkey(owner, device)
    page = owner_web.get("/console/wallet").text
    assert 'data-passkey="authenticate"' in page and "Confirm with a passkey" in page
    assert 'data-options="/account/security/step-up"' in page and "js/passkeys.js" in page
    before = snapshot()
    alone = owner_web.post("/console/wallet", data=wallet_form(owner_web))
    assert alone.status_code == 403
    assert "Enter a code from your authenticator app, or confirm with a passkey" in alone.text
    assert_unchanged(before)

    form = wallet_form(owner_web)
    options = owner_web.post(
        "/account/security/step-up", headers={"X-CSRFToken": form["csrf_token"]}
    ).get_json()
    done = owner_web.post("/console/wallet", data={**form, "assertion": device.get(options)})
    assert done.status_code == 302
    assert passwords.verify_password(wallet_hash(owner), WALLET_PW)


def test_r15_console_asks_an_owner_without_a_second_factor_for_its_password_only(owner_web):
    page = owner_web.get("/console/wallet").text
    assert 'name="current_password"' in page
    assert 'name="totp_code"' not in page and "data-passkey" not in page


# --- the owner API: R6 -------------------------------------------------------------------------


@pytest.fixture
def rp(ctx) -> flow.RP:
    return flow.register("Seller center")


def user_token(app, rp: flow.RP, login: str, password: str = PASSWORD) -> dict:
    return flow.token_set(flow.browser(app), rp, login=login, password=password)


@pytest.fixture
def owner_token(ctx, rp, owner) -> str:
    return user_token(ctx, rp, "acme")["access_token"]


def call(web, method: str, path: str, token: str | None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return getattr(web, method)(path, headers=headers, json=body)


API_CALLS = [
    pytest.param("get", "/api/staff", None, id="list"),
    pytest.param("post", "/api/staff/bob/reset-password", None, id="reset-password"),
    pytest.param(
        "post", "/api/staff/bob/reset-password", {"password": "chosen by alice"}, id="reset-chosen"
    ),
    pytest.param("post", "/api/staff/alice/reset-password", None, id="reset-own-password"),
    pytest.param("post", "/api/staff/bob/reset-2fa", None, id="reset-2fa"),
    pytest.param("post", "/api/staff/bob/end-sessions", None, id="end-sessions"),
    pytest.param("post", "/api/staff/bob/disable", None, id="disable"),
    pytest.param("post", "/api/staff/alice/disable", None, id="disable-self"),
    pytest.param("post", "/api/staff/dave/enable", None, id="enable"),
    pytest.param(
        "post",
        "/api/wallet/password",
        {"current_password": PASSWORD, "new_password": WALLET_PW},
        id="wallet-password",
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_r6_sub_account_token_is_refused_by_every_owner_api(
    ctx, rp, alice, bob, dave, method, path, body
):
    enrol(bob)
    sessions.create(bob, amr=["pwd", "otp"])
    token = user_token(ctx, rp, "acme:alice")["access_token"]
    web = flow.browser(ctx)
    before = snapshot()
    response = call(web, method, path, token, body)
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "forbidden",
        "error_description": "Only the company's main account can do this",
    }
    assert_unchanged(before)


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_r6_owner_api_refuses_service_tokens_and_calls_without_a_valid_token(
    ctx, owner, alice, bob, dave, method, path, body
):
    from tests.test_r15_wallet import service_token

    web = flow.browser(ctx)
    service = service_token(web)
    before = snapshot()
    assert call(web, method, path, service, body).status_code == 403
    missing = call(web, method, path, None, body)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(web, method, path, "garbage", body).status_code == 401
    assert_unchanged(before)


def test_r6_third_party_app_token_of_the_owner_is_refused(ctx, owner, alice):
    partner = flow.register("Partner ERP", first_party=False)
    web = signed_in(ctx, "acme")
    verifier, challenge = flow.pkce()
    params = flow.authorize_params(partner, challenge)
    page = web.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200  # the consent page
    fields = flow.form_fields(page.get_data(as_text=True))
    consent = web.post(
        "/oauth/authorize", query_string=params, data={**fields, "decision": "allow"}
    )
    code = flow.code_from(consent, partner)
    token = flow.exchange(web, partner, code, verifier).get_json()["access_token"]
    before = snapshot()
    response = call(web, "post", "/api/staff/alice/reset-password", token)
    assert response.status_code == 403 and "third-party" in response.get_json()["error_description"]
    assert_unchanged(before)


# --- the owner API: R16, R4 --------------------------------------------------------------------


def test_r16_api_lists_staff_with_departed(ctx, owner_token, alice, bob, dave):
    web = flow.browser(ctx)
    everyone = call(web, "get", "/api/staff", owner_token).get_json()["staff"]
    assert [(s["login_name"], s["status"]) for s in everyone] == [
        ("acme:alice", "active"),
        ("acme:bob", "active"),
        ("acme:dave", "departed"),
    ]
    assert everyone[0]["email"] == "alice@example.test" and everyone[0]["stores"]
    assert "password_hash" not in everyone[0]
    departed = call(web, "get", "/api/staff?status=departed", owner_token).get_json()["staff"]
    assert [s["name"] for s in departed] == ["dave"]
    found = call(web, "get", "/api/staff?search=BO", owner_token).get_json()["staff"]
    assert [s["name"] for s in found] == ["bob"]
    assert call(web, "get", "/api/staff?status=odd", owner_token).status_code == 400


def test_r16_api_reset_password_forces_a_change_and_ends_the_old_sessions(
    ctx, rp, owner_token, alice
):
    alice_web = flow.browser(ctx)
    old = flow.token_set(alice_web, rp, login="acme:alice", password=PASSWORD)
    web = flow.browser(ctx)
    assert flow.introspect(web, rp, old["access_token"])["active"] is True

    response = call(web, "post", "/api/staff/alice/reset-password", owner_token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    generated = body["password"]
    assert body["staff"]["must_change_password"] is True
    assert fresh(alice).must_change_password

    for token in (old["access_token"], old["refresh_token"]):
        assert flow.introspect(web, rp, token) == {"active": False}
    assert live_sessions(alice) == []
    again = flow.sign_in(flow.browser(ctx), "acme:alice", generated)
    assert flow.location(again).startswith("/account/password")


def test_r16_api_reset_password_to_a_chosen_one(ctx, owner_token, alice):
    web = flow.browser(ctx)
    response = call(
        web, "post", "/api/staff/alice/reset-password", owner_token, {"password": "owner chose"}
    )
    assert response.status_code == 200 and response.get_json()["password"] == "owner chose"
    assert accounts.authenticate("acme:alice", "owner chose").must_change_password


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/staff/alice/reset-password", {"password": "short"}, 400, "invalid_input"),
        ("/api/staff/alice/reset-password", {"password": 12345678}, 400, "invalid_request"),
        ("/api/staff/alice/reset-password", "[not json", 400, "invalid_request"),
        # JSON can escape half a surrogate pair: no text, and nothing any encoder can store.
        (
            "/api/staff/alice/reset-password",
            '{"password": "\\ud800 lone half"}',
            400,
            "invalid_request",
        ),
        ("/api/staff/nobody/reset-password", None, 404, "not_found"),
        ("/api/staff/acme/reset-password", None, 404, "not_found"),
        ("/api/staff/alice/reset-2fa", None, 409, "conflict"),
        ("/api/staff/alice/enable", None, 409, "conflict"),
    ],
)
def test_r16_api_refusals_write_nothing(ctx, owner_token, alice, path, body, status, error):
    web = flow.browser(ctx)
    before = snapshot()
    headers = {"Authorization": f"Bearer {owner_token}"}
    if isinstance(body, str):
        response = web.post(path, headers=headers, data=body, content_type="application/json")
    else:
        response = web.post(path, headers=headers, json=body)
    assert response.status_code == status
    assert response.get_json()["error"] == error and response.get_json()["error_description"]
    assert_unchanged(before)


def test_r16_api_cannot_reach_another_companys_staff(ctx, make, owner_token):
    globex = make.company("globex")
    make.staff(globex, "carol")
    web = flow.browser(ctx)
    before = snapshot()
    for action in ("reset-password", "reset-2fa", "end-sessions", "disable"):
        response = call(web, "post", f"/api/staff/carol/{action}", owner_token)
        assert response.status_code == 404
    assert_unchanged(before)


def test_r16_api_reset_second_factor(ctx, owner_token, alice):
    enrol(alice)
    web = flow.browser(ctx)
    response = call(web, "post", "/api/staff/alice/reset-2fa", owner_token)
    assert response.status_code == 200
    assert response.get_json()["staff"]["second_factor"] is False
    assert not totp.is_enrolled(fresh(alice))


def test_r16_api_end_sessions(ctx, rp, owner_token, alice):
    old = user_token(ctx, rp, "acme:alice")
    web = flow.browser(ctx)
    response = call(web, "post", f"/api/staff/{alice.public_id}/end-sessions", owner_token)
    assert response.status_code == 200 and response.get_json()["sessions_ended"] == 1
    assert flow.introspect(web, rp, old["access_token"]) == {"active": False}
    assert flow.introspect(web, rp, owner_token)["active"] is True


def test_r4_api_disable_and_enable(ctx, rp, owner_token, alice):
    old = user_token(ctx, rp, "acme:alice")
    web = flow.browser(ctx)
    disabled = call(web, "post", "/api/staff/alice/disable", owner_token)
    assert disabled.status_code == 200 and disabled.get_json()["staff"]["status"] == "departed"
    assert flow.introspect(web, rp, old["access_token"]) == {"active": False}
    assert call(web, "post", "/api/staff/alice/disable", owner_token).status_code == 409
    enabled = call(web, "post", "/api/staff/alice/enable", owner_token)
    assert enabled.status_code == 200 and enabled.get_json()["staff"]["status"] == "active"
    assert accounts.authenticate("acme:alice", PASSWORD).is_active


# --- the owner API: R15 ------------------------------------------------------------------------


def test_r15_api_owner_sets_and_changes_the_wallet_password(ctx, owner, owner_token):
    web = flow.browser(ctx)
    body = {"current_password": PASSWORD, "new_password": WALLET_PW}
    first = call(web, "post", "/api/wallet/password", owner_token, body)
    assert first.status_code == 200 and first.get_json()["status"] == "set"
    body["new_password"] = OTHER_WALLET_PW
    second = call(web, "post", "/api/wallet/password", owner_token, body)
    assert second.status_code == 200 and second.get_json()["status"] == "changed"
    assert passwords.verify_password(wallet_hash(owner), OTHER_WALLET_PW)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"current_password": "wrong!", "new_password": WALLET_PW}, 403, "current_password"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, 400, "new_password"),
        ({"current_password": PASSWORD}, 400, "new_password"),
        ({"current_password": PASSWORD, "new_password": WALLET_PW}, 403, "totp_code"),
        (
            {"current_password": PASSWORD, "new_password": WALLET_PW, "totp_code": "000000"},
            403,
            "totp_code",
        ),
    ],
)
def test_r15_api_wallet_password_refusals_write_nothing(ctx, owner, body, status, field, rp):
    token = user_token(ctx, rp, "acme")["access_token"]
    secret = enrol(owner)
    if body.get("totp_code") == pyotp.TOTP(secret).now():
        body["totp_code"] = "111111"
    web = flow.browser(ctx)
    before = snapshot()
    response = call(web, "post", "/api/wallet/password", token, body)
    assert response.status_code == status
    assert response.get_json()["field"] == field
    assert_unchanged(before)
