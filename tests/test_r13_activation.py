"""R13: a self-registered company's main account is activated by an emailed link, valid 72 hours
and usable once; "invite again" sends a new link and voids the older ones; an account never
activated cannot sign in and says why. Emails go through a real SMTP server on loopback and links
are followed through the real pages."""

from __future__ import annotations

import re
import threading
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from idp.errors import Conflict, DomainError, InvalidInput
from idp.extensions import db
from idp.models import Account, AuditEvent, Company, OutboxMessage
from idp.models.base import utcnow
from idp.services import outbox, registration
from idp.services.registration import LinkRefused, TooSoon
from tests import oidc_flow as flow

if TYPE_CHECKING:
    from tests.smtp import SmtpServer

pytest_plugins = ["tests.smtp"]  # the smtp fixture: a real SMTP server on loopback

PASSWORD = "a fine long password"


def register(web, name: str = "acme", *, email: str = "owner@acme.example", **fields):
    """Fill in and submit the real registration form."""
    page = web.get("/register")
    assert page.status_code == 200
    data = {
        **flow.form_fields(page.get_data(as_text=True)),
        "company_name": name,
        "email": email,
        "password": PASSWORD,
        "confirm_password": PASSWORD,
        "language": "en",
        **fields,
    }
    return web.post("/register", data=data)


def register_directly(name: str = "acme", language: str = "en") -> Account:
    return registration.register_company(
        name, email=f"owner@{name}.example", password=PASSWORD, language=language
    )


def delivered(smtp: SmtpServer, count: int) -> list[EmailMessage]:
    """The emails in the order they were queued (the background worker and this call may
    deliver them in either order; each Message-ID names its outbox row)."""
    outbox.deliver_due()
    return sorted(
        smtp.wait_for(count),
        key=lambda m: int(re.search(r"outbox-(\d+)", m["Message-ID"]).group(1)),
    )


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def activation_link(message: EmailMessage) -> str:
    """The path of the activation link in an email (the issuer is http://localhost in tests)."""
    found = re.search(r"http://localhost(/activate/\S+)", text_of(message))
    assert found, text_of(message)
    return found.group(1)


def queued_links() -> list[str]:
    """Activation links in the outbox, oldest first (without going through SMTP)."""
    db.session.expire_all()
    rows = db.session.query(OutboxMessage).filter_by(kind="activation").order_by(OutboxMessage.id)
    return [re.search(r"http://localhost(/activate/\S+)", r.text_body).group(1) for r in rows]


def activate(web, path: str):
    """Open the link, then press the page's button (only the POST uses the link up)."""
    page = web.get(path)
    if page.status_code != 200:
        return page
    return web.post(path, data=flow.form_fields(page.get_data(as_text=True)))


def error_of(response) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:800]
    return found.group(1).replace("&#39;", "'")


def account_named(name: str) -> Account:
    db.session.expire_all()
    return (
        db.session.query(Account).join(Company).filter(Company.name == name, Account.kind == "main")
    ).one()


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {
        "companies": db.session.query(Company).count(),
        "accounts": db.session.query(Account).count(),
        "emails": db.session.query(OutboxMessage).count(),
        "audit": db.session.query(AuditEvent).count(),
    }


# --- the whole way: form, email over SMTP, link, sign-in ----------------------------------------


def test_r13_register_receive_email_over_smtp_activate_and_sign_in(ctx, web, smtp):
    response = register(web, "Acme", email="Owner@Acme.example")
    assert response.status_code == 302
    sent = web.get(flow.location(response))
    assert "Owner@Acme.example" in sent.get_data(as_text=True)

    refused = flow.sign_in(web, "acme", PASSWORD)
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "not been activated" in page
    assert 'action="/register/resend"' in page  # R13: says why, and offers a new link

    (email,) = delivered(smtp, 1)
    assert email["To"] == "Owner@Acme.example"
    assert email["Subject"] == "Activate your seller account Acme"
    assert "within 72 hours" in text_of(email)
    html = email.get_body(("html",)).get_content()
    link = activation_link(email)
    assert f'href="http://localhost{link}"' in html

    confirm = web.get(link)
    assert confirm.status_code == 200
    assert account_named("Acme").status == "pending"  # opening the link uses nothing up
    done = web.post(link, data=flow.form_fields(confirm.get_data(as_text=True)))
    assert done.status_code == 200
    assert "is active" in done.get_data(as_text=True)

    account = account_named("Acme")
    assert account.status == "active"
    assert account.activated_at is not None
    assert account.activation_nonce is None
    assert account.email_verified_at is not None  # following the link proved the address
    signed_in = flow.sign_in(flow.browser(ctx), "ACME", PASSWORD)
    assert signed_in.status_code == 302, error_of(signed_in)


