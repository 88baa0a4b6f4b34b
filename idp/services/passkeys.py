"""R19 and issue 17: passkeys (WebAuthn Level 2 credentials, verified by py_webauthn).

A passkey is a second factor after the password, or a passwordless sign-in on its own when the
authenticator verified the person (a PIN or a fingerprint: ``userVerification: required``) and
holds the credential as a discoverable one.

Every ceremony starts here (``begin_*``), which puts a random challenge in the shared store
(``idp.kv``: Redis when set) under a random ceremony id for ``WEBAUTHN_CHALLENGE_TTL`` seconds, so
that any instance can finish it; the caller keeps the id (in the browser's signed session). The
finish (``finish_*``) reads the challenge back and claims it once (``single_use``): a replayed
response, a challenge of another purpose or account, or an expired one is refused. The signature
counter must rise with every use (WebAuthn 6.1.1), and it is written with a conditional UPDATE so
that of two racing uses of one response only one wins.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import with_expression
from sqlalchemy.orm.attributes import set_committed_value
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.defaults import (
    MAX_PASSKEY_NAME,
    MAX_PASSKEYS,
    MAX_WEBAUTHN_RESPONSE,
    WEBAUTHN_CHALLENGE_TTL,
    WEBAUTHN_USED_MARKER_TTL,
)
from idp.errors import AuthenticationFailed, Conflict, InvalidInput, LimitReached, NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, Passkey
from idp.models.base import utcnow
from idp.models.passkeys import MULTI_DEVICE, SINGLE_DEVICE
from idp.services import audit, outbox, single_use
from idp.services.tx import transaction

RP_NAME = "Seller IdP"  # shown by some authenticators next to the account's name

REGISTER = "register"
SECOND_FACTOR = "second_factor"  # after the password, at sign-in
PASSWORDLESS = "passwordless"  # on its own, at sign-in (discoverable credentials)
STEP_UP = "step_up"  # a signed-in account proves itself again (removing a factor)
PURPOSES = (REGISTER, SECOND_FACTOR, PASSWORDLESS, STEP_UP)

CEREMONY_EXPIRED = _l("This passkey request expired or was already used; try again")
PASSKEY_REFUSED = _l("That passkey was not accepted; try again or use another way to sign in")
NOT_YOURS = _l("That passkey is not registered for this account")
REGISTRATION_FAILED = _l("The passkey could not be registered; try again")
_KEY = "webauthn:{}"


@dataclass(frozen=True)
class Ceremony:
    """A ceremony begun: its id (kept by the caller) and the options for the browser."""

    id: str
    options: dict


@dataclass(frozen=True)
class PasskeyUse:
    """A passkey accepted: whose, which, and the ``amr`` values it proves (RFC 8176)."""

    account: Account
    passkey: Passkey
    user_verified: bool


def relying_party() -> tuple[str, str]:
    """(rpId, expected origin): the origin is the issuer's; the rpId is ``IDP_WEBAUTHN_RP_ID``
    or the issuer's host (WebAuthn 5.1.3)."""
    settings = current_app.extensions["idp.settings"]
    parts = urlsplit(settings.issuer)
    return settings.webauthn_rp_id or (parts.hostname or ""), f"{parts.scheme}://{parts.netloc}"


def list_for(account: Account) -> list[Passkey]:
    return list(
        db.session.scalars(
            select(Passkey).where(Passkey.account_id == account.id).order_by(Passkey.id)
        )
    )


def has_passkey(account: Account) -> bool:
    """Whether the account holds a passkey: the answer read with its row when the query that
    loaded it asked (``with_passkey_answer``), else one query."""
    answer = account.__dict__.get("holds_passkey")  # never a load of an expired row
    if answer is not None:
        return answer
    return (
        db.session.scalar(select(Passkey.id).where(Passkey.account_id == account.id).limit(1))
        is not None
    )


def holds_passkey_clause():
    """``has_passkey`` as a condition on ``Account`` rows, for lists and counts
    (``second_factors.has_any_clause``) and for ``with_passkey_answer``."""
    return exists(select(Passkey.id).where(Passkey.account_id == Account.id))


