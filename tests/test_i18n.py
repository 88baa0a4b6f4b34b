"""Issue 13: choosing the language of a page (the switcher's cookie, then ``ui_locales``, then the
signed-in account's language, then ``Accept-Language``, then English), Chinese reasons on the
sign-in page, protocol answers that stay English, dates in the account's time zone, and names
people typed shown as typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from idp import i18n
from idp.services import preferences, throttle
from idp.services.accounts import WRONG_CREDENTIALS
from tests import oidc_flow as flow

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
SIGN_IN_ZH = "登录卖家账号"
SIGN_IN_EN = "Sign in to your seller account"


def chinese(message) -> str:
    with i18n.language_of(locale="zh_Hans"):
        return str(message)


def page(response) -> str:
    return response.get_data(as_text=True)


def alert(response) -> str:
    found = re.search(r'role="alert">([^<]*)<', page(response))
    assert found, page(response)[:600]
    return found.group(1)


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("zh", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh-SG", "zh_Hans"),
        ("zh_Hans_CN", "zh_Hans"),
        ("zh-TW", "zh_Hans"),  # until a zh_Hant catalog is added
        ("en-GB", "en"),
        ("EN", "en"),
        ("fr", None),
        ("", None),
        ("x" * 100, None),
        ("zh-$$", None),
    ],
)
def test_language_tags_are_matched_by_language_and_script(ctx, tag, locale):
    assert i18n.match(tag) == locale


def test_accept_language_alone_gives_chinese(web):
    assert SIGN_IN_ZH in page(web.get("/login", headers=ZH))
    assert SIGN_IN_EN in page(web.get("/login", headers={"Accept-Language": "fr, en;q=0.5"}))
    assert SIGN_IN_EN in page(web.get("/login"))
    assert '<html lang="zh-Hans">' in page(web.get("/login", headers=ZH))


def test_ui_locales_of_the_authorization_request_beats_accept_language(web):
    english_browser = {"Accept-Language": "en"}
    back = "/oauth/authorize?client_id=x&ui_locales=zh-CN+en"
    assert SIGN_IN_ZH in page(
        web.get("/login", query_string={"next": back}, headers=english_browser)
    )
    assert SIGN_IN_ZH in page(web.get("/login?ui_locales=zh-Hans", headers=english_browser))
    assert SIGN_IN_EN in page(web.get("/login?ui_locales=en", headers=ZH))


def test_the_switcher_wins_over_everything_and_is_remembered(web):
    answer = web.get("/language", query_string={"to": "zh_Hans", "next": "/login?ui_locales=en"})
    assert answer.status_code == 302 and flow.location(answer) == "/login?ui_locales=en"
    cookie = [h for h in answer.headers.getlist("Set-Cookie") if h.startswith("idp_lang=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=31536000" in cookie
    assert SIGN_IN_ZH in page(web.get("/login?ui_locales=en", headers={"Accept-Language": "en"}))
    web.get("/language", query_string={"to": "en", "next": "//evil.example/"})
    assert SIGN_IN_EN in page(web.get("/login", headers=ZH))
    unknown = web.get("/language", query_string={"to": "klingon"})
    assert flow.location(unknown) == "/"  # forgets the choice: back to the browser's languages
    assert SIGN_IN_ZH in page(web.get("/login", headers=ZH))


def test_every_page_offers_the_switcher(web):
    html = page(web.get("/login?next=/stores"))
    assert 'href="/language?to=zh_Hans&amp;next=/login?next%3D/stores"' in html
    assert "简体中文" in html


def test_the_account_language_counts_when_nothing_else_was_chosen(ctx, web, make):
    owner = make.company("acme")
    assert flow.sign_in(web, "acme", make.PASSWORD).status_code == 302
    assert "Your apps" in page(web.get("/", headers={"Accept-Language": "en"}))
    preferences.set_preferences(owner, language="zh_Hans", timezone="")
    assert "您的应用" in page(web.get("/", headers={"Accept-Language": "en"}))
    web.get("/language?to=en")
    assert "Your apps" in page(web.get("/", headers={"Accept-Language": "en"}))


def test_chinese_sign_in_page_says_why_in_chinese(ctx, web, make):
    """Wrong password, a locked name and a never-activated account: the reason in Chinese, with
    Accept-Language: zh-CN alone."""
    make.staff(make.company("acme"), "alice")
    page_ = web.get("/login", headers=ZH)
    fields = flow.form_fields(page(page_))
    wrong = web.post(
        "/login", data={**fields, "login": "acme:alice", "password": "nope"}, headers=ZH
    )
    assert wrong.status_code == 401 and alert(wrong) == chinese(WRONG_CREDENTIALS)
    for _ in range(throttle.LOCK_AFTER):
        throttle.record_failure(ctx.extensions["idp.kv"], "acme:bob", "198.51.100.1")
    locked = web.post("/login", data={**fields, "login": "acme:bob", "password": "x"}, headers=ZH)
    assert (
        locked.status_code == 429
        and "15分钟" in alert(locked)
        and "登录失败次数过多" in alert(locked)
    )

    from idp.services import registration

    registration.register_company("淘宝", email="boss@taobao.example", password="a long password")
    pending = web.post(
        "/login", data={**fields, "login": "淘宝", "password": "a long password"}, headers=ZH
    )
    assert pending.status_code == 403 and "尚未激活" in alert(pending)


def test_protocol_answers_stay_english_whatever_the_language(ctx, web, make):
    rp = flow.register()
    web.get("/language?to=zh_Hans")
    refused = web.post(
        "/oauth/token",
        headers={**rp.basic, **ZH},
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": rp.redirect_uri},
    )
    assert refused.get_json()["error"] == "invalid_grant"
    assert re.fullmatch(r"[\x20-\x7e]*", refused.get_json()["error_description"])
    missing = web.get("/no/such/thing", headers={**ZH, "Accept": "application/json"})
    assert missing.get_json()["error_description"].startswith("The requested URL was not found")


def test_discovery_announces_the_complete_languages(web):
    assert web.get("/.well-known/openid-configuration").get_json()["ui_locales_supported"] == [
        "en",
        "zh-Hans",
    ]


def test_names_people_typed_are_shown_as_typed(ctx, web, make):
    """淘宝:小宝 signs in and shows as typed, in both languages."""
    owner = make.company("淘宝")
    make.staff(owner, "小宝")
    assert flow.sign_in(web, "淘宝：小宝", make.PASSWORD).status_code == 302
    for headers in (ZH, {"Accept-Language": "en"}):
        html = page(web.get("/", headers=headers))
        assert "淘宝:小宝" in html


def test_dates_are_shown_in_the_accounts_zone_company_default_utc8_for_chinese(ctx, make):
    owner = make.company("acme")
    moment = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert i18n.zone_of(owner) == "UTC"
    owner.company.language = "zh_Hans"
    assert i18n.zone_of(owner) == "Asia/Shanghai"  # UTC+8 for a Chinese-speaking company
    owner.company.timezone = "Asia/Kuala_Lumpur"
    assert i18n.zone_of(owner) == "Asia/Kuala_Lumpur"
    owner.timezone = "Europe/London"
    assert i18n.zone_of(owner) == "Europe/London"
    with ctx.test_request_context(), i18n.language_of(locale="zh_Hans"):
        shown = i18n.when(moment, "Asia/Shanghai")
    assert "2026年12月3日" in shown and "07:30" in shown and "UTC+08:00" in shown
    with ctx.test_request_context(), i18n.language_of(locale="en"):
        assert "Dec 2, 2026" in i18n.when(moment, "UTC")


def test_preferences_refuse_unknown_languages_and_zones(ctx, web, make):
    make.company("acme")
    assert flow.sign_in(web, "acme", make.PASSWORD).status_code == 302
    form = flow.form_fields(page(web.get("/account/preferences")))
    bad = web.post("/account/preferences", data={**form, "language": "xx", "timezone": ""})
    assert bad.status_code == 400 and "Choose one of the languages offered" in page(bad)
    bad = web.post("/account/preferences", data={**form, "language": "en", "timezone": "Mars/Base"})
    assert bad.status_code == 400 and "Mars/Base" in page(bad)
    good = web.post(
        "/account/preferences", data={**form, "language": "zh_Hans", "timezone": "Asia/Singapore"}
    )
    assert good.status_code == 302
    assert "已保存" in page(web.get(flow.location(good), headers={"Accept-Language": "en"}))