def test_r13_a_newly_activated_owner_is_accepted_by_every_app_at_once(ctx, web):
    """Registration marks the pending account off for tokens; activation (an UPDATE whose WHERE
    names the nonce it clears) must lift that mark: the owner's first tokens work at once at
    userinfo and introspection (issue 12: they were refused for about 16 minutes)."""
    assert register(web, "acme").status_code == 302
    assert activate(web, queued_links()[0]).status_code == 200
    rp = flow.register("Seller center")
    tokens = flow.token_set(flow.browser(ctx), rp, login="acme", password=PASSWORD)
    info = flow.userinfo(web, tokens["access_token"])
    assert info.status_code == 200, info.get_json()
    assert info.get_json()["preferred_username"] == "acme"
    assert flow.introspect(web, rp, tokens["access_token"])["active"] is True
    assert flow.introspect(web, rp, tokens["refresh_token"])["active"] is True


def test_r13_chinese_registration_gets_a_chinese_email_in_text_and_html(ctx, web, smtp):
    assert register(web, "淘宝", email="boss@taobao.example", language="zh").status_code == 302
    (email,) = delivered(smtp, 1)
    assert email["Subject"] == "激活您的卖家账号 淘宝"
    assert "请在 72 小时内激活主账号" in text_of(email)
    html = email.get_body(("html",)).get_content()
    assert "激活 淘宝" in html
    assert account_named("淘宝").language == "zh_Hans"
    assert account_named("淘宝").company.language == "zh_Hans"  # dates default to UTC+8
    assert "?ui_locales=zh-Hans" in activation_link(email)  # its page speaks Chinese too
    assert activate(web, activation_link(email)).status_code == 200
    assert flow.sign_in(flow.browser(ctx), "淘宝", PASSWORD).status_code == 302


def test_r13_registration_pages_speak_chinese_when_asked(ctx, web):
    page = web.get("/register", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "注册您的公司" in page
    assert '<option value="zh_Hans" selected>' in page  # the emails' language follows


# --- the form: name check, precise messages, nothing written ----------------------------------


@pytest.mark.parametrize(
    ("name", "available", "message"),
    [
        ("globex", True, "'globex' is available"),
        ("ACME", False, "The company name 'ACME' is taken"),
        ("１２３", False, "Company name must not be all digits"),
        ("a:b", False, "Company name must not contain a colon (':' or '：')"),
        ("acme：x", False, "Company name must not contain a colon (':' or '：')"),
        (" acme", False, "Company name must not start or end with white space"),
        ("", False, "Company name is required"),
        ("x" * 31, False, "Company name is 31 characters long; the most is 30"),
    ],
)
def test_r13_company_name_check(ctx, web, make, name, available, message):
    make.company("acme")
    answer = web.get("/register/check", query_string={"name": name})
    assert answer.status_code == 200
    assert answer.get_json() == {"available": available, "message": message}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"company_name": "acme"}, "The company name 'acme' is taken"),
        ({"company_name": "12345"}, "Company name must not be all digits"),
        ({"company_name": "a:b"}, "Company name must not contain a colon (':' or '：')"),
        ({"email": "not-an-email"}, "'not-an-email' is not an email address"),
        ({"email": ""}, "The main account needs an email address"),
        ({"email": "taken@acme.example"}, "This email address is already used by another account"),
        (
            {"password": "short", "confirm_password": "short"},
            "A password needs at least 8 characters",
        ),
        ({"confirm_password": "something else"}, "The two passwords differ"),
        ({"language": "fr"}, "Choose English or Chinese for your emails"),
    ],
)
def test_r13_bad_input_re_renders_the_form_and_writes_nothing(ctx, web, fields, message):
    registration.register_company(
        "acme", email="taken@acme.example", password=PASSWORD, language="en"
    )
    before = counts()
    response = register(web, "globex", **{"email": "owner@globex.example", **fields})
    assert response.status_code == 400
    assert error_of(response) == message
    page = response.get_data(as_text=True)
    assert 'name="company_name"' in page  # the form again, filled in
    assert counts() == before


