"""R14: a sub-account proves it holds its email or phone with a one-time code, which lifts its
mute (tokens then say ``muted: false`` and may carry messaging scopes).

A code is 6 random digits, valid 10 minutes, good for 5 attempts, used once. Only a keyed hash is
stored (HMAC-SHA256 under the server secret, bound to the account): a leaked table yields no code.
Asking for a code voids the account's earlier ones and is limited to one a minute and five an
hour, counted on the codes themselves (so the limit holds across processes and follows the
injectable clock); concurrent requests for one account serialize on its row. Attempts are counted
with a conditional UPDATE before the code is compared, and the code is used up with another, so
neither racing nor replaying gives more than 5 guesses or two verifications. Before that second
UPDATE, a single-use marker in the shared store (issue 6) refuses a replay on any instance.

The same codes prove a new email or phone an account wants instead of its own (R20, issue 17:
``send_change_code``, ``confirm_change``): the code goes to the new address, and the address is
saved (and counts as verified) only once its code is typed in. Such a code is a ``change`` code;
the page that lifts a mute sees ``verify`` codes only. Both kinds share the limits above, and a
new code of either kind voids the older ones.

Times come from ``idp.clock.now()`` so tests can move past the 10 minutes."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_ngettext
from sqlalchemy import func, select, update

from idp import clock, i18n
from idp.defaults import (
    VERIFICATION_CODE_DIGITS,
    VERIFICATION_CODE_TTL,
    VERIFICATION_MAX_ATTEMPTS,
    VERIFICATION_RESEND_INTERVAL,
    VERIFICATION_RESEND_PER_WINDOW,
    VERIFICATION_RESEND_WINDOW,
)
from idp.errors import CodeRefused, Conflict, Forbidden, InvalidInput, ResendLimited
from idp.extensions import db
from idp.i18n import Moment, _l
from idp.models import Account, VerificationCode
from idp.services import accounts, audit, outbox, second_factors, single_use
from idp.services.names import normalize_email, normalize_phone, typed_code
from idp.services.throttle import wait_for
from idp.services.tx import transaction

EMAIL, PHONE = "email", "phone"
CHANNELS = (EMAIL, PHONE)
VERIFY, CHANGE = "verify", "change"  # what a code proves (VerificationCode.purpose)
CODE_DIGITS, CODE_TTL, MAX_ATTEMPTS = (
    VERIFICATION_CODE_DIGITS,
    VERIFICATION_CODE_TTL,
    VERIFICATION_MAX_ATTEMPTS,
)
RESEND_INTERVAL, RESEND_WINDOW, RESEND_PER_WINDOW = (
    VERIFICATION_RESEND_INTERVAL,
    VERIFICATION_RESEND_WINDOW,
    VERIFICATION_RESEND_PER_WINDOW,
)
MESSAGE_KIND = "verification_code"  # the outbox kind, of the email and of the SMS
CONTACT_CHANGED = "contact_changed"  # the outbox kind of the notice to the old address (R20)
SMS_TEXT = _l(
    "%(login)s: your verification code is %(code)s. It is valid for 10 minutes. "
    "Do not share it with anyone."
)
_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")
ALREADY_USED = _l("This code was already used; ask for a new one")


@dataclass(frozen=True)
class PendingCode:
    """What the page may say about the code waiting to be typed in (never the code)."""

    channel: str
    destination: str  # masked
    expires_at: datetime
    attempts_left: int
    # As written: for the page of the one who typed it (a new address, R20), never for others.
    typed: str = ""


# --- helpers --------------------------------------------------------------------------------


def _code_hash(account: Account, code: str) -> str:
    """HMAC-SHA256 under the server secret, bound to the account and to this purpose."""
    key = current_app.config["SECRET_KEY"].encode()
    message = f"verification-code\x00{account.public_id}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mask_email(email: str) -> str:
    """``alice@acme.example`` -> ``a••••@acme.example``: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * max(3, len(local) - 1)}@{domain}"


def mask_phone(phone: str) -> str:
    """``+65 8123 4567`` -> ``+•••••••4567``: the last four digits only."""
    digits = re.sub(r"\D", "", phone)
    return ("+" if phone.strip().startswith("+") else "") + "•" * (len(digits) - 4) + digits[-4:]


def destinations(account: Account) -> dict[str, str | None]:
    """Masked email and phone of the account (None where it has none), for the choice page."""
    return {
        EMAIL: mask_email(account.email) if account.email else None,
        PHONE: mask_phone(account.phone) if account.phone else None,
    }