def with_passkey_answer():
    """A loader option: the account's row comes with whether it holds a passkey, so that the
    password sign-in asks no second question for R19's check (``totp.is_required``)."""
    return with_expression(Account.holds_passkey, holds_passkey_clause())


def _answer(account: Account, holds: bool | None) -> None:
    """The account's passkeys changed in this transaction: what ``has_passkey`` answers now
    (None: ask the database), in place of an answer read with its row before."""
    set_committed_value(account, "holds_passkey", holds)


def user_handle(account: Account) -> bytes:
    """The WebAuthn user handle: the account's opaque ``sub`` (no name, email or phone in it,
    WebAuthn 14.6.1), by which a discoverable credential names its account."""
    return account.public_id.encode("ascii")


# --- registration ---------------------------------------------------------------------------


def begin_registration(account: Account) -> Ceremony:
    """Options for ``navigator.credentials.create``: the account's passkeys excluded (an
    authenticator registers once per account), a discoverable credential preferred (for
    passwordless sign-in), no attestation (nothing here depends on the authenticator's make)."""
    existing = list_for(account)
    if len(existing) >= MAX_PASSKEYS:
        raise LimitReached(_l("You have %(num)d passkeys; remove one first", num=len(existing)))
    rp_id, _ = relying_party()
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=user_handle(account),
        user_name=account.login_name,
        user_display_name=account.nickname or account.login_name,
        challenge=challenge,
        timeout=WEBAUTHN_CHALLENGE_TTL * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(p) for p in existing],
    )
    return _begin(REGISTER, challenge, account, options)


@transaction
def finish_registration(account: Account, ceremony_id: str, credential: str, name: str) -> Passkey:
    """``register`` on its own: the forced enrolment at sign-in, where the password was just
    typed. The account centre adds a passkey behind the password instead
    (``second_factors.add_passkey``)."""
    return register(account, ceremony_id, credential, name)


def register(account: Account, ceremony_id: str, credential: str, name: str) -> Passkey:
    """Verify the authenticator's answer and keep the passkey under ``name``, in the caller's
    transaction. The account is told by email (R22: a security notice)."""
    name = check_name(name)
    challenge = _take(ceremony_id, REGISTER, account)
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(
            credential=_bounded(credential),
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, ValueError, TypeError, KeyError):
        raise InvalidInput(REGISTRATION_FAILED) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise Conflict(_l("This passkey is already registered"))
    if len(list_for(account)) >= MAX_PASSKEYS:
        raise LimitReached(_l("You have %(num)d passkeys; remove one first", num=MAX_PASSKEYS))
    passkey = Passkey(
        account_id=account.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        device_type=(
            MULTI_DEVICE if verified.credential_device_type.value == MULTI_DEVICE else SINGLE_DEVICE
        ),
        backed_up=verified.credential_backed_up,
        transports=_transports(credential),
        aaguid=verified.aaguid,
    )
    db.session.add(passkey)
    db.session.flush()
    _answer(account, True)
    audit.record(
        account, "account.passkey_added", company_id=account.company_id, target=account, name=name
    )
    if account.email:  # R22: a security notice, whatever the account's subscriptions
        outbox.send_email("second_factor_added", account.email, account=account, passkey=name)
    return passkey


# --- authentication -------------------------------------------------------------------------


def begin_authentication(purpose: str, account: Account | None = None) -> Ceremony:
    """Options for ``navigator.credentials.get``. With an account (second factor, step-up):
    its passkeys only. Without (passwordless): none listed, so the authenticator offers its
    discoverable credentials for this rpId, and the person must be verified on it."""
    if purpose not in (SECOND_FACTOR, PASSWORDLESS, STEP_UP):
        raise ValueError(purpose)
    allowed: list[PublicKeyCredentialDescriptor] = []
    if purpose != PASSWORDLESS:
        if account is None:
            raise ValueError("an account is needed for " + purpose)
        allowed = [_descriptor(p) for p in list_for(account)]
        if not allowed:
            raise Conflict(_l("This account has no passkey"))
    rp_id, _ = relying_party()
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=WEBAUTHN_CHALLENGE_TTL * 1000,
        allow_credentials=allowed,
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if purpose == PASSWORDLESS
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return _begin(purpose, challenge, account if purpose != PASSWORDLESS else None, options)


