"""Email and SMS, through an outbox. ``send_email`` / ``send_sms`` write a row in the caller's
transaction (so a message exists exactly when what caused it committed); a background worker
delivers due rows after the commit, retrying with backoff (nothing is lost while the SMTP server
is down) and leasing each row (nothing is sent twice by two instances).

Bodies come from ``templates/email/<kind>.txt`` (its first line is the subject) and ``.html``,
rendered through the gettext catalogs in the recipient's language (its account's, or ``lang``)
and with dates in its time zone (issue 13).

Transports: SMTP (STARTTLS or TLS) when ``IDP_SMTP_HOST`` is set, else the console plus ``.eml``
files in the instance folder; SMS through an HTTP webhook when ``IDP_SMS_WEBHOOK_URL`` is set, else
the console."""

from __future__ import annotations

import json
import logging
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from email import policy
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app, render_template
from jinja2 import TemplateNotFound
from markupsafe import escape

from idp import i18n
from idp.background import Worker, lease_due, record_attempt, worker
from idp.defaults import OUTBOX_LEASE_SECONDS, OUTBOX_MAX_ATTEMPTS, OUTBOX_MAX_DELAY
from idp.extensions import db
from idp.models import Account, OutboxMessage
from idp.services import subscriptions

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"  # <kind>.txt, .html
MAX_ATTEMPTS, LEASE_SECONDS = OUTBOX_MAX_ATTEMPTS, OUTBOX_LEASE_SECONDS
# R22: sent whatever the account's subscriptions say. The registry of kinds
# (``idp.services.subscriptions.KINDS``) decides; this name stays for the callers that read it.
SECURITY_KINDS = subscriptions.ALWAYS_SENT
ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058 section 3.1, the List-Unsubscribe-Post value


def _render(kind: str, context: dict) -> tuple[str, str, str]:
    """Subject (first line of the text template), text body, HTML body: the kind's own HTML
    template, else the text as HTML (escaped, paragraphs kept, links clickable). Rendered in the
    language the caller set (``i18n.language_of``)."""
    text = render_template(f"email/{kind}.txt", **context)
    subject, _, body = text.partition("\n")
    body = body.lstrip("\n")
    try:
        html = render_template(f"email/{kind}.html", **context)
    except TemplateNotFound:
        html = _text_as_html(body)
    return subject.strip(), body, html


def _text_as_html(text: str) -> str:
    paragraphs = []
    for block in text.strip().split("\n\n"):
        escaped = str(escape(block))
        linked = re.sub(r"(https?://[^\s<]+)", r'<a href="\1">\1</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>") + "</p>")
    return "\n".join(paragraphs)


def send_email(
    kind: str, to: str, *, account: Account | None = None, lang: str | None = None, **context
) -> OutboxMessage | None:
    """Queue an email, or None when the account turned this kind off (R22). A kind missing from
    the registry raises ``subscriptions.UnknownKind``. A kind that can be turned off goes to an
    account only, and carries its one-click unsubscribe link (RFC 8058): in the headers and,
    visibly, at the end of the body."""
    if not subscriptions.wants(account, kind):
        return None
    unsubscribe_url = None
    if not subscriptions.kind(kind).always_sent:
        if account is None:
            raise ValueError(f"a {kind!r} email can be turned off, so it needs its account")
        unsubscribe_url = subscriptions.unsubscribe_url(account, kind)
    with i18n.language_of(account, lang):
        values = {"account": account, "zone": i18n.zone_of(account), **context}
        subject, text, html = _render(kind, values)
        if unsubscribe_url is not None:
            text, html = _with_unsubscribe_footer(text, html, unsubscribe_url, kind)
    return _queue(
        "email",
        kind,
        to,
        account,
        subject=subject,
        text_body=text,
        html_body=html,
        unsubscribe_url=unsubscribe_url,
    )


def _with_unsubscribe_footer(text: str, html: str, url: str, kind: str) -> tuple[str, str]:
    """The visible one-click link (RFC 8058 leaves the body to the sender; people need it where
    their mail program shows no button), in the email's language."""
    issuer = current_app.extensions["idp.settings"].issuer.rstrip("/")
    values = {
        "unsubscribe_url": url,
        "settings_url": f"{issuer}/account/subscriptions",
        "kind_label": subscriptions.kind(kind).label,
    }
    footer_text = render_template("email/parts/unsubscribe.txt", **values).strip()
    footer_html = render_template("email/parts/unsubscribe.html", **values).strip()
    return f"{text.rstrip()}\n\n-- \n{footer_text}\n", f"{html}\n{footer_html}"


def send_sms(kind: str, to: str, text: str, *, account: Account | None = None) -> OutboxMessage:
    return _queue("sms", kind, to, account, subject="", text_body=text)


def _queue(channel: str, kind: str, to: str, account: Account | None, **body) -> OutboxMessage:
    """Add the message to the current transaction; the sender wakes once it commits."""
    message = OutboxMessage(
        channel=channel,
        recipient=to,
        kind=kind,
        account_id=account.id if account is not None else None,
        **body,
    )
    db.session.add(message)
    sender().wake_after_commit()
    return message


# --- delivery -------------------------------------------------------------------------------


def _smtp(message: OutboxMessage) -> None:
    settings = current_app.extensions["idp.settings"]
    email = _as_email(message, settings.mail_from)
    if not settings.smtp_host:
        _to_console(message, email, settings.instance_path)
        return
    context = ssl.create_default_context()
    if settings.smtp_security == "tls":
        client = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=15, context=context
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password)
        client.send_message(email)


