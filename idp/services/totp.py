"""R19: a TOTP second factor (RFC 6238) with single-use recovery codes; the owner can require it
for all staff, and resets a sub-account's second factor (R16).

The secret is stored encrypted (``secrets_box``). A code is accepted for the current 30-second step
or the one on either side, and never twice: the accepted step is written with a conditional
UPDATE (``totp_last_step < step``), so of two requests racing with the same code exactly one
wins. Recovery codes are stored as SHA-256 hashes and used up the same way. In front of both, a
single-use marker in the shared store (issue 6) refuses a replay on any instance first.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import delete, or_, select, update

from idp.defaults import (
    RECOVERY_CODE_COUNT,
    RECOVERY_MARKER_TTL,
    TOTP_STEP_MARKER_TTL,
    TOTP_STEP_SECONDS,
    TOTP_VALID_WINDOW,
)
from idp.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, Company, RecoveryCode
from idp.models.base import utcnow
from idp.services import audit, outbox, passwords, secrets_box, single_use, throttle
from idp.services.authz import require_owner, require_same_company
from idp.services.names import typed_code
from idp.services.tx import transaction

ISSUER = "Seller IdP"
STEP_SECONDS, VALID_WINDOW = TOTP_STEP_SECONDS, TOTP_VALID_WINDOW
# No i, l, o, 0, 1: nothing to confuse when a code is copied from paper. 31**12 is about 2**59.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS, RECOVERY_GROUP_LENGTH = 3, 4
STEP_MARKER_TTL = TOTP_STEP_MARKER_TTL

INVALID_CODE = _l("That code is not valid")
REPLAYED_CODE = _l("That code is not valid; wait for the next one")
_ALREADY_ON = _l("Two-step verification is already on; remove it before enrolling again")
_SECRET = re.compile(r"[A-Z2-7]{16,128}")
_TOTP_CODE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the QR code, and the secret for typing in by hand."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def is_enrolled(account: Account) -> bool:
    return account.totp_enabled_at is not None and account.totp_secret_encrypted is not None


def is_required(account: Account) -> bool:
    """Whether sign-in must ask for a second factor: an authenticator app or a passkey, or staff
    of a company that requires one (R19), who must then enrol; either factor satisfies it."""
    from idp.services import passkeys

    if is_enrolled(account) or (not account.is_main and account.company.require_totp):
        return True
    return passkeys.has_passkey(account)


def begin_enrolment(account: Account, secret: str | None = None) -> Enrolment:
    """A secret to be confirmed with a code (``confirm_enrolment``): a fresh one, or the pending
    ``secret`` shown again (a mistyped code must not replace what the person just scanned).
    Nothing is stored yet: the caller keeps the secret (e.g. in the session) until then."""
    if is_enrolled(account):
        raise Conflict(_ALREADY_ON)
    if secret is None or not _SECRET.fullmatch(secret):
        secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=account.login_name, issuer_name=ISSUER
    )
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=image.to_string(encoding="unicode"))


@transaction
def confirm_enrolment(
    account: Account, secret: str, code: str, *, now: float | None = None
) -> list[str]:
    """``enable`` on its own: the forced enrolment at sign-in, right after the password step.
    The account centre's set-up asks for the password too (``second_factors.enable_totp``)."""
    return enable(account, secret, code, now=now)