def accept(
    ceremony_id: str, credential: str, purpose: str, account: Account | None = None
) -> PasskeyUse:
    """Check an assertion (``navigator.credentials.get``'s answer) in the caller's transaction.
    Refused with ``AuthenticationFailed``: an unknown, expired, used or other-purpose ceremony;
    an unknown credential; another account's credential; a bad signature, origin or rpId; a
    counter that did not rise; no user verification where it is required (passwordless)."""
    try:
        parsed = parse_authentication_credential_json(_bounded(credential))
    except (InvalidJSONStructure, InvalidAuthenticationResponse, ValueError, TypeError):
        raise AuthenticationFailed(PASSKEY_REFUSED) from None
    challenge = _take(ceremony_id, purpose, account)
    passkey = db.session.scalar(
        select(Passkey).where(Passkey.credential_id == bytes_to_base64url(parsed.raw_id))
    )
    if passkey is None:
        raise AuthenticationFailed(PASSKEY_REFUSED)
    if account is not None and passkey.account_id != account.id:
        raise AuthenticationFailed(NOT_YOURS)
    owner = db.session.get(Account, passkey.account_id)
    if purpose == PASSWORDLESS:
        # WebAuthn 7.2 step 6: the user handle names the credential's own account.
        handle = parsed.response.user_handle
        if not handle or not secrets.compare_digest(handle, user_handle(owner)):
            raise AuthenticationFailed(PASSKEY_REFUSED)
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=purpose == PASSWORDLESS,
        )
    except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError):
        raise AuthenticationFailed(PASSKEY_REFUSED) from None
    counted = db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # another use of this passkey got there first
        raise AuthenticationFailed(PASSKEY_REFUSED)
    db.session.expire(passkey)
    return PasskeyUse(account=owner, passkey=passkey, user_verified=verified.user_verified)


@transaction
def sign_in(ceremony_id: str, credential: str) -> tuple[Account, list[str]]:
    """A passwordless sign-in: the account whose passkey answered, if it may sign in as with a
    password (a departed or unactivated account is refused with the same message, told only to
    who proved to hold the passkey), and the session's ``amr``."""
    from idp.services.accounts import check_may_sign_in

    use = accept(ceremony_id, credential, PASSWORDLESS)
    check_may_sign_in(use.account)
    return use.account, amr(use, after_password=False)


@transaction
def second_factor(account: Account, ceremony_id: str, credential: str) -> list[str]:
    """The second step of a sign-in with a passkey of ``account``; the session's ``amr``."""
    return amr(accept(ceremony_id, credential, SECOND_FACTOR, account), after_password=True)


def amr(use: PasskeyUse, *, after_password: bool) -> list[str]:
    """RFC 8176 values for a sign-in with a passkey:

    - after the password: ``pwd``, then ``hwk`` (a device-bound key) or ``swk`` (a synced one),
      and ``mfa`` (two factors of different kinds);
    - on its own: ``hwk``/``swk`` and ``user`` (the authenticator asked the person), and ``mfa``:
      the key is something one has, and user verification (a PIN: something one knows; a
      fingerprint: something one is) is a second factor checked by the authenticator, which is
      what NIST SP 800-63B calls a multi-factor cryptographic authenticator. Which of ``pin`` or
      ``fpt`` it was, the authenticator does not say, so neither is claimed. A passwordless
      sign-in is accepted only with user verification, so ``mfa`` always holds there."""
    method = use.passkey.amr
    if after_password:
        return ["pwd", method, "mfa"]
    return [method, "user", "mfa"] if use.user_verified else [method, "user"]


