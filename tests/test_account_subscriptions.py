"""R22 email subscriptions (issue 17 section 4): one registry of kinds that the outbox obeys, the
account's page, and RFC 8058 one-click unsubscribe links that work without signing in, through
the real SMTP test server.

The optional kinds belong to other parts (an avatar review, R25's store events) that write their
own templates; the tests here give one of them a plain template of their own
(``notice_template``), since what is tested (headers, footer, opt-outs) is the same for all."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import pytest
from flask import Flask, current_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from jinja2 import ChoiceLoader, DictLoader

from idp.extensions import db
from idp.models import Account, AuditEvent
from idp.services import accounts, outbox, registration, subscriptions
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.languages import has_chinese

pytest_plugins = ["tests.smtp"]  # the smtp fixture: a real SMTP server on loopback

FORM = "application/x-www-form-urlencoded"
NOTICE = "event_rfq_matched"  # an optional kind (R25), given a template here
SECURITY_NOTICES = {
    "password_changed",
    "password_reset_by_owner",
    "password_reset_link",
    "new_sign_in",
    "second_factor_added",
    "second_factor_removed",
    "wallet_changed",
    "wallet_locked",
}
OPTIONAL = {
    "avatar_reviewed",
    "event_listing_returned",
    "event_fraud_complaint",
    "event_trade_dispute",
    "event_infringement_complaint",
    "event_rfq_matched",
    "event_quotation_reviewed",
}
TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
UNSUBSCRIBE = re.compile(r"https?://[^/\s]+(/unsubscribe/[A-Za-z0-9_.-]+)(\?ui_locales=[\w-]+)?")


@pytest.fixture
def notice_template(ctx):
    """A plain template for ``NOTICE`` in front of the app's own templates."""
    before = ctx.jinja_env.loader
    ctx.jinja_env.loader = ChoiceLoader(
        [
            DictLoader(
                {
                    f"email/{NOTICE}.txt": "Buyer request {{ request_id }}\n\nA buyer asks.",
                    f"email/{NOTICE}.html": "<p>A buyer asks: {{ request_id }}</p>",
                }
            ),
            before,
        ]
    )
    yield
    ctx.jinja_env.loader = before


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def alice(owner, make) -> Account:
    return make.staff(owner, "alice", email="alice@example.test")


def app() -> Flask:
    return current_app._get_current_object()


def audits(account: Account) -> list[AuditEvent]:
    db.session.expire_all()
    return (
        db.session.query(AuditEvent)
        .filter_by(action="account.subscriptions_changed", target_id=account.public_id)
        .order_by(AuditEvent.id)
        .all()
    )


def opt_outs(account: Account) -> set[str]:
    db.session.expire_all()
    return set(db.session.get(Account, account.id).email_opt_out)


def deliver(smtp, count: int):
    db.session.commit()
    outbox.deliver_due()
    return smtp.wait_for(count)[count - 1]


def link_path(text: str) -> str:
    found = UNSUBSCRIBE.search(text)
    assert found, text
    return found.group(1) + (found.group(2) or "")


# --- the registry --------------------------------------------------------------------------------


def test_r22_registry_marks_every_security_notice_always_sent_and_store_events_optional():
    assert SECURITY_NOTICES <= subscriptions.ALWAYS_SENT
    assert set(subscriptions.OPTIONAL) == OPTIONAL
    assert outbox.SECURITY_KINDS == subscriptions.ALWAYS_SENT  # one source of truth
    assert set(subscriptions.KINDS) == subscriptions.ALWAYS_SENT | subscriptions.OPTIONAL
    for kind in subscriptions.KINDS.values():
        assert kind.group in subscriptions.GROUPS and str(kind.label)


def test_r22_every_email_template_is_a_registered_kind():
    kinds = {path.stem for path in outbox.TEMPLATES.glob("*.txt")}
    assert kinds <= set(subscriptions.KINDS)


def test_r22_an_unregistered_kind_is_refused_loudly(owner):
    with pytest.raises(subscriptions.UnknownKind, match="register it"):
        outbox.send_email("newsletter", owner.email, account=owner)


def test_r22_an_optional_kind_needs_its_account(ctx, notice_template):
    with pytest.raises(ValueError, match="needs its account"):
        outbox.send_email(NOTICE, "someone@example.test", request_id="r1")


# --- RFC 8058 headers and the visible link, through SMTP --------------------------------------