def _destination(account: Account, channel: str) -> str:
    """Where a code for ``channel`` goes: the email as written, or the phone's normalized key
    (``+6581234567``, what SMS gateways expect)."""
    if channel not in CHANNELS:
        raise InvalidInput(_l("Choose to verify your email or your phone"), field="channel")
    value = account.email if channel == EMAIL else account.phone_key
    if not value:
        raise InvalidInput(
            _l(
                "Your account has no email address; ask your company's owner to add one, "
                "or verify the other way"
            )
            if channel == EMAIL
            else _l(
                "Your account has no phone number; ask your company's owner to add one, "
                "or verify the other way"
            ),
            field="channel",
        )
    return value


def _still_yours(account: Account, row: VerificationCode) -> bool:
    """The email or phone the code went to is still the account's (the owner may have changed it
    since, R18): a code proves only the destination it was sent to."""
    if row.channel == EMAIL:
        return normalize_email(row.destination)[1] == account.email_key
    return row.destination == account.phone_key


def _latest(account: Account, purpose: str | None = VERIFY) -> VerificationCode | None:
    """The account's newest code for ``purpose`` (None: of either purpose)."""
    query = select(VerificationCode).where(VerificationCode.account_id == account.id)
    if purpose is not None:
        query = query.where(VerificationCode.purpose == purpose)
    return db.session.scalars(query.order_by(VerificationCode.id.desc()).limit(1)).first()


def _serialize_on(account: Account) -> None:
    """The first write of the transaction: concurrent requests for one account wait here for each
    other (the row lock on PostgreSQL, the write lock on SQLite), so the resend limit below
    counts what the other one committed."""
    db.session.execute(
        update(Account)
        .where(Account.id == account.id)
        .values(updated_at=Account.updated_at)
        .execution_options(synchronize_session=False)
    )


def _check_resend_limit(account: Account, now: datetime) -> None:
    since = now - RESEND_WINDOW
    recent = db.session.execute(
        select(func.count(VerificationCode.id), func.min(VerificationCode.created_at)).where(
            VerificationCode.account_id == account.id, VerificationCode.created_at > since
        )
    ).one()
    count, oldest = recent
    latest = _latest(account, None)
    if latest is not None and latest.created_at + RESEND_INTERVAL > now:
        wait = math.ceil((latest.created_at + RESEND_INTERVAL - now).total_seconds())
        raise ResendLimited(
            _l(
                "A code was sent less than a minute ago. You can ask for a new one in %(wait)s.",
                wait=wait_for(wait),
            ),
            wait,
        )
    if count >= RESEND_PER_WINDOW:
        at = oldest + RESEND_WINDOW
        wait = max(1, math.ceil((at - now).total_seconds()))
        raise ResendLimited(
            lazy_ngettext(
                "You asked for %(num)d code within an hour. You can ask for a new one in "
                "%(wait)s (at %(at)s).",
                "You asked for %(num)d codes within an hour. You can ask for a new one in "
                "%(wait)s (at %(at)s).",
                RESEND_PER_WINDOW,
                wait=wait_for(wait),
                at=Moment(at, "time"),
            ),
            wait,
        )


# --- the rule -------------------------------------------------------------------------------


@transaction
def send_code(account: Account, channel: str) -> PendingCode:
    """R14: a new code by email or SMS, queued in the outbox in this same transaction (it is sent
    exactly when the code exists). Earlier codes of the account stop working."""
    if account.is_main:
        raise Conflict(_l("The main account is never muted; there is nothing to verify"))
    if not account.is_active:
        raise Forbidden(_l("This account cannot be verified: it is not active"))
    destination = _destination(account, channel)
    row = _new_code(account, channel, VERIFY, destination, send_to=destination)
    audit.record(
        account,
        "account.verification_code_sent",
        company_id=account.company_id,
        target=account,
        channel=channel,
    )
    return _pending(row)


def _new_code(
    account: Account, channel: str, purpose: str, destination: str, *, send_to: str
) -> VerificationCode:
    """Within the limits, void the account's earlier codes and queue a new one to ``send_to``
    (an email address, or a phone's normalized key). Runs in the caller's transaction."""
    now = clock.now()
    _serialize_on(account)
    _check_resend_limit(account, now)
    db.session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.account_id == account.id,
            VerificationCode.used_at.is_(None),
            VerificationCode.expires_at > now,
        )
        .values(expires_at=now)  # voided: replaced by the new code
        .execution_options(synchronize_session=False)
    )
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    row = VerificationCode(
        account_id=account.id,
        channel=channel,
        purpose=purpose,
        destination=destination,
        code_hash=_code_hash(account, code),
        created_at=now,
        expires_at=now + CODE_TTL,
        attempts=0,
    )
    db.session.add(row)
    if channel == EMAIL:
        outbox.send_email(MESSAGE_KIND, send_to, account=account, code=code)
    else:
        with i18n.language_of(account):  # the text in the account's language
            text = str(SMS_TEXT % {"login": account.login_name, "code": code})
        outbox.send_sms(MESSAGE_KIND, send_to, text, account=account)
    return row