def enable(account: Account, secret: str, code: str, *, now: float | None = None) -> list[str]:
    """Turn the second factor on once a code from the authenticator app matches, in the
    caller's transaction. Returns the recovery codes in plain text: they are shown once and
    only their hashes are kept."""
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        raise InvalidInput(_l("The enrolment secret is malformed; start again"), field="secret")
    step = _matching_step(secret, _normalize(code), now)
    if step is None:
        raise InvalidInput(INVALID_CODE, field="code")
    enabled = db.session.execute(
        update(Account)
        .where(Account.id == account.id, Account.totp_enabled_at.is_(None))
        .values(
            totp_secret_encrypted=secrets_box.encrypt(secret),
            totp_enabled_at=utcnow(),
            totp_last_step=step,
        )
        .execution_options(synchronize_session=False)
    )
    if enabled.rowcount != 1:
        raise Conflict(_ALREADY_ON)
    db.session.expire(account)
    codes = _new_recovery_codes(account)
    audit.record(account, "account.totp_enabled", company_id=account.company_id, target=account)
    if account.email:  # R22: a security notice, whatever the account's subscriptions
        outbox.send_email("second_factor_added", account.email, account=account)
    return codes


@transaction
def verify(account: Account, code: str, *, now: float | None = None) -> str:
    """Check a second-factor code at sign-in: ``"totp"`` for an authenticator code, ``"recovery"``
    for a recovery code (used up). Raises AuthenticationFailed for a wrong or reused code."""
    return _accept(account, code, now)


@transaction
def reset_totp(actor: Account, account: Account, *, expected_version: str | None = None) -> Account:
    """R16: the owner removes a sub-account's second factor (a lost phone); the staff member
    enrols again, at next sign-in if the company requires it. ``expected_version``: as
    ``accounts.update_sub_account``."""
    require_owner(actor)
    require_same_company(actor, account, "sub-account")
    if account.is_main:
        raise Forbidden(_l("The main account removes its own second factor, with a code"))
    from idp.services.accounts import check_version

    check_version(account, expected_version)
    from idp.services import passkeys

    if not is_enrolled(account) and not passkeys.has_passkey(account):
        raise Conflict(_l("'%(login)s' has no second factor to reset", login=account.login_name))
    clear_second_factor(account)  # the authenticator app and every passkey (a lost device)
    from idp.oauth import sessions

    sessions.end_all_for_account(account)  # R16: a lost phone: its sessions end too
    audit.record(actor, "subaccount.totp_reset", company_id=actor.company_id, target=account)
    throttle.lift(kv(), throttle.second_factor_key(account))  # codes guessed by someone else
    return account


@transaction
def set_required_for_staff(
    actor: Account, required: bool, *, expected_version: str | None = None
) -> Company:
    """R19: the owner requires a second factor for every sub-account of the company.
    ``expected_version``: ``companies.settings_version`` as the caller read it."""
    require_owner(actor)
    company = actor.company
    from idp.services.companies import check_settings_version

    check_settings_version(company, expected_version)
    company.require_totp = bool(required)
    audit.record(
        actor,
        "company.totp_required",
        company_id=company.id,
        target=company,
        required=bool(required),
    )
    return company


@transaction
def disable_own(account: Account, password: str, code: str, *, now: float | None = None) -> None:
    """An account removes its own second factor, proving both factors once more. Staff of a
    company that requires it cannot (R19)."""
    if not is_enrolled(account):
        raise Conflict(_l("Two-step verification is not on"))
    if not account.is_main and account.company.require_totp:
        raise Forbidden(_l("Your company requires two-step verification for all staff"))
    if not passwords.verify_password(account.password_hash, password):
        raise Forbidden(_l("The current password is incorrect"), field="password")
    _accept(account, code, now)
    _clear(account)
    audit.record(account, "account.totp_disabled", company_id=account.company_id, target=account)


# --- internals ------------------------------------------------------------------------------


def _normalize(code: str) -> str:
    """What was typed, compared case-blind and without spaces or dashes; full-width digits as
    typed on CJK keyboards count as digits."""
    if not isinstance(code, str) or len(code) > 64:
        return ""
    return typed_code(code).lower()


def _matching_step(secret: str, code: str, now: float | None) -> int | None:
    """The time step whose code this is, within the accepted window; the latest on a tie."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    matching = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matching = step
    return matching


def check_code(account: Account, code: str, *, now: float | None = None) -> str:
    """``verify`` in the caller's transaction (a step-up inside another change)."""
    return _accept(account, code, now)


