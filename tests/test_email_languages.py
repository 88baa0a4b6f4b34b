"""Issue 13: every kind of email, in English and in Simplified Chinese, through the real SMTP test
server: the subject, the text and the HTML body are in the recipient's language (its own, else
its company's), hold no English sentence when Chinese, keep what people typed as typed, and show
dates in the recipient's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from idp.services import outbox, routing
from idp.services.subscriptions import KINDS
from tests import factories
from tests import oidc_flow as flow
from tests.languages import english_runs, has_chinese

pytest_plugins = ["tests.smtp"]  # the smtp fixture: a real SMTP server on loopback

MOMENT = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # 07:30 on the 3rd in UTC+8
CONTEXT = {
    "activation": {"company": "淘宝", "link": "https://idp.example/activate/x"},
    "new_sign_in": {
        "when": MOMENT,
        "device": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/131.0.0.0 Safari/537.36",
        "ip": "203.0.113.7",
        "sessions_url": "https://idp.example/account/sessions",
    },
    "password_changed": {"when": MOMENT},
    "second_factor_removed": {"passkey": "小宝的手机"},
    "contact_changed": {"channel": "email", "new": "x•••@taobao.example"},
    "avatar_reviewed": {"approved": False, "reason": "照片太暗"},
    "password_reset_by_owner": {},
    "password_reset_link": {"link": "https://idp.example/reset/x"},
    "second_factor_added": {},
    "verification_code": {"code": "123456"},
    "wallet_changed": {"company": "淘宝", "first": False, "when": MOMENT},
    "wallet_locked": {"company": "淘宝", "failures": 5, "until": MOMENT, "store": "淘宝旗舰店"},
}
# R25's event notices (idp.services.routing): what an app published, shown as it sent it.
EVENT = {
    "store": "淘宝旗舰店",
    "marketplace": "淘宝",
    "company": "淘宝",
    "details": [("商品", "蓝色水壶")],
}
for _kind in routing.KINDS:
    CONTEXT[routing.NOTIFICATION_EMAIL_KINDS[_kind]] = {
        **EVENT,
        "kind_label": routing.KIND_LABELS[_kind],
        "fell_back": _kind == routing.TRADE_DISPUTE,
    }
TYPED = ("淘宝", "小宝")  # what people typed, shown as typed in both languages


def test_every_kind_is_covered():
    kinds = {path.stem for path in (outbox.TEMPLATES).glob("*.txt")}
    assert kinds == set(CONTEXT), "a new kind of email needs a case here"
    assert kinds <= set(KINDS), "every kind of email is in the registry (R22)"


@pytest.fixture
def staff(ctx, make):
    owner = make.company("淘宝")
    return make.staff(owner, "小宝", email="xiaobao@taobao.example")


def sent(smtp, account, kind: str, language: str | None):
    account.language = language
    db.session.commit()
    outbox.send_email(kind, account.email, account=account, **CONTEXT[kind])
    db.session.commit()
    before = len(smtp.messages)
    outbox.deliver_due()
    message = smtp.wait_for(before + 1)[before]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return message["Subject"], text, re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("kind", sorted(CONTEXT))
def test_every_email_in_both_languages(smtp, staff, kind):
    english = sent(smtp, staff, kind, "en")
    chinese = sent(smtp, staff, kind, "zh_Hans")
    for part_en, part_zh in zip(english, chinese, strict=True):
        assert english_runs(part_en), part_en  # English said something
        assert has_chinese(part_zh), part_zh
        assert english_runs(part_zh) & english_runs(part_en) == set(), part_zh
    for value in TYPED:
        if value in english[1]:
            assert value in chinese[1]  # as typed, untranslated


def test_an_account_without_a_language_gets_its_companys(smtp, staff):
    staff.company.language = "zh_Hans"
    subject, _, _ = sent(smtp, staff, "second_factor_added", None)
    assert has_chinese(subject)
    staff.company.language = "en"
    subject, _, _ = sent(smtp, staff, "second_factor_added", None)
    assert subject == "A second factor was added to your account"


def test_dates_in_emails_are_in_the_recipients_zone(smtp, staff):
    staff.timezone = "Asia/Shanghai"
    _, text, _ = sent(smtp, staff, "password_changed", "zh_Hans")
    assert "2026年12月3日" in text and "07:30" in text and "UTC+08:00" in text
    staff.timezone = None  # the company's: UTC for an English-speaking company
    _, text, _ = sent(smtp, staff, "password_changed", "en")
    assert "Dec 2, 2026" in text and "11:30" in text and "(UTC)" in text


# --- the language a person uses on the pages (the README's rule for emails) -------------------


def _browser(ctx, login: str | None = None, *, accept: str | None = None):
    web = flow.browser(ctx)
    if accept:
        web.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept
    if login:
        assert flow.sign_in(web, login, factories.PASSWORD).status_code == 302
    return web


def _new_email_code(web, smtp, address: str):
    """The code to a new email address, asked for on the profile page, as delivered."""
    fields = flow.form_fields(web.get("/account/profile").get_data(as_text=True))
    answer = web.post(
        "/account/profile/contact",
        data={
            "csrf_token": fields["csrf_token"],
            "channel": "email",
            "email": address,
            "password": factories.PASSWORD,  # the step-up an email change asks for
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    before = len(smtp.messages)
    outbox.deliver_due()
    return smtp.wait_for(before + 1)[before]


def _fresh(account):
    db.session.expire_all()
    return db.session.get(type(account), account.id)


@pytest.fixture
def alice(ctx, make):
    owner = make.company("acme")  # an English-speaking company
    return make.staff(owner, "alice", email="alice@acme.example")


def test_switching_language_signed_in_saves_it_and_the_next_email_follows(ctx, smtp, alice):
    assert alice.language is None and alice.company.language in (None, "en")
    web = _browser(ctx, "acme:alice")
    switched = web.get("/language?to=zh_Hans&next=/account")
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/account")
    assert _fresh(alice).language == "zh_Hans"
    [entry] = db.session.query(AuditEvent).filter_by(action="account.preferences_changed").all()
    assert entry.details["after"]["language"] == "zh_Hans"
    assert "您的账号" in web.get("/account").get_data(as_text=True)

    email = _new_email_code(web, smtp, "alice.new@example.com")
    assert has_chinese(email["Subject"]), email["Subject"]
    assert has_chinese(email.get_body(("plain",)).get_content())

    # Back to English: saved too.
    web.get("/language?to=en&next=/account")
    assert _fresh(alice).language == "en"


def test_switching_language_signed_out_or_from_another_site_only_sets_the_cookie(ctx, alice):
    """Signed out, there is no account to save it to; led by another site's link, the switch
    is no choice of the person's (Fetch Metadata says where it came from)."""
    web = _browser(ctx)
    assert web.get("/language?to=zh_Hans&next=/login").status_code == 302
    web = _browser(ctx, "acme:alice")
    led = web.get("/language?to=zh_Hans&next=/", headers={"Sec-Fetch-Site": "cross-site"})
    assert led.status_code == 302 and "idp_lang=zh_Hans" in led.headers["Set-Cookie"]
    assert _fresh(alice).language is None  # a link elsewhere changes no account
    web.get("/language?to=zh_Hans&next=/", headers={"Sec-Fetch-Site": "same-origin"})
    assert _fresh(alice).language == "zh_Hans"  # the switcher on our own page does