def _pending(row: VerificationCode) -> PendingCode:
    shown = mask_email(row.destination) if row.channel == EMAIL else mask_phone(row.destination)
    return PendingCode(
        channel=row.channel,
        destination=shown,
        typed=row.destination,
        expires_at=row.expires_at,
        attempts_left=max(0, MAX_ATTEMPTS - row.attempts),
    )


def pending_code(account: Account, purpose: str = VERIFY) -> PendingCode | None:
    """The code waiting to be typed in, if one can still work."""
    row = _latest(account, purpose)
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= clock.now()
        or row.attempts >= MAX_ATTEMPTS
    ):
        return None
    return _pending(row)


def verify_code(account: Account, code: str) -> Account:
    """R14: check a code; the right one (within 10 minutes, 5 attempts, once) lifts the mute for
    new tokens at once. Each attempt is counted and committed before the comparison, so a wrong
    guess costs an attempt even when the request then fails."""
    if account.is_main:
        return account  # never muted: nothing to do
    code = typed_code((code or "")[:40])
    if not _CODE.fullmatch(code):
        raise InvalidInput(
            _l("Enter the %(digits)d-digit code from the message", digits=CODE_DIGITS),
            field="code",
        )
    row = _latest(account)
    now = clock.now()
    if row is None or row.used_at is not None:
        raise CodeRefused(
            _l("No code is waiting for this account; ask for a new one"), field="code"
        )
    if row.expires_at <= now:
        raise CodeRefused(
            _l("This code has expired (codes are valid for 10 minutes); ask for a new one"),
            field="code",
        )
    if not _still_yours(account, row):
        raise CodeRefused(
            _l("Your email address changed since the code was sent; ask for a new one")
            if row.channel == EMAIL
            else _l("Your phone number changed since the code was sent; ask for a new one"),
            field="code",
        )
    _attempt(account, row, code, now)
    return _redeem(account, row)


