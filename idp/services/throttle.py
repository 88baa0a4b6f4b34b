"""Brute-force protection for sign-in, per login name and per pair of login name and client IP.

Failures are counted per login name as typed (normalized, R1), whether or not an account has that
name: an unknown name and a wrong password are slowed down and locked out alike, and the refusal
reads the same, so no one learns which login names exist.

- **A name** is locked for ``LOCK_SECONDS`` at ``LOCK_AFTER`` failures within ``WINDOW_SECONDS``,
  whatever the addresses they came from: at most 10 guesses per name per 15 minutes. An owner's
  reset of a staff member's password (R16), or a password reset by email (R17), lifts the lock
  (``lift``): otherwise anyone could keep a staff member out with 10 wrong guesses every 15
  minutes.
- **A pair of name and IP** waits ``2 ** (n - DELAY_AFTER)`` seconds (at most
  ``MAX_DELAY_SECONDS``) before each attempt after its ``DELAY_AFTER``-th failure. The person
  who mistyped is slowed down; the same name from another address, and every other person behind
  the same office NAT, are not. (An IP-wide lock shut everyone behind one NAT out after 100
  failures: issue 12.)

Deadlines are kept as epoch seconds in the stored values (the store's expiry only cleans up), so
callers and tests can pass ``now``.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime

from idp.defaults import DELAY_AFTER, LOCK_AFTER, LOCK_SECONDS, MAX_DELAY_SECONDS, THROTTLE_WINDOW
from idp.errors import Throttled  # noqa: F401  (raised here; callers catch throttle.Throttled)
from idp.extensions import db
from idp.i18n import wait_for  # noqa: F401  (a wait in a message: throttle.wait_for)
from idp.kv import Store
from idp.models import Account
from idp.models.base import utcnow
from idp.services.names import normalize

WINDOW_SECONDS = THROTTLE_WINDOW


def _digest(login_key: str) -> str:
    """The name hashed: the store holds no login names, and hostile input cannot make long or
    odd keys."""
    return hashlib.sha256(normalize(login_key.strip()).encode()).hexdigest()


def _name_keys(login_key: str) -> tuple[str, str]:
    """Failure counter and lock of a login name."""
    digest = _digest(login_key)
    return f"signin:fail:{digest}", f"signin:lock:{digest}"


def _pair_keys(login_key: str, ip: str) -> tuple[str, str]:
    """Failure counter and last failure of a name tried from one IP."""
    digest = hashlib.sha256(f"{_digest(login_key)}|{ip.strip()[:64]}".encode()).hexdigest()
    return f"signin:pairfail:{digest}", f"signin:pairlast:{digest}"


def _float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def check(store: Store, login_key: str, ip: str, *, now: float | None = None) -> None:
    """Raise ``Throttled`` when this login name is locked, or must wait from this IP. Call before
    checking the password."""
    now = time.time() if now is None else now
    _, lock_key = _name_keys(login_key)
    pair_fail_key, pair_last_key = _pair_keys(login_key, ip)
    locked, failures, last = store.get_many([lock_key, pair_fail_key, pair_last_key])
    waits = []
    locked_until = _float(locked)
    if locked_until is not None and locked_until > now:
        waits.append(locked_until - now)
    failures = int(failures or 0)
    last_failure = _float(last)
    if failures >= DELAY_AFTER and last_failure is not None:
        delay = min(2 ** (failures - DELAY_AFTER), MAX_DELAY_SECONDS)
        if last_failure + delay > now:
            waits.append(last_failure + delay - now)
    if waits:
        raise Throttled(math.ceil(max(waits)))


def record_failure(store: Store, login_key: str, ip: str, *, now: float | None = None) -> bool:
    """Count a failed sign-in for the name and for the name from this IP. True when this failure
    locked the name: the caller then calls ``note_lockout`` on the account, if there is one."""
    now = time.time() if now is None else now
    pair_fail_key, pair_last_key = _pair_keys(login_key, ip)
    store.incr(pair_fail_key, WINDOW_SECONDS)
    store.set(pair_last_key, str(now), WINDOW_SECONDS)
    fail_key, lock_key = _name_keys(login_key)
    failures = store.incr(fail_key, WINDOW_SECONDS)
    if failures >= LOCK_AFTER:
        # Counting restarts once the lock is set, so exactly one failure reports the lock.
        store.set(lock_key, str(now + LOCK_SECONDS), LOCK_SECONDS)
        store.delete(fail_key)
        return failures == LOCK_AFTER
    return False


def record_success(store: Store, login_key: str, ip: str) -> None:
    """A correct password clears the name's failures and lock, and its pair with this IP."""
    store.delete(*_name_keys(login_key), *_pair_keys(login_key, ip))


def lift(store: Store, login_key: str) -> None:
    """Unlock a name (its holder proved who they are another way, or their owner reset them).
    Pairs of the name with other IPs keep their delay: at most a minute."""
    store.delete(*_name_keys(login_key))


def second_factor_key(account: Account) -> str:
    """The name under which an account's second-factor codes are counted (6 digits must not be
    guessable by brute force): the same limits as for passwords."""
    return f"2fa:{account.public_id}"


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


def fixed_window(store: Store, key: str, limit: int, window: int, now: float) -> float | None:
    """Count one call under ``key`` in the fixed ``window`` (seconds) that ``now`` falls in: the
    store's atomic INCR with its expiry, so every instance counts together. Past ``limit``, the
    seconds left in that window (for ``Retry-After``); else None. The admin API's and SCIM's
    per-client limit and R20's photo uploads."""
    slot = int(now // window)
    if store.incr(f"{key}:{slot}", window) <= limit:
        return None
    return (slot + 1) * window - now
