"""R15: the wallet password. One per company, guarding money operations in all of its stores. Only
the main account sets or changes it, behind the account centre's step-up (``second_factors``:
its login password again, and a code or a passkey when it has a second factor, R19); it must
differ from the login password. The wallet service checks it for a store through the API;
``MAX_FAILURES`` wrong passwords in a row lock the company's wallet for ``LOCK_SECONDS`` and the
owner is emailed (R22: a security notice).

Failures are counted with one conditional ``UPDATE … SET wallet_failures = wallet_failures + 1
WHERE <not locked> RETURNING wallet_failures``: the row lock (PostgreSQL) or the write lock
(SQLite) serializes concurrent checks, so every failure counts once, exactly one of them is the
``MAX_FAILURES``-th (it sets the lock and sends the one email), and a check racing with it sees
the lock. Times come from ``idp.clock`` so tests can move past the lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from idp import clock
from idp.defaults import WALLET_LOCK_SECONDS, WALLET_MAX_FAILURES
from idp.errors import (
    AuthenticationFailed,
    Forbidden,
    InvalidInput,
    NotFound,
    StepUpThrottled,
    WalletLocked,
    WalletNotSet,
)
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, Client, Company, Store
from idp.models.accounts import MAIN
from idp.services import audit, outbox, passwords, second_factors, throttle
from idp.services.authz import require_owner
from idp.services.tx import transaction

MAX_FAILURES, LOCK_SECONDS = WALLET_MAX_FAILURES, WALLET_LOCK_SECONDS


def is_locked(company: Company) -> bool:
    return company.wallet_locked_until is not None and company.wallet_locked_until > clock.now()


def _main_account(company_id: int) -> Account | None:
    return db.session.query(Account).filter_by(company_id=company_id, kind=MAIN).one_or_none()


# --- setting and changing -------------------------------------------------------------------


@transaction
def set_wallet_password(
    actor: Account,
    *,
    current_password: str,
    totp_code: str | None,
    new_password: str,
    ceremony_id: str = "",
    assertion: str = "",
) -> Company:
    """R15: the main account sets or changes the company's wallet password, behind the step-up
    of ``second_factors.step_up``: its login password again and, when it has a second factor, an
    authenticator or recovery code (``totp_code``) or a passkey's answer to a ``STEP_UP``
    ceremony (``ceremony_id``, ``assertion``). Wrong guesses count towards the wallet's own limit
    (``StepUpThrottled``). A change also lifts a lock: the owner has just proved both factors.
    R6: refused to every sub-account."""
    require_owner(actor)
    step_up_key = f"wallet-step-up:{actor.public_id}"
    try:
        throttle.check(kv(), step_up_key, "")
    except throttle.Throttled as exc:
        raise StepUpThrottled(exc.retry_after) from None
    passwords.check_policy(new_password, field="new_password")
    try:
        second_factors.check_password(actor, current_password)
    except Forbidden as exc:
        throttle.record_failure(kv(), step_up_key, "")
        raise Forbidden(exc.message, field="current_password") from None
    if passwords.verify_password(actor.password_hash, new_password):
        raise InvalidInput(
            _l("The wallet password must differ from your login password"), field="new_password"
        )
    proof = second_factors.Proof(
        code=(totp_code or "")[:64],
        ceremony_id=ceremony_id,
        assertion=assertion,
    )
    try:
        second_factors.check_second_factor(actor, proof)  # last: it uses the code up
    except (Forbidden, AuthenticationFailed) as exc:
        throttle.record_failure(kv(), step_up_key, "")
        raise Forbidden(exc.message, field="totp_code") from None
    throttle.record_success(kv(), step_up_key, "")

    company = db.session.get(Company, actor.company_id)
    first = company.wallet_password_hash is None
    now = clock.now()
    company.wallet_password_hash = passwords.hash_password(new_password)
    company.wallet_password_set_at = now
    company.wallet_failures = 0
    company.wallet_locked_until = None
    audit.record(
        actor,
        "wallet.set" if first else "wallet.changed",
        company_id=company.id,
        target=company,
        second_factor=second_factors.has_any(actor),
    )
    if actor.email:
        outbox.send_email(
            "wallet_changed",
            actor.email,
            account=actor,
            company=company.name,
            first=first,
            when=now,
        )
    return company


# --- checking (the wallet service) ----------------------------------------------------------


def store_for_check(public_id: str) -> Store:
    """The store the wallet service acts for, by its public id. A de-authorized store (R10) has
    no money operations any more: it is unknown here."""
    store = (
        db.session.query(Store).filter_by(public_id=public_id).one_or_none()
        if isinstance(public_id, str) and 0 < len(public_id) <= 40
        else None
    )
    if store is None or not store.is_authorized:
        raise NotFound(_l("No such authorized store"), field="store")
    return store


def verify_wallet_password(store: Store, password: str, *, client: Client | None) -> bool:
    """R15: does ``password`` match the wallet password of the company that owns ``store``? The
    wallet service names the store it acts for. Raises ``WalletLocked`` while locked, even for the
    right password; ``WalletNotSet`` when there is none; ``NotFound`` is the caller's business.
    Commits: failures and locks are recorded whatever the answer."""
    try:
        result = _check(store, password, client)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if isinstance(result, datetime):
        raise WalletLocked(result, MAX_FAILURES)
    return result


def _not_locked(now: datetime):
    return or_(Company.wallet_locked_until.is_(None), Company.wallet_locked_until <= now)


def _check(store: Store, password: str, client: Client | None) -> bool | datetime:
    """True or False, or the end of the lock that refused the check."""
    company_id = store.company_id
    context = {"store": store.public_id, "client": client.client_id if client else None}
    now = clock.now()
    stored_hash, locked_until = db.session.execute(
        select(Company.wallet_password_hash, Company.wallet_locked_until).where(
            Company.id == company_id
        )
    ).one()
    if locked_until is not None and locked_until > now:
        return _refused(company_id, locked_until, context)
    if stored_hash is None:
        raise WalletNotSet(_l("The company has not set a wallet password"))

    if passwords.verify_password(stored_hash, password):
        values: dict = {"wallet_failures": 0}
        if passwords.needs_rehash(stored_hash):
            values["wallet_password_hash"] = passwords.hash_password(password)
        reset = db.session.execute(
            update(Company)
            .where(Company.id == company_id, _not_locked(now))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if reset.rowcount != 1:  # locked by a concurrent failure since we looked
            return _refused(company_id, _locked_until(company_id), context)
        return True

    counted = db.session.execute(
        update(Company)
        .where(Company.id == company_id, _not_locked(now))
        .values(wallet_failures=Company.wallet_failures + 1)
        .returning(Company.wallet_failures)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if counted is None:  # locked by a concurrent failure since we looked
        return _refused(company_id, _locked_until(company_id), context)
    audit.record(None, "wallet.check_failed", company_id=company_id, failures=counted, **context)
    if counted >= MAX_FAILURES:
        _lock(company_id, now, counted, store, context)
    return False


def _locked_until(company_id: int) -> datetime:
    return db.session.execute(
        select(Company.wallet_locked_until).where(Company.id == company_id)
    ).scalar_one()


def _refused(company_id: int, until: datetime, context: dict) -> datetime:
    audit.record(
        None,
        "wallet.check_refused_locked",
        company_id=company_id,
        until=until.isoformat(),
        **context,
    )
    return until


def _lock(company_id: int, now: datetime, failures: int, store: Store, context: dict) -> None:
    """The ``MAX_FAILURES``-th failure in a row: lock, start counting afresh for after the lock,
    and tell the owner. Runs while this transaction holds the row, so it happens once."""
    until = now + timedelta(seconds=LOCK_SECONDS)
    db.session.execute(
        update(Company)
        .where(Company.id == company_id)
        .values(wallet_locked_until=until, wallet_failures=0)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        None,
        "wallet.locked",
        company_id=company_id,
        until=until.isoformat(),
        failures=failures,
        **context,
    )
    owner = _main_account(company_id)
    if owner is not None and owner.email:
        outbox.send_email(
            "wallet_locked",
            owner.email,
            account=owner,
            company=owner.company.name,
            failures=failures,
            until=until,
            store=f"{store.name} ({store.marketplace_code}/{store.external_id})",
        )