def test_r22_an_optional_email_carries_rfc8058_headers_and_a_visible_link(
    smtp, notice_template, alice
):
    outbox.send_email(NOTICE, alice.email, account=alice, request_id="r1")
    message = deliver(smtp, 1)
    header = message["List-Unsubscribe"]
    assert re.fullmatch(r"<http://localhost/unsubscribe/[A-Za-z0-9_.-]+>", header), header
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    url = header[1:-1]
    assert url in text and f'href="{url}"' in html
    assert "http://localhost/account/subscriptions" in text
    assert "Stop emails like this one with one click" in text


def test_r22_the_list_unsubscribe_header_goes_out_as_a_plain_url(smtp, notice_template, alice):
    """RFC 8058 and RFC 2369 want the header as ``<url>``: mail programs read it raw and do not
    decode an RFC 2047 encoded word there. Python's mail policy encodes any header word longer
    than a line (our URLs are ~150 characters), which a parser (as in the test above) decodes
    back, so this looks at the bytes that crossed SMTP."""
    outbox.send_email(NOTICE, alice.email, account=alice, request_id="r1")
    url = deliver(smtp, 1)["List-Unsubscribe"][1:-1]
    assert len(url) > 78  # longer than a folded line: the case that was encoded
    headers = smtp.raw[0].split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").decode("ascii")
    lines = headers.split("\n")
    assert f"List-Unsubscribe: <{url}>" in lines, headers
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert "=?" not in headers.partition("List-Unsubscribe:")[2].split("\n")[0]


def test_r22_the_unsubscribe_footer_speaks_the_recipients_language(smtp, notice_template, alice):
    alice.language = "zh_Hans"
    outbox.send_email(NOTICE, alice.email, account=alice, request_id="r1")
    message = deliver(smtp, 1)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    footer = text.rpartition("\n-- \n")[2]
    assert "ui_locales=zh-Hans" in message["List-Unsubscribe"]
    assert has_chinese(footer) and "Stop emails" not in footer, footer


def test_r22_security_notice_reaches_an_account_unsubscribed_from_everything(
    smtp, notice_template, alice
):
    """Done when: the security notice still arrives, without an unsubscribe header."""
    web = signed_in("acme:alice")
    fields = flow.form_fields(web.get("/account/subscriptions").get_data(as_text=True))
    assert web.post("/account/subscriptions", data=fields).status_code == 302  # nothing ticked
    assert opt_outs(alice) == OPTIONAL
    alice.email_opt_out = sorted(subscriptions.KINDS)  # even a row that lists every kind
    db.session.commit()

    assert outbox.send_email(NOTICE, alice.email, account=alice, request_id="r1") is None
    accounts.change_own_password(alice, PASSWORD, "a brand new passphrase")
    message = deliver(smtp, 1)
    assert message["To"] == alice.email
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert "unsubscribe" not in message.get_body(("plain",)).get_content().lower()
    assert [m["Subject"] for m in smtp.settle(0.5)] == [message["Subject"]]


# --- the link, without signing in -------------------------------------------------------------


def test_r22_unsubscribe_link_works_without_signing_in_and_is_idempotent(
    smtp, notice_template, alice, owner
):
    outbox.send_email(NOTICE, alice.email, account=alice, request_id="r1")
    message = deliver(smtp, 1)
    path = urlsplit(message["List-Unsubscribe"][1:-1]).path
    stranger = flow.browser(app())  # no session, no cookies

    shown = stranger.get(path)
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Stop emails about" in page
    assert "al…@example.test" in page and alice.email not in page  # no more than needed
    assert opt_outs(alice) == set()  # a GET (a mail scanner) changes nothing

    # RFC 8058 3.2: the mail program's POST, no cookies, no CSRF token
    raw = app().test_client(use_cookies=False)
    for _ in range(2):  # a replay answers the same and changes nothing more
        done = raw.post(path, data="List-Unsubscribe=One-Click", content_type=FORM)
        assert done.status_code == 200
        assert "no longer receives" in done.get_data(as_text=True)
    assert opt_outs(alice) == {NOTICE}
    [entry] = audits(alice)
    assert entry.details["after"] == [NOTICE] and entry.details["via"] == "unsubscribe_link"

    assert outbox.send_email(NOTICE, alice.email, account=alice, request_id="r2") is None
    assert outbox.send_email(NOTICE, owner.email, account=owner, request_id="r3") is not None
    again = stranger.get(path).get_data(as_text=True)
    assert "already receives no emails" in again


