"""R19: an account's second factors together: an authenticator app (``totp``), passkeys
(``passkeys``) and the recovery codes that stand in for either.

Adding a passkey or turning the authenticator app on from the account centre needs the password
again (a passkey signs in without one; a thief's app would lock the owner out). Removing a factor or
replacing the recovery codes needs a step-up: the password again, and a current authenticator
code (or a recovery code) or a passkey. Staff of a company that requires
a second factor keep at least one. Each removal is audited and the account is told by email (a
security notice, R22)."""

from __future__ import annotations

from dataclasses import dataclass

from idp.errors import Conflict, Forbidden
from idp.i18n import _l
from idp.models import Account, Passkey
from idp.services import audit, outbox, passkeys, passwords, totp, versions
from idp.services.tx import transaction

_REQUIRED = _l("Your company requires a second factor for all staff; add another one first")


@dataclass(frozen=True)
class Proof:
    """What a step-up form sent: the password, and a code or a passkey's answer (with the id of
    the ceremony that asked for it)."""

    password: str = ""
    code: str = ""
    ceremony_id: str = ""
    assertion: str = ""


def has_any(account: Account) -> bool:
    """Whether the account has a second factor: an authenticator app or a passkey. The same rule
    in SQL, for lists and counts: ``has_any_clause`` (a test holds them equal)."""
    return totp.is_enrolled(account) or passkeys.has_passkey(account)


def has_any_clause():
    """``has_any`` as a condition on ``Account`` rows (the console's staff filter and count)."""
    from sqlalchemy import and_, or_

    return or_(
        and_(Account.totp_enabled_at.is_not(None), Account.totp_secret_encrypted.is_not(None)),
        passkeys.holds_passkey_clause(),
    )


def check_password(account: Account, password: str) -> None:
    """The account's current password, typed again; in the caller's transaction."""
    if not passwords.verify_password(account.password_hash, password or ""):
        raise Forbidden(_l("The current password is incorrect"), field="password")


def step_up(account: Account, proof: Proof) -> None:
    """The one "confirm it's you" rule, wherever a stolen session cookie could take over the
    account or its money (its factors, its email or mobile, the wallet password, R15): the
    password, then a second factor when the account has one. In the caller's transaction."""
    check_password(account, proof.password)
    check_second_factor(account, proof)


def check_second_factor(account: Account, proof: Proof) -> None:
    """A passkey's answer (to a ``STEP_UP`` ceremony) or an authenticator or recovery code, when
    the account has a second factor (``has_any``); nothing to prove when it has none. Refused
    with ``Forbidden`` or ``AuthenticationFailed``, field ``code``. Uses the code or the
    ceremony up, so callers check it last."""
    if not has_any(account):
        return
    if proof.assertion:
        passkeys.accept(proof.ceremony_id, proof.assertion, passkeys.STEP_UP, account)
    elif proof.code and (totp.is_enrolled(account) or totp.has_recovery_codes(account)):
        totp.check_code(account, proof.code)
    else:
        raise Forbidden(
            _l("Enter a code from your authenticator app, or confirm with a passkey"),
            field="code",
        )


@transaction
def add_passkey(
    account: Account, password: str, ceremony_id: str, credential: str, name: str
) -> Passkey:
    """Keep a new passkey only behind the current password (issue 17): a passkey signs in
    without a password, so a stolen session cookie must not be enough to plant one. The
    password is checked first, in the transaction that saves the passkey, so a wrong one saves
    and sends nothing. The password alone, not a second factor too: an account without a
    factor yet adds its first one here."""
    _lock(account)
    check_password(account, password)
    return passkeys.register(account, ceremony_id, credential, name)


@transaction
def enable_totp(account: Account, password: str, secret: str, code: str) -> list[str]:
    """Turn the authenticator app on from the account centre, behind the current password (as
    ``add_passkey``, in the transaction that turns it on). Returns the recovery codes."""
    _lock(account)
    check_password(account, password)
    return totp.enable(account, secret, code)


@transaction
def remove_totp(account: Account, proof: Proof) -> None:
    """Turn the authenticator app off. The recovery codes go too unless a passkey stays."""
    _lock(account)
    if not totp.is_enrolled(account):
        raise Conflict(_l("Two-step verification is not on"))
    step_up(account, proof)
    keeps_passkey = passkeys.has_passkey(account)
    _check_keeps_one(account, keeps_passkey)
    totp.clear_totp(account, keep_recovery_codes=keeps_passkey)
    audit.record(account, "account.totp_disabled", company_id=account.company_id, target=account)
    _tell(account)


@transaction
def remove_passkey(account: Account, public_id: str, proof: Proof) -> None:
    _lock(account)
    passkey = passkeys.get_own(account, public_id)
    step_up(account, proof)
    name = passkey.name
    remaining = passkeys.count(account) - 1
    _check_keeps_one(account, remaining > 0 or totp.is_enrolled(account))
    passkeys.remove(account, passkey)
    if remaining == 0 and not totp.is_enrolled(account):
        totp.clear_recovery_codes(account)  # nothing left for them to stand in for
    audit.record(
        account, "account.passkey_removed", company_id=account.company_id, target=account, name=name
    )
    _tell(account, passkey=name)


@transaction
def regenerate_recovery_codes(account: Account, proof: Proof) -> list[str]:
    """New recovery codes, shown once; the old ones stop working."""
    _lock(account)
    if not has_any(account):
        raise Conflict(_l("Recovery codes stand in for a second factor; add one first"))
    step_up(account, proof)
    codes = totp.new_recovery_codes(account)
    audit.record(
        account, "account.recovery_codes_renewed", company_id=account.company_id, target=account
    )
    return codes


def _lock(account: Account) -> None:
    """R19: every change of an account's second factors first takes the account's row lock, so
    two at once (two tabs removing the last two passkeys) run one after the other: the second
    counts what the first left, and a company's required second factor never drops to none."""
    versions.lock(account)


def _check_keeps_one(account: Account, keeps_one: bool) -> None:
    if not keeps_one and not account.is_main and account.company.require_totp:
        raise Forbidden(_REQUIRED)


def _tell(account: Account, passkey: str | None = None) -> None:
    """The notice names the passkey removed, or says the authenticator app was."""
    if account.email:  # R22: a security notice, whatever the account's subscriptions
        outbox.send_email("second_factor_removed", account.email, account=account, passkey=passkey)
