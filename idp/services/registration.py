"""Self-registration and activation (R13), and the forgotten-password link (R17).

Both are emailed links signed with itsdangerous, one salt per purpose, carrying the account's
public id, a nonce and the time they were issued. The account row keeps the nonce of the one link
that still works: issuing a new link replaces it (every older link is void at once), and using a
link clears it with a conditional UPDATE (``WHERE nonce = :nonce``), the first write of its
transaction, so two concurrent uses succeed once. Before it, a single-use marker in the shared
store (issue 6) refuses a second use on any instance; it is taken back when the use fails (a
refused password), so the link still works then. Ages are measured with ``idp.clock.now()``, so
tests can move past the 72 hours and the hour.

Each link and its email are written in one transaction with what they belong to (the new
company, the new nonce): an email is queued exactly when its link works. Sending is limited to one
link a minute per account and purpose, counted in the kv store; a request over the limit is
answered like any other, so the answer never tells whether an account exists.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import LazyString, lazy_ngettext
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import update

from idp import clock, i18n
from idp.defaults import (
    ACTIVATION_LINK_TTL,
    LINK_RESEND_INTERVAL,
    MAX_LINK_TOKEN_LENGTH,
    PASSWORD_RESET_LINK_TTL,
)
from idp.errors import InvalidInput, LinkRefused, TooSoon
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account
from idp.models.accounts import ACTIVE, DEPARTED, MAIN, PENDING
from idp.oauth import sessions
from idp.oauth.crypto import token_hash
from idp.services import audit, companies, outbox, passwords, single_use, throttle
from idp.services.accounts import find_by_login_name
from idp.services.names import normalize, parse_login_name, validate_company_name
from idp.services.tx import transaction

RESEND_INTERVAL, MAX_TOKEN_LENGTH = LINK_RESEND_INTERVAL, MAX_LINK_TOKEN_LENGTH

FORGOT_SENT = _l("If an account with that name exists, we sent a link to its email.")
ASK_THE_OWNER = _l(
    "Staff accounts cannot reset their password by email. "
    "Ask your company's owner to set a new one for you."
)
ACTIVATION_RESENT = _l(
    "If that account is waiting for activation, we sent a new link to its email "
    "(at most one a minute). Older links no longer work."
)


@dataclass(frozen=True)
class Purpose:
    """One kind of emailed link: its salt, lifetime, nonce column, email and path."""

    name: str
    salt: str
    ttl: timedelta
    nonce_column: str
    email_kind: str
    path: str


ACTIVATION = Purpose(
    name="activation",
    salt="idp.activation",
    ttl=ACTIVATION_LINK_TTL,
    nonce_column="activation_nonce",
    email_kind="activation",
    path="activate",
)
PASSWORD_RESET = Purpose(
    name="password_reset",
    salt="idp.password-reset",
    ttl=PASSWORD_RESET_LINK_TTL,
    nonce_column="password_reset_nonce",
    email_kind="password_reset_link",
    path="reset",
)


# --- links ------------------------------------------------------------------------------------


def _serializer(purpose: Purpose) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=purpose.salt)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _issue(purpose: Purpose, account: Account) -> str:
    """A new link for the account; it voids every earlier link of the same purpose. Returns the
    absolute URL. The caller commits."""
    nonce = secrets.token_urlsafe(24)
    setattr(account, purpose.nonce_column, nonce)
    token = _serializer(purpose).dumps(
        {"a": account.public_id, "n": nonce, "t": _epoch(clock.now())}
    )
    issuer = current_app.extensions["idp.settings"].issuer.rstrip("/")
    link = f"{issuer}/{purpose.path}/{token}"
    if account.language and account.language != i18n.DEFAULT_LOCALE:
        # The page behind the link speaks the email's language (as an app's ui_locales would).
        link += f"?ui_locales={i18n.tag(account.language)}"
    return link


@dataclass(frozen=True)
class _Claims:
    public_id: str
    nonce: str
    issued_at: datetime


def _read(purpose: Purpose, token: str) -> _Claims:
    """The link's signed contents; refuses a damaged or foreign link and an expired one."""
    invalid = LinkRefused(
        _l(
            "This link is not valid. It may have been cut short when it was copied: "
            "open it from the email again, or ask for a new one."
        ),
        purpose=purpose.name,
        reason="invalid",
    )
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        data: Any = _serializer(purpose).loads(token)
    except BadData:
        raise invalid from None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("a"), str)
        and isinstance(data.get("n"), str)
        and isinstance(data.get("t"), int)
    ):
        raise invalid
    try:
        issued_at = datetime.fromtimestamp(data["t"], UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid from None
    return _Claims(data["a"], data["n"], issued_at)


def _account(public_id: str) -> Account | None:
    return db.session.query(Account).filter_by(public_id=public_id, kind=MAIN).one_or_none()


def _expired(purpose: Purpose, claims: _Claims) -> bool:
    return clock.now() - claims.issued_at > purpose.ttl


def _consume(purpose: Purpose, claims: _Claims, **values: Any) -> bool:
    """Use the link up: one conditional UPDATE, the first write of the transaction, so of two
    concurrent uses exactly one changes the row. ``values`` are written with it."""
    column = getattr(Account, purpose.nonce_column)
    result = db.session.execute(
        update(Account)
        .where(
            Account.public_id == claims.public_id,
            Account.kind == MAIN,
            column == claims.nonce,
        )
        .values({purpose.nonce_column: None, **values})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _use_up(purpose: Purpose, claims: _Claims, **values: Any) -> None:
    """Use the link up, or roll back and raise ``LinkRefused``: not expired, its marker claimed
    (the first use on any instance), then ``_consume``. A link whose marker is taken was used, or
    is being used right now by a request that has not committed yet."""
    marker = f"{purpose.name}:{token_hash(claims.nonce)}"
    if _expired(purpose, claims):
        refusal = _refusal(purpose, claims)
    elif not single_use.claim(marker, int(purpose.ttl.total_seconds())):
        refusal = _refusal(purpose, claims, used=True)
    elif not _consume(purpose, claims, **values):
        refusal = _refusal(purpose, claims)
    else:
        return
    db.session.rollback()
    raise refusal


def _refusal(purpose: Purpose, claims: _Claims, *, used: bool = False) -> LinkRefused:
    """Why a signed link does not work: its account activated since (activation), it expired,
    it was used (``used``: its marker says so), or a newer link replaced it."""
    account = _account(claims.public_id)
    if account is None:
        return LinkRefused(_l("This link no longer works."), purpose=purpose.name, reason="invalid")
    if purpose is ACTIVATION and (used or account.status != PENDING):
        return LinkRefused(
            _l("This activation link was already used: the account is active. Sign in."),
            purpose=purpose.name,
            reason="used",
            account=account,
        )
    if _expired(purpose, claims):
        hours = int(purpose.ttl.total_seconds() // 3600)
        return LinkRefused(
            lazy_ngettext(
                "This link has expired: it worked for %(num)d hour. Ask for a new one.",
                "This link has expired: it worked for %(num)d hours. Ask for a new one.",
                hours,
            ),
            purpose=purpose.name,
            reason="expired",
            account=account,
        )
    if used or getattr(account, purpose.nonce_column) is None:
        return LinkRefused(
            _l("This link was already used. Ask for a new one if you still need it."),
            purpose=purpose.name,
            reason="used",
            account=account,
        )
    return LinkRefused(
        _l(
            "A newer link was sent since this one, so this one no longer works. "
            "Use the newest email, or ask for a new link."
        ),
        purpose=purpose.name,
        reason="replaced",
        account=account,
    )


def inspect_link(purpose: Purpose, token: str) -> Account:
    """The account a link works for, without using it up (to show the page behind it).
    Raises ``LinkRefused`` with the reason."""
    claims = _read(purpose, token)
    account = _account(claims.public_id)
    if (
        account is None
        or _expired(purpose, claims)
        or getattr(account, purpose.nonce_column) != claims.nonce
        or (purpose is ACTIVATION and account.status != PENDING)
    ):
        raise _refusal(purpose, claims)
    return account


# --- rate limit ---------------------------------------------------------------------------------


def _claim_send(purpose: Purpose, account: Account) -> bool:
    """One link a minute per account and purpose. The time is kept in the value and compared
    with ``idp.clock.now()`` (so a moved clock moves the limit too); the store's expiry only
    cleans up, and ``only_if_absent`` makes the first claim atomic across processes."""
    store, key = kv(), f"link:{purpose.name}:{account.public_id}"
    now = _epoch(clock.now())
    ttl = int(RESEND_INTERVAL.total_seconds())
    if store.set(key, str(now), ttl, only_if_absent=True):
        return True
    last = store.get(key)
    if last is not None and 0 <= now - int(last) < ttl:
        return False
    store.set(key, str(now), ttl)
    return True


# --- R13: registration and activation ---------------------------------------------------------


def check_company_name(name: str) -> tuple[bool, LazyString]:
    """Whether a company name can be registered, and a sentence saying so (or what is wrong)."""
    try:
        validate_company_name(name)
    except InvalidInput as exc:
        return False, exc.message
    if not companies.is_company_name_available(name):
        return False, _l("The company name '%(name)s' is taken", name=name)
    return True, _l("'%(name)s' is available", name=name)


def _check_language(language: str) -> str:
    """The locale id of a language the emails can be written in (``zh`` is Simplified)."""
    locale = i18n.match(language)
    if locale is None:
        raise InvalidInput(_l("Choose English or Chinese for your emails"), field="language")
    return locale


@transaction
def register_company(name: str, *, email: str, password: str, language: str = "en") -> Account:
    """R13: a company registers itself; its main account waits for activation. The company,
    its account, the activation nonce and the activation email commit together or not at all.
    (``create_company`` commits on its own; its undecorated body runs inside this transaction.)
    """
    language = _check_language(language)
    account = companies.build_company(name, email=email, password=password, status=PENDING)
    account.language = account.company.language = language
    _send_activation(account)
    _claim_send(ACTIVATION, account)
    audit.record(
        account,
        "company.registered",
        company_id=account.company_id,
        target=account,
        email=account.email,
        language=language,
    )
    return account


def _send_activation(account: Account) -> None:
    link = _issue(ACTIVATION, account)
    outbox.send_email(
        ACTIVATION.email_kind,
        account.email,
        account=account,
        company=account.company.name,
        link=link,
    )


@transaction
def invite_again(account: Account, *, actor: Account | None = None) -> Account:
    """R13 "invite again": a new activation link; every older one stops working. Refused within
    a minute of the last one (``TooSoon``) and for an account that is already active. For the
    owner's tools and the CLI (``actor`` None is the operator)."""
    if not account.is_main or account.status != PENDING:
        raise InvalidInput(_l("'%(login)s' does not wait for activation", login=account.login_name))
    if not _claim_send(ACTIVATION, account):
        raise TooSoon(_l("A new activation link was sent less than a minute ago; wait a moment"))
    _send_activation(account)
    audit.record(
        actor or account,
        "account.activation_resent",
        company_id=account.company_id,
        target=account,
    )
    return account


def resend_activation(login: str) -> None:
    """R13 from the sign-in page: a new link for the named account if it waits for activation.
    Whatever the name, the caller answers ``ACTIVATION_RESENT``: nothing here tells whether an
    account exists, is active, or was sent a link a moment ago."""
    account = find_by_login_name(login)  # a malformed name is the only thing said back
    if account is None or not account.is_main or account.status != PENDING:
        return
    try:
        invite_again(account)
    except TooSoon:
        return


def activate(token: str) -> Account:
    """R13: the link works once within 72 hours. Activation also proves the email address."""
    claims = _read(ACTIVATION, token)
    now = clock.now()
    _use_up(ACTIVATION, claims, status=ACTIVE, activated_at=now, email_verified_at=now)
    try:
        account = _account(claims.public_id)
        db.session.refresh(account)
        audit.record(account, "account.activated", company_id=account.company_id, target=account)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return account


# --- R17: forgotten password ----------------------------------------------------------------


def forgot_answer(login: str) -> LazyString:
    """R17: what the forgot-password page says for ``login``, from the name alone: a sub-account
    is told to ask its owner, naming no one; a main-account name is told a link was sent if the
    account exists. Raises ``InvalidInput`` for a malformed name. Reads nothing, so the answer
    costs the same whether or not the account exists (issue 12: 4-6 ms more for an existing
    one); ``send_reset_link`` does the work, after the answer has gone."""
    parsed = parse_login_name(login)
    return ASK_THE_OWNER if parsed.sub_key is not None else FORGOT_SENT


def send_reset_link(login: str) -> None:
    """R17: a single-use link (1 hour) to the main account's email, if there is such an active
    account with an email; otherwise nothing."""
    if parse_login_name(login).sub_key is not None:
        return
    account = find_by_login_name(login)
    if account is None or account.status == DEPARTED or not account.email:
        return
    _send_reset_link(account)


def request_password_reset(login: str) -> LazyString:
    """``forgot_answer`` and ``send_reset_link`` at once (for callers with no answer to send
    first)."""
    answer = forgot_answer(login)
    send_reset_link(login)
    return answer


@transaction
def _send_reset_link(account: Account) -> None:
    if not _claim_send(PASSWORD_RESET, account):
        return  # a link went out less than a minute ago; the answer stays the same
    link = _issue(PASSWORD_RESET, account)
    outbox.send_email(PASSWORD_RESET.email_kind, account.email, account=account, link=link)
    audit.record(
        None,
        "account.password_reset_requested",
        company_id=account.company_id,
        target=account,
    )


def reset_password(token: str, new_password: str, confirmation: str) -> Account:
    """R17: choose a new password through the emailed link. In one transaction the link is used
    up, the forced change (R16) is cleared, every session and token of the account ends and a
    security notice is queued (R22); then the sign-in lock on the name, if any, is lifted (the
    link proved the holder)."""
    passwords.check_policy(new_password, field="new_password")
    if new_password != confirmation:
        raise InvalidInput(_l("The two passwords differ"), field="confirm_password")
    claims = _read(PASSWORD_RESET, token)
    now = clock.now()
    password_hash = passwords.hash_password(new_password)  # before the write lock is taken
    _use_up(
        PASSWORD_RESET,
        claims,
        password_hash=password_hash,
        password_changed_at=now,
        must_change_password=False,
    )
    try:
        account = _account(claims.public_id)
        db.session.refresh(account)
        wallet = account.company.wallet_password_hash
        if wallet and passwords.verify_password(wallet, new_password):
            # R15: the wallet password must differ from the main account's login password.
            raise InvalidInput(
                _l("Choose a password different from your wallet password"), field="new_password"
            )
        sessions.end_all_for_account(account)
        outbox.send_email(
            "password_changed",
            account.email,
            account=account,
            when=now,
        )
        audit.record(
            account, "account.password_reset", company_id=account.company_id, target=account
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    throttle.lift(kv(), normalize(account.company.name))
    return account