def test_r13_registration_without_csrf_token_is_refused(ctx, web):
    response = web.post(
        "/register",
        data={
            "company_name": "globex",
            "email": "o@globex.example",
            "password": PASSWORD,
            "confirm_password": PASSWORD,
            "language": "en",
        },
    )
    assert response.status_code == 400
    assert "This form has expired or was not sent from this site" in response.get_data(as_text=True)
    assert counts()["companies"] == 0


# --- one transaction: the company and its email commit together ------------------------------


@pytest.fixture
def outbox_refused():
    """The database refuses to write outbox rows (as a full disk or a lost connection would)."""

    def refuse(mapper, connection, target):
        raise OperationalError("INSERT INTO outbox_messages", {}, OSError("disk I/O error"))

    event.listen(OutboxMessage, "before_insert", refuse)
    try:
        yield
    finally:
        event.remove(OutboxMessage, "before_insert", refuse)


def test_r13_when_the_email_cannot_be_written_nothing_is_registered(ctx, outbox_refused):
    with pytest.raises(OperationalError):
        register_directly("acme")
    assert counts() == {"companies": 0, "accounts": 0, "emails": 0, "audit": 0}


def test_r13_when_the_email_cannot_be_written_the_page_says_so_and_the_name_stays_free(
    ctx, web, outbox_refused
):
    response = register(web, "acme")
    assert response.status_code == 503
    assert "briefly unavailable" in response.get_data(as_text=True)
    assert counts() == {"companies": 0, "accounts": 0, "emails": 0, "audit": 0}