def test_r22_a_group_link_stops_every_kind_of_its_group(owner):
    token = subscriptions.unsubscribe_token(owner, group="disputes")
    response = app().test_client().post(f"/unsubscribe/{token}")
    assert response.status_code == 200
    assert opt_outs(owner) == {
        "event_fraud_complaint",
        "event_trade_dispute",
        "event_infringement_complaint",
    }


def test_r22_the_unsubscribe_page_in_chinese(alice):
    alice.language = "zh_Hans"
    db.session.commit()
    url = subscriptions.unsubscribe_url(alice, NOTICE)
    assert url.endswith("?ui_locales=zh-Hans")
    page = flow.browser(app()).get(urlsplit(url).path + "?" + urlsplit(url).query)
    assert page.status_code == 200 and has_chinese(page.get_data(as_text=True))


def test_r22_r4_a_link_stops_working_when_the_account_is_handed_over(owner, alice):
    """The departed holder's old email must not turn off the new holder's notices, nor show
    them the new address (found in review)."""
    token = subscriptions.unsubscribe_token(alice, kind_id=NOTICE)
    old_key = alice.email_key
    accounts.update_sub_account(
        owner, alice, email="zoe.newhire@newmail.example", password="a new long password 1"
    )
    client = app().test_client(use_cookies=False)
    for method in ("get", "post"):
        response = getattr(client, method)(f"/unsubscribe/{token}")
        page = response.get_data(as_text=True)
        assert response.status_code == 410, (method, response.status_code)
        assert "an email address the account no longer uses" in page
        assert "newmail" not in page
        assert subscriptions.masked_email("zoe.newhire@newmail.example") not in page
    assert opt_outs(alice) == set() and audits(alice) == []
    # the address in the link is keyed: a guessed address cannot be tested against it
    payload = URLSafeSerializer(app().config["SECRET_KEY"], salt=subscriptions.SALT).loads(token)
    assert old_key and payload["e"] != hashlib.sha256(old_key.encode()).hexdigest()[:16]
    # the new holder's own links work
    fresh = subscriptions.unsubscribe_token(alice, kind_id=NOTICE)
    assert client.post(f"/unsubscribe/{fresh}").status_code == 200
    assert opt_outs(alice) == {NOTICE}


# --- refused links ----------------------------------------------------------------------------


def refused(path: str, method: str = "get") -> str:
    response = getattr(app().test_client(use_cookies=False), method)(path)
    assert response.status_code == 400, (path, response.status_code)
    page = response.get_data(as_text=True)
    assert "This unsubscribe link is not valid" in page
    return page


def test_r22_a_tampered_token_is_refused_with_a_page(alice):
    token = subscriptions.unsubscribe_token(alice, kind_id=NOTICE)
    payload, _, signature = token.partition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    other = subscriptions.unsubscribe_token(alice, kind_id="event_trade_dispute").partition(".")[0]
    for bad in (f"{payload}.{flipped}", f"{other}.{signature}", token[:-3], token + "x"):
        refused(f"/unsubscribe/{bad}")
        refused(f"/unsubscribe/{bad}", "post")
    refused("/unsubscribe/" + "a" * 600)
    assert opt_outs(alice) == set() and audits(alice) == []


def test_r22_a_token_of_another_purpose_is_refused(ctx, alice):
    """An activation or password-reset link's token, signed with the same secret under its own
    salt, is no unsubscribe token; nor is a correctly signed one naming a security notice, a
    group that is always sent, an unknown kind or account, or two scopes at once."""
    owner = registration.register_company(
        "shop", email="boss@shop.example", password="a fine long password"
    )
    activation = re.search(r"/activate/([^\s?]+)", _last_body()).group(1)
    refused(f"/unsubscribe/{activation}", "post")
    signer = URLSafeSerializer(ctx.config["SECRET_KEY"], salt=subscriptions.SALT)
    address = subscriptions._address(alice)
    for data in (
        {"a": alice.public_id, "k": "password_changed", "e": address},
        {"a": alice.public_id, "g": "security", "e": address},
        {"a": alice.public_id, "k": "newsletter", "e": address},
        {"a": "acct_nobody", "k": NOTICE, "e": address},
        {"a": alice.public_id, "k": NOTICE, "g": "disputes"},
        {"a": alice.public_id, "k": NOTICE},  # no address: a link of before addresses counted
        [alice.public_id, NOTICE, address],
    ):
        refused(f"/unsubscribe/{signer.dumps(data)}", "post")
    with pytest.raises(ValueError):
        subscriptions.unsubscribe_token(alice, kind_id="wallet_locked")
    assert opt_outs(alice) == set() and opt_outs(owner) == set()


