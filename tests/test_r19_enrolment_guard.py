"""R19: the second step of a sign-in cannot be skipped by setting up a new factor. The set-up
pages of the sign-in (``/login/2fa/enrol``: the authenticator app, or a passkey) serve an account
that has no second factor yet, when its company requires one; someone who knows only the
password of an account that has a factor is sent to prove that factor instead, and no factor of
theirs is kept. (Found in review: both ways in gave a full session with the password alone.)"""

from __future__ import annotations

import re

import pyotp
import pytest

from idp.extensions import db
from idp.models import Account, SsoSession
from idp.services import passkeys, totp
from tests import oidc_flow as flow
from tests.authenticator import Authenticator
from tests.test_account_passkeys import ORIGIN, options, register


@pytest.fixture
def owner(ctx, make):
    return make.company("acme")


@pytest.fixture
def alice(owner, make):
    return make.staff(owner, "alice", email="alice@acme.example")


def _password_only(web, make) -> str:
    """The attacker's start: the right password, which leads to the second step."""
    assert flow.location(flow.sign_in(web, "acme:alice", make.PASSWORD)) == "/login/2fa"
    return flow.form_fields(web.get("/login/2fa").get_data(as_text=True))["csrf_token"]


def _no_session_and(account: Account) -> None:
    db.session.expire_all()
    assert db.session.query(SsoSession).filter_by(account_id=account.id).count() == 0


def test_r19_an_account_with_a_passkey_cannot_set_up_an_authenticator_app_at_sign_in(
    web, alice, make
):
    register(alice, Authenticator(ORIGIN))  # alice's only second factor: a passkey
    token = _password_only(web, make)
    page = web.get("/login/2fa/enrol")
    assert flow.location(page) == "/login/2fa"
    # a secret guessed or kept from an earlier page does not help either
    secret = pyotp.random_base32()
    answer = web.post(
        "/login/2fa/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert flow.location(answer) == "/login/2fa"
    assert flow.sso_cookie(web) is None
    _no_session_and(alice)
    assert not totp.is_enrolled(db.session.get(Account, alice.id))


def test_r19_an_account_with_an_authenticator_app_cannot_add_a_passkey_at_sign_in(web, alice, make):
    secret = totp.begin_enrolment(alice).secret
    totp.confirm_enrolment(alice, secret, pyotp.TOTP(secret).now())
    token = _password_only(web, make)
    refused = web.post("/login/2fa/enrol/passkey/options", headers={"X-CSRFToken": token})
    assert refused.status_code == 400 and refused.get_json()["error"]
    # an answer posted anyway is not kept
    attacker = Authenticator(ORIGIN)
    ceremony = passkeys.begin_registration(alice)
    made = web.post(
        "/login/2fa/enrol/passkey",
        data={
            "csrf_token": token,
            "credential": attacker.create(ceremony.options),
            "name": "Attacker",
        },
    )
    assert flow.location(made) == "/login/2fa"
    assert passkeys.list_for(alice) == []
    _no_session_and(alice)


def test_r19_forced_set_up_still_serves_an_account_without_a_factor(web, owner, alice, make):
    """The guard's other side: staff of a company that requires a factor set up their first."""
    totp.set_required_for_staff(owner, True)
    assert flow.location(flow.sign_in(web, "acme:alice", make.PASSWORD)) == "/login/2fa"
    assert flow.location(web.get("/login/2fa")) == "/login/2fa/enrol"
    page = web.get("/login/2fa/enrol").get_data(as_text=True)
    secret = re.search(r"<code>([A-Z2-7]+)</code>", page).group(1)
    fields = flow.form_fields(page)
    done = web.post("/login/2fa/enrol", data={**fields, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and flow.sso_cookie(web) is not None
    assert totp.is_enrolled(db.session.get(Account, alice.id))


def test_r19_forced_set_up_offers_a_passkey_to_an_account_without_a_factor(web, owner, alice, make):
    totp.set_required_for_staff(owner, True)
    assert flow.location(flow.sign_in(web, "acme:alice", make.PASSWORD)) == "/login/2fa"
    page = web.get("/login/2fa/enrol").get_data(as_text=True)
    token = flow.form_fields(page)["csrf_token"]
    assert options(web, "/login/2fa/enrol/passkey/options", token)["challenge"]


def test_r19_pages_showing_a_secret_or_recovery_codes_are_never_cached(web, owner, alice, make):
    """The set-up's secret and QR code and the recovery codes are shown once: the back button
    or a proxy must not bring them back (found in review; the client secret pages did this)."""
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    page = web.get("/account/security/totp")
    assert page.headers["Cache-Control"] == "no-store"
    secret = re.search(r"<code>([A-Z2-7]+)</code>", page.get_data(as_text=True)).group(1)
    fields = {**flow.form_fields(page.get_data(as_text=True)), "password": make.PASSWORD}
    codes = web.post("/account/security/totp", data={**fields, "code": pyotp.TOTP(secret).now()})
    assert codes.status_code == 200 and codes.headers["Cache-Control"] == "no-store"
    # the forced set-up at sign-in, for a staff member of a company that requires a factor
    totp.set_required_for_staff(owner, True)
    make.staff(owner, "bob", email="bob@acme.example")
    other = flow.browser(web.application)
    assert flow.location(flow.sign_in(other, "acme:bob", make.PASSWORD)) == "/login/2fa"
    assert other.get("/login/2fa/enrol").headers["Cache-Control"] == "no-store"
