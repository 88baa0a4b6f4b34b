"""Issue 13: every kind of email, in English and in Simplified Chinese, through the real SMTP test
server: the subject, the text and the HTML body are in the recipient's language (its own, else
its company's), hold no English sentence when Chinese, keep what people typed as typed, and show
dates in the recipient's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from idp.extensions import db
from idp.services import outbox, routing
from idp.services.subscriptions import KINDS
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