def _accept(account: Account, code: str, now: float | None) -> str:
    if not is_enrolled(account) and not has_recovery_codes(account):
        raise Conflict(_l("Two-step verification is not on for this account"))
    typed = _normalize(code)
    if _TOTP_CODE.fullmatch(typed):
        if not is_enrolled(account):  # a passkey holder's recovery codes only
            raise AuthenticationFailed(INVALID_CODE, field="code")
        secret = secrets_box.decrypt(account.totp_secret_encrypted)
        step = _matching_step(secret, typed, now)
        if step is None:
            raise AuthenticationFailed(INVALID_CODE, field="code")
        if not single_use.claim(f"totp:{account.public_id}:{step}", STEP_MARKER_TTL):
            raise AuthenticationFailed(REPLAYED_CODE, field="code")
        accepted = db.session.execute(
            update(Account)
            .where(Account.id == account.id)
            .where(or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if accepted.rowcount != 1:
            raise AuthenticationFailed(REPLAYED_CODE, field="code")
        db.session.expire(account, ["totp_last_step"])
        return "totp"
    if not _use_recovery_code(account, typed):
        raise AuthenticationFailed(INVALID_CODE, field="code")
    audit.record(
        account,
        "account.recovery_code_used",
        company_id=account.company_id,
        target=account,
        remaining=_unused_recovery_codes(account),
    )
    return "recovery"


def _use_recovery_code(account: Account, typed: str) -> bool:
    """Use up an unused recovery code: its marker first (keyed by its hash, which is never
    reused, unlike a row id), then the conditional UPDATE."""
    code_hash = _recovery_hash(account, typed)
    row_id = db.session.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.account_id == account.id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
    )
    if row_id is None or not single_use.claim(f"recovery:{code_hash}", RECOVERY_MARKER_TTL):
        return False
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def _recovery_hash(account: Account, typed: str) -> str:
    """SHA-256 of the normalized code, salted with the account's id so that one table dump cannot
    be searched for every account at once."""
    return hashlib.sha256(f"{account.public_id}:{typed}".encode()).hexdigest()


def _new_recovery_codes(account: Account) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    codes: list[str] = []
    while len(codes) < RECOVERY_CODE_COUNT:
        groups = (
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
            for _ in range(RECOVERY_GROUPS)
        )
        code = "-".join(groups)
        if code not in codes:
            codes.append(code)
    db.session.add_all(
        RecoveryCode(account_id=account.id, code_hash=_recovery_hash(account, _normalize(code)))
        for code in codes
    )
    return codes


def _unused_recovery_codes(account: Account) -> int:
    return (
        db.session.query(RecoveryCode)
        .filter(RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))
        .count()
    )


def has_recovery_codes(account: Account) -> bool:
    return _unused_recovery_codes(account) > 0


def unused_recovery_codes(account: Account) -> int:
    return _unused_recovery_codes(account)


def new_recovery_codes(account: Account) -> list[str]:
    """Replace the account's recovery codes (the old ones stop working); returns the new ones
    in plain text, to be shown once. In the caller's transaction."""
    return _new_recovery_codes(account)


def clear_recovery_codes(account: Account) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))


def clear_totp(account: Account, *, keep_recovery_codes: bool = False) -> None:
    """Forget the authenticator app only (its owner removes it; passkeys stay, and the recovery
    codes with them). In the caller's transaction."""
    account.totp_secret_encrypted = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    if not keep_recovery_codes:
        clear_recovery_codes(account)


def clear_second_factor(account: Account) -> None:
    """Forget every second factor of the account: authenticator, passkeys and recovery codes
    (R4's hand-over: the next person must not sign in with the last one's passkey; R16's reset).
    In the caller's transaction."""
    from idp.services import passkeys

    _clear(account)
    passkeys.delete_all(account)


def _clear(account: Account) -> None:
    account.totp_secret_encrypted = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