def _attempt(account: Account, row: VerificationCode, code: str, now: datetime) -> None:
    """Count an attempt (committed before the comparison, so a wrong guess costs one even when
    the request then fails), then compare in constant time; refused unless right."""
    attempt = db.session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.id == row.id,
            VerificationCode.used_at.is_(None),
            VerificationCode.attempts < MAX_ATTEMPTS,
            VerificationCode.expires_at > now,  # not voided by a newer code meanwhile
        )
        .values(attempts=VerificationCode.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if attempt != 1:
        raise CodeRefused(
            lazy_ngettext(
                "This code was tried %(num)d time, or replaced by a newer one, and no "
                "longer works; ask for a new one",
                "This code was tried %(num)d times, or replaced by a newer one, and no "
                "longer works; ask for a new one",
                MAX_ATTEMPTS,
            ),
            field="code",
        )
    db.session.refresh(row)
    if not hmac.compare_digest(row.code_hash, _code_hash(account, code)):
        left = MAX_ATTEMPTS - row.attempts
        if left <= 0:
            raise CodeRefused(
                _l(
                    "That code is not correct, and it was the %(num)dth try: this code no "
                    "longer works; ask for a new one",
                    num=MAX_ATTEMPTS,
                ),
                field="code",
            )
        raise CodeRefused(
            lazy_ngettext(
                "That code is not correct; %(num)d attempt left",
                "That code is not correct; %(num)d attempts left",
                left,
            ),
            field="code",
        )


@transaction
def _redeem(account: Account, row: VerificationCode) -> Account:
    """Use the code up (its marker, then a conditional UPDATE: of two requests with the right
    code one wins) and lift the mute, together. The marker names the row and its hash: ids alone
    come back when tables are emptied, and two codes of an account may be the same digits."""
    _use_up(row)
    accounts.mark_verified(account, row.channel)
    return account


def _use_up(row: VerificationCode) -> None:
    """The code works once: its marker in the shared store, then a conditional UPDATE."""
    marker = f"verification:{row.id}:{row.code_hash}"
    if not single_use.claim(marker, int(CODE_TTL.total_seconds())):
        raise CodeRefused(ALREADY_USED, field="code")
    used = db.session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == row.id, VerificationCode.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        raise CodeRefused(ALREADY_USED, field="code")


# --- R20: a new email or phone, proved before it is saved --------------------------------------


def _new_contact(account: Account, channel: str, value: str | None) -> tuple[str, str]:
    """The new address as (display, key): well formed (R20), not the current one, and no other
    account's (R3)."""
    if channel not in CHANNELS:
        raise InvalidInput(_l("Choose to change your email or your mobile"), field="channel")
    display, key = (normalize_email if channel == EMAIL else normalize_phone)(value)
    if key is None:
        raise InvalidInput(
            _l("Enter the new email address")
            if channel == EMAIL
            else _l("Enter the new mobile number"),
            field=channel,
        )
    if key == (account.email_key if channel == EMAIL else account.phone_key):
        raise InvalidInput(
            _l("This is already your email address")
            if channel == EMAIL
            else _l("This is already your mobile number"),
            field=channel,
        )
    accounts.ensure_contact_free(
        key if channel == EMAIL else None,
        key if channel == PHONE else None,
        except_id=account.id,
    )
    return display, key


@transaction
def send_change_code(
    account: Account, channel: str, value: str | None, proof: second_factors.Proof
) -> PendingCode:
    """R20: a code to the NEW email or phone the account wants (checked as in R3 first); the
    address is saved only by ``confirm_change``. Main and sub-accounts alike.

    Behind the step-up (``second_factors.step_up``): whoever holds the address can take the
    account over, a main account through the emailed password reset (R17), so a stolen session
    cookie must not be enough to move it. The password comes first (a wrong one learns nothing
    about the address, not even whether another account has it); the second factor last, as it
    is used up, so a mistyped address does not cost the code or the passkey's touch."""
    if not account.is_active:
        raise Forbidden(_l("This account cannot be changed: it is not active"))
    second_factors.check_password(account, proof.password)
    display, key = _new_contact(account, channel, value)
    second_factors.check_second_factor(account, proof)
    row = _new_code(account, channel, CHANGE, display, send_to=display if channel == EMAIL else key)
    audit.record(
        account,
        "account.contact_change_code_sent",
        company_id=account.company_id,
        target=account,
        channel=channel,
    )
    return _pending(row)


def confirm_change(account: Account, code: str) -> str:
    """R20: the right code (within 10 minutes, 5 attempts, once) saves the new email or phone it
    went to, verified now (R14: a muted account's mute lifts). Returns the channel changed."""
    code = typed_code((code or "")[:40])
    if not _CODE.fullmatch(code):
        raise InvalidInput(
            _l("Enter the %(digits)d-digit code from the message", digits=CODE_DIGITS),
            field="code",
        )
    row = _latest(account, CHANGE)
    now = clock.now()
    if row is None or row.used_at is not None:
        raise CodeRefused(
            _l("No change is waiting for a code; enter the new address again"), field="code"
        )
    if row.expires_at <= now:
        raise CodeRefused(
            _l("This code has expired (codes are valid for 10 minutes); ask for a new one"),
            field="code",
        )
    _attempt(account, row, code, now)
    return _change(account, row)


@transaction
def _change(account: Account, row: VerificationCode) -> str:
    """Save the proved address. R3 again, first: it may have been taken since the code was sent
    (a race past this check meets the unique key, and ``transaction`` says so)."""
    display, key = _new_contact(account, row.channel, row.destination)
    _use_up(row)
    before = account.email if row.channel == EMAIL else account.phone
    if row.channel == EMAIL:
        account.email, account.email_key = display, key
    else:
        account.phone, account.phone_key = display, key
    db.session.flush()
    accounts.mark_verified(account, row.channel)
    audit.record(
        account,
        "account.contact_changed",
        company_id=account.company_id,
        target=account,
        changes={row.channel: {"before": before, "after": display}},
    )
    _tell_old_contact(account, row.channel, before, display)
    return row.channel


def _tell_old_contact(account: Account, channel: str, before: str | None, after: str) -> None:
    """R22: a security notice, whatever the subscriptions, to the address the account had
    before (a new email) or to its email (a new mobile): a hijacker who proves an address of
    their own must not lock the owner out unseen, and only the old address can still reach
    the owner. The new address is masked (enough to recognise, not to harvest) and the new
    email is not told: it just proved itself. In the caller's transaction."""
    to = before if channel == EMAIL else account.email
    if not to:
        return
    shown = mask_email(after) if channel == EMAIL else mask_phone(after)
    outbox.send_email(CONTACT_CHANGED, to, account=account, channel=channel, new=shown)


def cancel_change(account: Account) -> None:
    """Drop the change waiting for its code (the code stops working). Commits."""
    db.session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.account_id == account.id,
            VerificationCode.purpose == CHANGE,
            VerificationCode.used_at.is_(None),
            VerificationCode.expires_at > clock.now(),
        )
        .values(expires_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
