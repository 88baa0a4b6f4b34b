"""The account centre's pages as a person reads them (issue 17, a walk in a browser found these):
where the staff member's inquiries switch is (R24), every section inside the centre's frame with
its own heading and one pattern of page title, messages said once and in the right form."""

from __future__ import annotations

import re
from html import unescape

import pytest

from idp.extensions import db
from idp.models import Account
from idp.services import inquiries
from tests import oidc_flow as flow


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def shop(owner, make):
    return make.store(owner, "shopee-sg", name="Acme SG")


@pytest.fixture
def alice(owner, shop, make) -> Account:
    return make.staff(owner, "alice", stores_=[shop], email="alice@acme.example")


def signed_in(ctx, login: str, make):
    web = flow.browser(ctx)
    assert flow.sign_in(web, login, make.PASSWORD).status_code == 302
    return web


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def switch_form(html: str) -> bool:
    return 'action="/account/inquiries"' in html


def test_r24_the_inquiries_switch_is_on_the_overview_of_staff_of_an_allocating_store(
    ctx, make, owner, shop, alice
):
    inquiries.set_store_rules(owner, shop, enabled=True, group_id=None)
    db.session.commit()
    web = signed_in(ctx, "acme:alice", make)
    overview = web.get("/account")
    assert switch_form(overview.get_data(as_text=True))
    assert "Acme SG" in text(overview) and "Take a break from inquiries" in text(overview)
    # one form, one place: no longer hidden on the language page
    assert not switch_form(web.get("/account/preferences").get_data(as_text=True))
    fields = flow.form_fields(overview.get_data(as_text=True))
    answer = web.post("/account/inquiries", data={**fields, "receives": "off"})
    assert answer.status_code == 302
    assert re.fullmatch(r"/account/?#inquiries", flow.location(answer)), flow.location(answer)
    back = text(web.get("/account"))
    assert "You are taking a break" in back and "Receive inquiries again" in back
    db.session.expire_all()
    assert db.session.get(Account, alice.id).receives_inquiries is False


def test_r24_no_inquiries_card_where_no_store_spreads_inquiries_unless_on_a_break(
    ctx, make, owner, alice
):
    web = signed_in(ctx, "acme:alice", make)
    assert not switch_form(web.get("/account").get_data(as_text=True))
    inquiries.set_own_switch(alice, False)  # a break is shown wherever it was taken
    db.session.commit()
    assert switch_form(web.get("/account").get_data(as_text=True))
    owner_web = signed_in(ctx, "acme", make)
    assert not switch_form(owner_web.get("/account").get_data(as_text=True))


ACCOUNT_PAGES = (
    "/account",
    "/account/profile",
    "/account/photo",
    "/account/password",
    "/account/security",
    "/account/security/totp",
    "/account/sessions",
    "/account/privacy",
    "/account/subscriptions",
    "/account/apps",
    "/account/preferences",
)


def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1)).strip()


def framed(html: str) -> bool:
    """The page is inside the account centre's frame: its tab bar, then one page heading."""
    return 'class="console-nav account-nav"' in html and html.count("<h1") == 1


@pytest.mark.parametrize("login", ["acme", "acme:alice"])
def test_issue17_every_account_page_has_the_frame_a_heading_and_one_title_pattern(
    ctx, make, alice, login
):
    web = signed_in(ctx, login, make)
    for path in ACCOUNT_PAGES:
        page = web.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert framed(html), path
        name, _, who = title(html).rpartition(" — ")
        assert name and who == login, (path, title(html))