def test_r13_concurrent_registrations_of_one_name_make_one_company_and_one_email(ctx):
    app, barrier, outcomes, lock = ctx, threading.Barrier(4, timeout=30), [], threading.Lock()

    def attempt(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                registration.register_company(
                    "acme", email=f"owner{i}@acme.example", password=PASSWORD
                )
                result = "registered"
            except Conflict as exc:
                result = "refused: " + exc.message
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[-1] == "registered"
    assert outcomes.count("registered") == 1
    assert all(o.startswith("refused") for o in outcomes if o != "registered")
    assert counts()["companies"] == 1
    assert len(queued_links()) == 1


# --- 72 hours, once, invite again -------------------------------------------------------------


def test_r13_link_works_at_71_hours_59_minutes(ctx, web, clock):
    register_directly("acme")
    clock.at(hours=71, minutes=59)
    assert activate(web, queued_links()[0]).status_code == 200
    assert account_named("acme").status == "active"


def test_r13_link_expired_at_72_hours_1_minute_offers_a_new_one(ctx, web, clock, smtp):
    register_directly("acme")
    (first,) = delivered(smtp, 1)
    clock.at(hours=72, minutes=1)
    expired = web.get(activation_link(first))
    assert expired.status_code == 410
    assert error_of(expired) == "This link has expired: it worked for 72 hours. Ask for a new one."
    page = expired.get_data(as_text=True)
    assert 'action="/register/resend"' in page
    assert account_named("acme").status == "pending"

    resent = web.post("/register/resend", data=flow.form_fields(page))
    assert resent.status_code == 200
    assert str(registration.ACTIVATION_RESENT) in resent.get_data(as_text=True)
    _, second = delivered(smtp, 2)
    assert activate(web, activation_link(first)).status_code == 410
    assert activate(web, activation_link(second)).status_code == 200
    assert account_named("acme").status == "active"


def test_r13_link_works_once(ctx, web):
    register_directly("acme")
    (link,) = queued_links()
    assert activate(web, link).status_code == 200
    again = web.get(link)
    assert again.status_code == 410
    assert error_of(again) == (
        "This activation link was already used: the account is active. Sign in."
    )
    assert 'href="/login?login_hint=acme"' in again.get_data(as_text=True)
    with pytest.raises(LinkRefused) as refused:
        registration.activate(link.rsplit("/", 1)[1])
    assert refused.value.reason == "used"


def test_r13_invite_again_voids_every_older_link(ctx, web, clock, smtp):
    account = register_directly("acme")
    clock.at(minutes=5)
    registration.invite_again(account)
    clock.at(minutes=10)
    registration.invite_again(account)
    first, second, third = (activation_link(m) for m in delivered(smtp, 3))
    for old in (first, second):
        refused = web.get(old)
        assert refused.status_code == 410
        assert "A newer link was sent since this one" in error_of(refused)
        assert 'action="/register/resend"' in refused.get_data(as_text=True)
    assert activate(web, third).status_code == 200
    assert "already used" in error_of(web.get(first))


def test_r13_invite_again_from_the_sign_in_refusal(ctx, clock, smtp):
    register_directly("acme")
    clock.at(minutes=2)
    web = flow.browser(ctx)
    refused = flow.sign_in(web, "ACME", PASSWORD)
    assert refused.status_code == 403
    form = re.search(
        r'<form method="post" action="/register/resend">.*?</form>',
        refused.get_data(as_text=True),
        re.S,
    )
    resend_fields = flow.form_fields(form.group(0))
    assert resend_fields["login"] == "ACME"
    assert web.post("/register/resend", data=resend_fields).status_code == 200
    first, second = delivered(smtp, 2)
    assert activate(web, activation_link(first)).status_code == 410
    assert activate(web, activation_link(second)).status_code == 200
    assert flow.sign_in(web, "acme", PASSWORD).status_code == 302


def test_r13_one_new_link_a_minute(ctx, web, clock):
    account = register_directly("acme")
    clock.at(seconds=30)
    with pytest.raises(TooSoon, match="less than a minute ago"):
        registration.invite_again(account)
    page = web.get("/register/resend")
    fields = {**flow.form_fields(page.get_data(as_text=True)), "login": "acme"}
    answer = web.post("/register/resend", data=fields)
    assert str(registration.ACTIVATION_RESENT) in answer.get_data(as_text=True)  # the same answer
    assert len(queued_links()) == 1  # but nothing sent, and the first link still works
    clock.at(seconds=61)
    web.post("/register/resend", data=fields)
    first, second = queued_links()
    assert activate(web, first).status_code == 410
    assert activate(web, second).status_code == 200


def test_r13_resend_answers_alike_for_unknown_active_and_staff_names(ctx, web, make):
    owner = make.company("globex")
    make.staff(owner, "alice")
    register_directly("acme")
    page = web.get("/register/resend")
    answers = set()
    for login in ("acme", "nosuchcompany", "globex", "globex:alice"):
        fields = {**flow.form_fields(page.get_data(as_text=True)), "login": login}
        body = web.post("/register/resend", data=fields).get_data(as_text=True)
        answers.add(body.replace(login, "NAME"))
    assert len(answers) == 1
    assert len(queued_links()) == 1  # acme's own first link: within its minute, nothing more


def test_r13_resend_with_a_malformed_name_says_what_is_wrong(ctx, web):
    page = web.get("/register/resend")
    fields = {**flow.form_fields(page.get_data(as_text=True)), "login": "acme:"}
    response = web.post("/register/resend", data=fields)
    assert response.status_code == 400
    assert error_of(response) == "A login name is the company name, or company:name for staff"


def test_r13_invite_again_refuses_an_active_account(ctx, make):
    with pytest.raises(InvalidInput, match="does not wait for activation"):
        registration.invite_again(make.company("acme"))


def test_r13_two_concurrent_uses_of_one_link_activate_once(ctx):
    register_directly("acme")
    token = queued_links()[0].rsplit("/", 1)[1]
    app, barrier, outcomes, lock = ctx, threading.Barrier(2, timeout=30), [], threading.Lock()

    def use() -> None:
        with app.app_context():
            barrier.wait()
            try:
                registration.activate(token)
                result = "activated"
            except DomainError as exc:
                result = getattr(exc, "reason", exc.code)
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["activated", "used"]
    db.session.expire_all()
    activated = db.session.query(AuditEvent).filter_by(action="account.activated").count()
    assert activated == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda token: token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        lambda token: token[: len(token) // 2],
        lambda token: "x" * 600,
        lambda token: "not-a-token",
    ],
)
def test_r13_damaged_or_foreign_links_are_refused_clearly(ctx, web, damage):
    register_directly("acme")
    token = queued_links()[0].rsplit("/", 1)[1]
    page = web.get(f"/activate/{damage(token)}")
    assert page.status_code == 400
    assert "This link is not valid" in error_of(page)
    assert 'action="/register/resend"' in page.get_data(as_text=True)
    pressed = web.post(
        f"/activate/{damage(token)}", data=flow.form_fields(page.get_data(as_text=True))
    )
    assert pressed.status_code == 400
    assert "This link is not valid" in error_of(pressed)
    assert account_named("acme").status == "pending"