class _UrlListHeader(UnstructuredHeader):
    """RFC 2369/8058 list headers hold ``<url>``s that mail programs read as they are: they do
    not decode an RFC 2047 encoded word there. The default policy encodes any word longer than
    a line, which our unsubscribe URLs are, so these go out whole on one line (RFC 5322 allows
    998 characters)."""

    def fold(self, *, policy):
        value = str(self)
        if not value.isascii() or len(value) + len(self.name) + 2 > 998:
            return super().fold(policy=policy)
        return f"{self.name}: {value}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", _UrlListHeader)
_POLICY = policy.default.clone(header_factory=_HEADERS)


def _as_email(message: OutboxMessage, sender_address: str) -> EmailMessage:
    email = EmailMessage(policy=_POLICY)
    email["From"] = sender_address
    email["To"] = message.recipient
    email["Subject"] = message.subject
    # One Message-ID per outbox row: a retry after an unclear failure is recognizably the same.
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="idp.local")
    if message.unsubscribe_url:
        # RFC 8058: a mail program may offer "unsubscribe" and POST to the URL on its own.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = ONE_CLICK
    email.set_content(message.text_body)
    if message.html_body:
        email.add_alternative(message.html_body, subtype="html")
    return email


def _to_console(message: OutboxMessage, email: EmailMessage, instance: Path) -> None:
    folder = instance / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message.id:06d}-{message.kind}.eml"
    path.write_bytes(bytes(email))
    print(
        f"[email to {message.recipient}] {message.subject}\n{message.text_body}\n({path})",
        flush=True,
    )


def _sms(message: OutboxMessage) -> None:
    settings = current_app.extensions["idp.settings"]
    if not settings.sms_webhook_url:
        if settings.is_production:  # printing a code would put it in the process log
            raise OSError("no SMS gateway is set (IDP_SMS_WEBHOOK_URL)")
        print(f"[sms to {message.recipient}] {message.text_body}", flush=True)
        return
    body = json.dumps(
        {"to": message.recipient, "text": message.text_body, "id": message.id}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if settings.sms_webhook_token:
        headers["Authorization"] = f"Bearer {settings.sms_webhook_token}"
    request = urllib.request.Request(
        settings.sms_webhook_url, data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"SMS webhook answered HTTP {response.status}")


TRANSPORTS = {"email": _smtp, "sms": _sms}


def deliver_due(limit: int = 50) -> int:
    """Send what is due; returns how many were sent. Safe on several instances at once."""
    sent = 0
    for message in lease_due(
        OutboxMessage, OutboxMessage.sent_at, limit=limit, lease_seconds=LEASE_SECONDS
    ):
        try:
            TRANSPORTS[message.channel](message)
        except (OSError, smtplib.SMTPException, urllib.error.URLError) as exc:
            record_attempt(
                message,
                f"{type(exc).__name__}: {exc}",
                done="sent_at",
                max_attempts=MAX_ATTEMPTS,
                max_delay=OUTBOX_MAX_DELAY,
            )
            if message.given_up_at is not None:
                log.error("outbox message %s (%s) given up", message.id, message.kind)
            if message.channel == "email" and isinstance(exc, OSError | smtplib.SMTPConnectError):
                break  # the server is down: leave the rest for the next round
            continue
        record_attempt(
            message, None, done="sent_at", max_attempts=MAX_ATTEMPTS, max_delay=OUTBOX_MAX_DELAY
        )
        sent += 1
    return sent


def sender() -> Worker:
    return worker("outbox", deliver_due)