def _last_body() -> str:
    from idp.models import OutboxMessage

    db.session.expire_all()
    return db.session.query(OutboxMessage).order_by(OutboxMessage.id.desc()).first().text_body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(TEXT, min_size=1, max_size=300).filter(lambda t: "/" not in t))
def test_r22_any_token_is_answered_without_a_server_error(ctx, token):
    client = ctx.test_client(use_cookies=False)
    for method in ("get", "post"):
        response = getattr(client, method)("/unsubscribe/" + _quote(token))
        assert response.status_code in (400, 404), response.status_code


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# --- the account's page -------------------------------------------------------------------------


def signed_in(login: str):
    web = flow.browser(app())
    assert flow.sign_in(web, login, PASSWORD).status_code == 302
    return web


@pytest.fixture
def alice_web(alice):
    return signed_in("acme:alice")


def test_r22_page_groups_the_kinds_and_shows_security_notices_always_on(owner, alice):
    page = signed_in("acme").get("/account/subscriptions").get_data(as_text=True)
    assert "Security notices" in page and "Complaints and disputes" in page
    boxes = re.findall(r'<input type="checkbox" name="kind" value="([a-z_]+)" checked>', page)
    assert set(boxes) == OPTIONAL  # everything on by default
    assert page.count("checked disabled") >= 6  # the security notices, shown on and locked
    assert "The wallet password was set or changed" in page

    staff_page = signed_in("acme:alice").get("/account/subscriptions").get_data(as_text=True)
    assert "wallet" not in staff_page.lower()  # R6: the wallet is the owner's alone
    assert "The owner reset your password" in staff_page


def test_r22_page_saves_the_choice_and_audits_it(alice):
    web = signed_in("acme:alice")
    fields = flow.form_fields(web.get("/account/subscriptions").get_data(as_text=True))
    keep = sorted(OPTIONAL - {"event_trade_dispute", "avatar_reviewed"})
    saved = web.post("/account/subscriptions", data={**fields, "kind": keep})
    assert saved.status_code == 302
    assert opt_outs(alice) == {"event_trade_dispute", "avatar_reviewed"}
    page = web.get("/account/subscriptions").get_data(as_text=True)
    assert "were saved" in page and 'value="event_trade_dispute">' in page  # unticked now
    [entry] = audits(alice)
    assert entry.details["before"] == [] and entry.actor == "acme:alice"
    web.post("/account/subscriptions", data={**fields, "kind": keep})
    assert len(audits(alice)) == 1  # the same choice again: nothing to record
    # security notices cannot be turned off, whatever is posted
    web.post("/account/subscriptions", data={**fields, "kind": ["password_changed"]})
    assert opt_outs(alice) == OPTIONAL


def test_r22_page_refuses_a_post_without_its_csrf_token(alice):
    web = signed_in("acme:alice")
    response = web.post("/account/subscriptions", data={"kind": []})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert opt_outs(alice) == set() and audits(alice) == []


def test_r22_page_refuses_an_unknown_kind_with_a_message(alice):
    web = signed_in("acme:alice")
    fields = flow.form_fields(web.get("/account/subscriptions").get_data(as_text=True))
    response = web.post("/account/subscriptions", data={**fields, "kind": ["newsletter"]})
    assert response.status_code == 400
    assert "Choose among the emails listed" in response.get_data(as_text=True)
    assert opt_outs(alice) == set()


def test_r22_page_needs_a_sign_in(ctx):
    response = ctx.test_client().get("/account/subscriptions")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=st.lists(st.one_of(st.sampled_from(sorted(subscriptions.KINDS)), st.text(TEXT))))
def test_r22_page_answers_any_choice_without_a_server_error(alice, alice_web, kinds):
    web = alice_web
    fields = flow.form_fields(web.get("/account/subscriptions").get_data(as_text=True))
    response = web.post("/account/subscriptions", data={**fields, "kind": kinds})
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert opt_outs(alice) == OPTIONAL - set(kinds)