def test_an_email_a_person_causes_follows_the_page_they_read_when_they_saved_no_language(
    ctx, smtp, alice
):
    """No language saved, an English company, a browser that asks for Chinese: the pages are
    Chinese, and so is the code alice asks for from one of them. An email the owner causes
    (reading the console in Chinese) goes to alice in her company's language: the owner's page
    says nothing of hers."""
    web = _browser(ctx, "acme:alice", accept="zh-CN,zh;q=0.9")
    assert "您的账号" in web.get("/account").get_data(as_text=True)
    email = _new_email_code(web, smtp, "alice.new@example.com")
    assert has_chinese(email["Subject"]), email["Subject"]
    assert _fresh(alice).language is None  # the browser's language is not saved

    owner_web = _browser(ctx, "acme", accept="zh-CN")
    fields = flow.form_fields(owner_web.get("/console/staff").get_data(as_text=True))
    before = len(smtp.messages)
    answer = owner_web.post(
        f"/console/staff/{alice.public_id}/reset-password",
        data={"csrf_token": fields["csrf_token"], "password": ""},
    )
    assert answer.status_code == 200, answer.status_code
    outbox.deliver_due()
    notice = smtp.wait_for(before + 1)[before]
    assert notice["To"] == "alice@acme.example"  # the new address is not confirmed
    assert notice["Subject"] and not has_chinese(notice["Subject"]), notice["Subject"]
