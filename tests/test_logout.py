"""Signing out (OpenID Connect RP-Initiated Logout 1.0) as people do it: the start page's link and
the confirm page's button, an app's ``id_token_hint`` with or without a redirect URI. Every way
ends the SSO session, clears the cookie and shows a page or sends the browser back (issue 12:
without a redirect URI each of these answered 500 and left the cookie)."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.models import SsoSession
from tests import oidc_flow as flow

pytest_plugins = ["tests.oidc_fixtures"]  # owner, alice, rp, signed_in

BYE = "https://app.example/bye"


@pytest.fixture
def app_rp(ctx):
    return flow.register("Seller center", post_logout_redirect_uris=[BYE])


def live_sessions() -> int:
    db.session.expire_all()
    return db.session.query(SsoSession).filter(SsoSession.ended_at.is_(None)).count()


def assert_cookie_cleared(response) -> None:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("idp_sso=")]
    attributes = [a.strip().lower() for a in header.split(";")]
    assert attributes[0] == "idp_sso=" and "max-age=0" in attributes, header
    assert "httponly" in attributes and "path=/" in attributes


def test_sign_out_link_asks_then_the_button_signs_out(signed_in):
    asked = signed_in.get("/oauth/logout")
    assert asked.status_code == 200 and "Sign out?" in asked.get_data(as_text=True)
    assert live_sessions() == 1  # asking ends nothing
    fields = flow.form_fields(asked.get_data(as_text=True))
    done = signed_in.post("/oauth/logout", data={**fields, "confirm": "yes"})
    assert done.status_code == 200, done.get_data(as_text=True)[:300]
    assert "You are signed out" in done.get_data(as_text=True)
    assert_cookie_cleared(done)
    assert live_sessions() == 0 and flow.sso_cookie(signed_in) is None
    # the browser is signed out: the next app sign-in asks for a password
    assert signed_in.get("/oauth/logout").status_code == 200


def test_the_confirm_button_needs_its_csrf_token(signed_in):
    refused = signed_in.post("/oauth/logout", data={"confirm": "yes"})
    assert refused.status_code == 400
    assert live_sessions() == 1


def test_id_token_hint_signs_out_without_a_question(signed_in, app_rp):
    tokens = flow.token_set(signed_in, app_rp)
    done = signed_in.get("/oauth/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert done.status_code == 200, done.get_data(as_text=True)[:300]
    assert "You are signed out" in done.get_data(as_text=True)
    assert_cookie_cleared(done)
    assert live_sessions() == 0


def test_id_token_hint_and_redirect_uri_send_the_browser_back(signed_in, app_rp):
    tokens = flow.token_set(signed_in, app_rp)
    back = signed_in.get(
        "/oauth/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": BYE,
            "state": "s 1",
        },
    )
    assert back.status_code == 302 and flow.location(back) == BYE + "?state=s%201"
    assert_cookie_cleared(back)
    assert live_sessions() == 0


def test_signed_out_visitor_is_told_they_are_signed_out(web):
    page = web.get("/oauth/logout")
    assert page.status_code == 200 and "You are signed out" in page.get_data(as_text=True)
