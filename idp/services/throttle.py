"""Brute-force protection for sign-in, per login name and per client IP.

Failures are counted per login name as typed (normalized, R1), whether or not an account has that
name: an unknown name and a wrong password are slowed down and locked out alike, and the refusal
reads the same, so no one learns which login names exist. After ``DELAY_AFTER`` failures within
``WINDOW_SECONDS`` each further attempt waits ``2 ** (n - DELAY_AFTER)`` seconds (at most
``MAX_DELAY_SECONDS``); at ``LOCK_AFTER`` failures the name is locked for ``LOCK_SECONDS``. One
client IP is locked after ``IP_LOCK_AFTER`` failures over any names within the window.

Deadlines are kept as epoch seconds in the stored values (the store's expiry only cleans up), so
callers and tests can pass ``now``.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime

from idp.errors import DomainError
from idp.extensions import db
from idp.kv import Store
from idp.models import Account
from idp.models.base import utcnow
from idp.services.names import normalize

WINDOW_SECONDS = 15 * 60
DELAY_AFTER = 3
MAX_DELAY_SECONDS = 60
LOCK_AFTER = 10
LOCK_SECONDS = 15 * 60
IP_LOCK_AFTER = 100
IP_LOCK_SECONDS = 15 * 60


class Throttled(DomainError):
    """Too many failed sign-ins for this login name or from this IP. The message depends only on
    the wait, never on whether the account exists."""

    code = "temporarily_locked"
    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            f"Too many failed sign-ins. Try again in {describe_wait(self.retry_after)}."
        )


def describe_wait(seconds: int, *, minutes_from: int = 60) -> str:
    """``45 seconds``, ``3 minutes``: how long until a retry, for the person reading it."""
    if seconds < minutes_from:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _name_keys(login_key: str) -> tuple[str, str, str]:
    """Counter, last-failure and lock keys of a login name. The name is hashed: the store holds
    no login names, and hostile input cannot make long or odd keys."""
    digest = hashlib.sha256(normalize(login_key.strip()).encode()).hexdigest()
    return f"signin:fail:{digest}", f"signin:last:{digest}", f"signin:lock:{digest}"


def _ip_keys(ip: str) -> tuple[str, str]:
    ip = ip.strip()[:64]
    return f"signin:ipfail:{ip}", f"signin:iplock:{ip}"


def _float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def check(store: Store, login_key: str, ip: str, *, now: float | None = None) -> None:
    """Raise ``Throttled`` when this login name must wait or is locked, or the IP is locked.
    Call before checking the password."""
    now = time.time() if now is None else now
    fail_key, last_key, lock_key = _name_keys(login_key)
    keys = [lock_key, fail_key, last_key] + ([_ip_keys(ip)[1]] if ip else [])
    values = store.get_many(keys)  # one round trip
    waits = []
    locked_until = _float(values[0])
    if locked_until is not None and locked_until > now:
        waits.append(locked_until - now)
    failures = int(values[1] or 0)
    last_failure = _float(values[2])
    if failures >= DELAY_AFTER and last_failure is not None:
        delay = min(2 ** (failures - DELAY_AFTER), MAX_DELAY_SECONDS)
        if last_failure + delay > now:
            waits.append(last_failure + delay - now)
    if ip:
        ip_locked_until = _float(values[3])
        if ip_locked_until is not None and ip_locked_until > now:
            waits.append(ip_locked_until - now)
    if waits:
        raise Throttled(math.ceil(max(waits)))


def record_failure(store: Store, login_key: str, ip: str, *, now: float | None = None) -> bool:
    """Count a failed sign-in for the name and the IP. True when this failure locked the name:
    the caller then calls ``note_lockout`` on the account, if there is one."""
    now = time.time() if now is None else now
    if ip:
        ip_fail_key, ip_lock_key = _ip_keys(ip)
        if store.incr(ip_fail_key, WINDOW_SECONDS) >= IP_LOCK_AFTER:
            store.set(ip_lock_key, str(now + IP_LOCK_SECONDS), IP_LOCK_SECONDS)
            store.delete(ip_fail_key)
    fail_key, last_key, lock_key = _name_keys(login_key)
    failures = store.incr(fail_key, WINDOW_SECONDS)
    if failures >= LOCK_AFTER:
        # Counting restarts once the lock is set, so exactly one failure reports the lock.
        store.set(lock_key, str(now + LOCK_SECONDS), LOCK_SECONDS)
        store.delete(fail_key, last_key)
        return failures == LOCK_AFTER
    store.set(last_key, str(now), WINDOW_SECONDS)
    return False


def record_success(store: Store, login_key: str, ip: str) -> None:
    """A correct password clears the name's failures. The IP's count stays: one success must not
    reset an attacker's budget for other names."""
    store.delete(*_name_keys(login_key))


def note_lockout(account: Account) -> None:
    """Remember that the account was locked, to tell its owner at the next sign-in. The caller
    commits."""
    account.lockout_notice_at = utcnow()


def pop_lockout_notice(account: Account) -> datetime | None:
    """When the account was locked since its last sign-in (None if it was not); clears it."""
    noticed = account.lockout_notice_at
    if noticed is not None:
        account.lockout_notice_at = None
        db.session.commit()
    return noticed
