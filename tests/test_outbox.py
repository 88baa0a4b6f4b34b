"""The email outbox against a real SMTP server on loopback: a message exists exactly when what
caused it committed, waits (attempts counted, the error kept) while the server is down, and is
delivered once it is back: none lost, none sent twice, also when delivery rounds race."""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from idp.extensions import db
from idp.models import OutboxMessage
from idp.models.base import utcnow
from idp.services import outbox, registration
from tests import oidc_flow as flow
from tests.sql import Statements

if TYPE_CHECKING:
    from tests.smtp import SmtpServer

pytest_plugins = ["tests.smtp"]  # the smtp fixture: a real SMTP server on loopback

PASSWORD = "a fine long password"


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.query(OutboxMessage).order_by(OutboxMessage.id).all()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_outbox_mail_waits_while_smtp_is_down_and_is_delivered_once_it_is_back(
    ctx, smtp: SmtpServer
):
    smtp.stop()
    web = flow.browser(ctx)
    page = web.get("/register")
    response = web.post(
        "/register",
        data={
            **flow.form_fields(page.get_data(as_text=True)),
            "company_name": "acme",
            "email": "owner@acme.example",
            "password": PASSWORD,
            "confirm_password": PASSWORD,
            "language": "en",
        },
    )
    assert response.status_code == 302  # registering does not wait for the mail server

    assert outbox.deliver_due() == 0
    wait_until(lambda: rows()[0].attempts >= 1)  # this round, or the background worker's
    (waiting,) = rows()
    assert waiting.sent_at is None and waiting.given_up_at is None
    assert "ConnectionRefusedError" in waiting.last_error
    assert waiting.next_attempt_at > utcnow()  # backing off
    failures = waiting.attempts

    smtp.start()
    db.session.execute(  # the back-off elapses
        update(OutboxMessage).values(next_attempt_at=utcnow())
    )
    db.session.commit()
    outbox.deliver_due()
    (email,) = smtp.wait_for(1)
    outbox.deliver_due()
    assert len(smtp.settle(1.0)) == 1  # sent once, whoever delivered it
    (sent,) = rows()
    assert sent.sent_at is not None
    assert sent.attempts == failures + 1

    # The email that waited is the real thing: its link activates the account.
    link = re.search(r"http://localhost(/activate/\S+)", email.get_body(("plain",)).get_content())
    confirm = web.get(link.group(1))
    web.post(link.group(1), data=flow.form_fields(confirm.get_data(as_text=True)))
    assert flow.sign_in(flow.browser(ctx), "acme", PASSWORD).status_code == 302


def test_outbox_racing_delivery_rounds_send_each_email_once(ctx, make, smtp: SmtpServer):
    owners = [make.company(f"co{i}") for i in range(6)]
    for owner in owners:  # queued in one transaction; the worker wakes when it commits
        outbox.send_email("password_changed", owner.email, account=owner)
    db.session.commit()
    app, barrier = ctx, threading.Barrier(3, timeout=30)

    def round_() -> None:
        with app.app_context():
            barrier.wait()
            outbox.deliver_due()

    threads = [threading.Thread(target=round_) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    smtp.wait_for(6)
    received = smtp.settle(1.0)
    assert sorted(m["To"] for m in received) == sorted(o.email for o in owners)
    assert len({m["Message-ID"] for m in received}) == 6
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows())


def test_outbox_a_delivery_round_reads_each_message_with_its_lease(ctx, smtp: SmtpServer):
    """The UPDATE that leases a message answers with its row (RETURNING): a round sends one
    SELECT (which messages are due), then per message the lease and the attempt's record."""
    for n in range(3):  # added as rows: nothing wakes the background sender
        db.session.add(
            OutboxMessage(
                channel="email",
                recipient=f"r{n}@example.com",
                subject="Hello",
                text_body="Hello there",
                kind="password_changed",
            )
        )
    db.session.commit()
    db.session.remove()  # a round starts with an empty session, as the sender's does
    with Statements() as sql:
        sent = outbox.deliver_due()
    assert sent == 3
    assert [s.split()[0] for s in sql.here] == ["SELECT"] + ["UPDATE", "UPDATE"] * 3
    assert sorted(m["To"] for m in smtp.wait_for(3)) == [f"r{n}@example.com" for n in range(3)]
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows())


def test_outbox_email_is_text_and_html_utf8_with_one_message_id_per_row(ctx, smtp: SmtpServer):
    registration.register_company(
        "淘宝", email="boss@taobao.example", password=PASSWORD, language="zh"
    )
    outbox.deliver_due()
    (email,) = smtp.wait_for(1)
    assert email.get_content_type() == "multipart/alternative"
    text, html = email.get_body(("plain",)), email.get_body(("html",))
    assert text.get_content_charset() == "utf-8"
    assert "您的公司“淘宝”已注册" in text.get_content()
    assert "<strong>淘宝</strong>" in html.get_content()
    (row,) = rows()
    assert f"outbox-{row.id}" in email["Message-ID"]
    assert email["Subject"] == row.subject == "激活您的卖家账号 淘宝"


def test_outbox_nothing_is_queued_when_what_caused_it_rolls_back(ctx, make):
    owner = make.company("acme")
    outbox.send_email("password_changed", owner.email, account=owner)
    db.session.rollback()
    assert rows() == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_outbox_every_email_has_plain_text_and_html_parts(ctx, make, lang):
    """Kinds without a hand-written HTML template still get an HTML part: the text, escaped."""
    from idp.models import OutboxMessage

    owner = make.company("htmlco")
    message = outbox.send_email(
        "verification_code", "x@example.com", account=owner, lang=lang, code="123456"
    )
    db.session.commit()
    stored = db.session.get(OutboxMessage, message.id)
    assert "123456" in stored.text_body and "123456" in stored.html_body
    assert stored.html_body.startswith("<p>") and "<script" not in stored.html_body