# --- managing ---------------------------------------------------------------------------------


def check_name(name: str) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise InvalidInput(_l("Give the passkey a name"), field="name")
    if len(name) > MAX_PASSKEY_NAME or any(ord(c) < 32 for c in name):
        raise InvalidInput(
            _l("A passkey's name has at most %(num)d characters", num=MAX_PASSKEY_NAME),
            field="name",
        )
    return name


def get_own(account: Account, public_id: str) -> Passkey:
    """One of the account's own passkeys: another account's is not found (never told apart)."""
    passkey = (
        db.session.scalar(
            select(Passkey).where(Passkey.public_id == public_id, Passkey.account_id == account.id)
        )
        if isinstance(public_id, str) and len(public_id) <= 40
        else None
    )
    if passkey is None:
        raise NotFound(_l("No such passkey"))
    return passkey


@transaction
def rename(account: Account, public_id: str, name: str) -> Passkey:
    passkey = get_own(account, public_id)
    before, passkey.name = passkey.name, check_name(name)
    audit.record(
        account,
        "account.passkey_renamed",
        company_id=account.company_id,
        target=account,
        before=before,
        after=passkey.name,
    )
    return passkey


def count(account: Account) -> int:
    return db.session.scalar(select(func.count(Passkey.id)).where(Passkey.account_id == account.id))


def delete_all(account: Account) -> None:
    """Forget every passkey of the account (R4's hand-over, R16's reset). Caller's transaction."""
    db.session.execute(delete(Passkey).where(Passkey.account_id == account.id))
    _answer(account, False)


def remove(account: Account, passkey: Passkey) -> None:
    """Forget one passkey of the account (``get_own``'s). Caller's transaction."""
    db.session.delete(passkey)
    _answer(account, None)  # it may hold others


# --- internals ------------------------------------------------------------------------------


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers import base64url_to_bytes

    transports = []
    for value in passkey.transports or []:
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(passkey.credential_id), transports=transports or None
    )


def _transports(credential: str) -> list[str]:
    """The transports the browser reported (a hint for later ceremonies), known values only."""
    try:
        values = json.loads(credential).get("response", {}).get("transports") or []
    except (ValueError, AttributeError):
        return []
    known = {t.value for t in AuthenticatorTransport}
    return [v for v in values if isinstance(v, str) and v in known][:8]


def _bounded(credential: str) -> str:
    if not isinstance(credential, str) or not credential or len(credential) > MAX_WEBAUTHN_RESPONSE:
        raise ValueError("no credential, or too large")
    return credential


def _begin(purpose: str, challenge: bytes, account: Account | None, options) -> Ceremony:
    ceremony_id = secrets.token_urlsafe(24)
    record = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "account": account.public_id if account is not None else None,
    }
    kv().set(_KEY.format(ceremony_id), json.dumps(record), WEBAUTHN_CHALLENGE_TTL)
    return Ceremony(id=ceremony_id, options=json.loads(options_to_json(options)))


def _take(ceremony_id: str, purpose: str, account: Account | None) -> bytes:
    """The challenge of a live ceremony of this purpose (and account), used up: its marker is
    claimed once, on any instance, and kept when the caller's transaction commits."""
    from webauthn.helpers import base64url_to_bytes

    if not isinstance(ceremony_id, str) or not 16 <= len(ceremony_id) <= 64:
        raise AuthenticationFailed(CEREMONY_EXPIRED)
    raw = kv().get(_KEY.format(ceremony_id))
    record = json.loads(raw) if raw else None
    if (
        record is None
        or record.get("purpose") != purpose
        or record.get("account") != (account.public_id if account is not None else None)
    ):
        raise AuthenticationFailed(CEREMONY_EXPIRED)
    if not single_use.claim(f"webauthn-used:{ceremony_id}", WEBAUTHN_USED_MARKER_TTL):
        raise AuthenticationFailed(CEREMONY_EXPIRED)
    return base64url_to_bytes(record["challenge"])