def test_r13_a_password_reset_link_is_no_activation_link(ctx, web, app):
    """One salt per purpose: a link signed for another purpose does not verify."""
    account = register_directly("acme")
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer(app.config["SECRET_KEY"], salt="idp.password-reset").dumps(
        {"a": account.public_id, "n": account.activation_nonce, "t": int(utcnow().timestamp())}
    )
    assert web.get(f"/activate/{forged}").status_code == 400
    assert account_named("acme").status == "pending"


def test_r13_never_activated_account_cannot_sign_in(ctx, web):
    register_directly("acme")
    refused = flow.sign_in(web, "acme", PASSWORD)
    assert refused.status_code == 403
    assert error_of(refused) == (
        "This account has not been activated yet; follow the link in the activation email"
    )
    wrong = flow.sign_in(flow.browser(ctx), "acme", "wrong password!")
    assert wrong.status_code == 401  # the state is told only to who knows the password
    assert "resend" not in wrong.get_data(as_text=True)


def test_r13_registration_and_activation_are_audited(ctx, web, clock):
    account = register_directly("acme")
    clock.at(minutes=3)
    registration.invite_again(account)
    activate(web, queued_links()[-1])
    db.session.expire_all()
    events = db.session.query(AuditEvent).order_by(AuditEvent.id).all()
    actions = [e.action for e in events]
    assert actions == [
        "company.created",
        "company.registered",
        "account.activation_resent",
        "account.activated",
    ]
    registered = events[1]
    assert registered.target_id == account.public_id
    assert registered.details == {"email": "owner@acme.example", "language": "en"}
    assert all(PASSWORD not in str(e.details) for e in events)


def test_r13_sent_page_without_a_registration_goes_back_to_the_form(ctx, web):
    response = web.get("/register/sent")
    assert response.status_code == 302
    assert urlsplit(flow.location(response)).path == "/register"


def test_r13_odd_input_is_answered_never_a_server_error(ctx, web, make):
    make.company("acme")
    fields = flow.form_fields(web.get("/register/resend").get_data(as_text=True))
    for token in ("é", "a.b.c", ".", "eyJ.AAA", "☃.☃", "a" * 511):
        assert web.get(f"/activate/{token}").status_code == 400
        assert web.post(f"/activate/{token}", data=fields).status_code == 400
    for name in ("x" * 5000, "\u200b", "a\tb", "a:b"):
        answer = web.get("/register/check", query_string={"name": name})
        assert answer.status_code == 200 and answer.get_json()["available"] is False
    for login in ("", "x" * 500, ":", "：", "\u200b", "a:b:c"):
        assert web.post("/register/resend", data={**fields, "login": login}).status_code == 400
    oversized = register(
        web, "x" * 400, email="a" * 400, password="p" * 5000, confirm_password="p" * 5000
    )
    assert oversized.status_code == 400
    assert counts()["companies"] == 1


def test_r13_registration_is_limited_per_client_ip(ctx, web):
    """/register creates accounts and sends email: one network gets 20 tries an hour."""
    from idp.kv import kv
    from idp.models import Company
    from idp.web.register import IP_LIMITS

    key = f"web:register:{web.environ_base['REMOTE_ADDR']}"
    for _ in range(IP_LIMITS["register"]):
        kv().incr(key, 3600)  # this network's earlier registrations this hour
    refused = register(web, "toomany")
    assert refused.status_code == 429
    assert "Too many requests from your network" in refused.get_data(as_text=True)
    assert db.session.query(Company).filter_by(name_key="toomany").first() is None
    kv().delete(key)


def test_r13_owner_can_invite_again_from_the_command_line(ctx, smtp, clock, monkeypatch):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import idp.commands  # noqa: F401  (registers the subcommands)
    from idp.cli import cli

    register_directly("acme")
    first = activation_link(delivered(smtp, 1)[0])
    clock.at(minutes=2)  # past the one-link-a-minute limit
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    result = CliRunner().invoke(
        cli, ["company", "invite-again", "acme"], obj=ScriptInfo(create_app=lambda: ctx)
    )
    assert result.exit_code == 0, result.output
    assert "new activation link" in result.output
    second = activation_link(delivered(smtp, 2)[1])
    assert second != first
    with pytest.raises(LinkRefused) as refused:
        registration.activate(first.rsplit("/", 1)[1])
    assert refused.value.reason != "used"  # voided by the newer link, not consumed