def test_r19_authenticator_set_up_and_its_recovery_codes_stay_in_the_frame_and_uncached(
    ctx, make, alice
):
    import pyotp

    web = signed_in(ctx, "acme:alice", make)
    page = web.get("/account/security/totp")
    assert page.headers["Cache-Control"] == "no-store"  # the secret and its QR code
    html = page.get_data(as_text=True)
    secret = re.search(r"<code>([A-Z2-7]+)</code>", html).group(1)
    fields = {**flow.form_fields(html), "password": make.PASSWORD}
    wrong = web.post("/account/security/totp", data={**fields, "code": "000000"})
    assert wrong.status_code == 400 and framed(wrong.get_data(as_text=True))
    assert wrong.headers["Cache-Control"] == "no-store"
    codes = web.post("/account/security/totp", data={**fields, "code": pyotp.TOTP(secret).now()})
    assert codes.status_code == 200 and codes.headers["Cache-Control"] == "no-store"
    html = codes.get_data(as_text=True)
    assert framed(html) and "Save your recovery codes" in html
    assert title(html) == "Recovery codes — acme:alice"
    assert len(re.findall(r"<li><code>", html)) == 10


def test_r20_the_photo_picker_is_our_button_with_our_words(ctx, make, alice):
    """The browser's raw picker said "Choose File / No file chosen" in English on Chinese pages:
    the input stays (labelled, focusable, required) out of sight behind our own button."""
    web = signed_in(ctx, "acme:alice", make)
    html = web.get("/account/profile").get_data(as_text=True)
    picker = re.search(r'<input id="f-photo"[^>]*>', html).group(0)
    assert 'class="file-input visually-hidden"' in picker and " required" in picker
    assert 'aria-describedby="s-photo h-photo"' in picker
    button = '<label for="f-photo" class="button secondary file-button">Choose a photo</label>'
    assert button in html
    assert ">No photo chosen<" in html


def test_r20_the_photo_card_says_what_a_waiting_photo_means_for_a_first_or_a_new_photo(
    ctx, make, owner, alice
):
    from idp.services import avatars
    from tests import avatar_files as files

    web = signed_in(ctx, "acme:alice", make)
    first = avatars.submit(alice, files.jpeg()).public_id
    page = text(web.get("/account/photo"))
    assert "You have no photo yet" in page and "It is shown once it is approved." in page
    assert "Your current photo stays" not in page  # there is none
    avatars.approve(owner, first)
    avatars.submit(alice, files.jpeg(color=(1, 2, 3)))
    page = text(web.get("/account/photo"))
    assert "Your current photo stays until it is approved." in page
    assert "You have no photo yet" not in page and "It is shown once" not in page


def test_issue17_this_devices_sign_out_looks_like_the_other_rows_buttons(ctx, make, alice):
    signed_in(ctx, "acme:alice", make)  # another session: a row with a real button
    web = signed_in(ctx, "acme:alice", make)
    html = web.get("/account/sessions").get_data(as_text=True)
    assert '<td class="row-actions"><a class="button secondary" href="/oauth/logout">' in html
    assert html.count('<td class="row-actions">') == 2  # both rows keep their button unwrapped


def test_r19_one_recovery_code_left_is_said_in_the_singular(ctx, make, alice):
    import pyotp

    from idp.services import totp

    web = signed_in(ctx, "acme:alice", make)
    secret = totp.begin_enrolment(alice).secret
    codes = totp.enable(alice, secret, pyotp.TOTP(secret).now())
    db.session.commit()
    assert "10 unused recovery codes left." in text(web.get("/account/security"))
    for code in codes[1:]:
        totp.verify(alice, code)  # each recovery code works once
    db.session.commit()
    page = text(web.get("/account/security"))
    assert "1 unused recovery code left." in page and "codes left" not in page


def test_issue17_the_overview_names_the_language_and_the_time_zone_each_in_words(ctx, make, alice):
    from idp.services import preferences

    web = signed_in(ctx, "acme:alice", make)
    facts = re.sub(r"\s+", " ", text(web.get("/account")))
    assert "<dt>Language</dt><dd>Same as your browser</dd>" in facts
    assert "<dt>Time zone</dt><dd>The company's (UTC)</dd>" in facts
    assert "your browser's" not in facts
    preferences.set_preferences(alice, language="zh_Hans", timezone="Asia/Singapore")
    db.session.commit()
    facts = re.sub(r"\s+", " ", text(web.get("/account")))
    assert "<dt>语言</dt><dd>简体中文</dd>" in facts  # the page is then in Chinese
    assert "<dd>Asia/Singapore</dd>" in facts
