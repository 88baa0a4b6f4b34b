"""Single-use markers in the shared store (issue 6): authorization codes, TOTP steps, recovery
codes, activation and password-reset links, verification codes.

Each of these is used up in the database with a conditional UPDATE, and the database stays the
authority. In front of it, ``claim`` writes a marker with one atomic ``SET NX EX`` (``idp.kv``:
Redis when ``IDP_REDIS_URL`` is set, shared by every instance; otherwise an in-process store),
so a second use is refused before it reaches the row, on any instance.

A marker belongs to the database transaction that uses the thing up: when that transaction ends
without committing (a wrong password on the same form, a failed PKCE check, an error), the
marker is deleted again, so a retry that works without the marker still works with it. Keys
name what is used up by an identity that never reveals it (a hash, a step number), never by the
secret itself.
"""

from __future__ import annotations

import logging

from sqlalchemy import event

from idp.extensions import db
from idp.kv import kv

log = logging.getLogger(__name__)

PENDING = "idp.single_use.pending"  # session.info: (store, key) claimed in this transaction


def claim(key: str, ttl_seconds: int) -> bool:
    """Mark ``key`` used, atomically across processes; False when it already was (a replay).
    The marker is kept when the current transaction commits and taken back otherwise."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that the end of this transaction is seen even if nothing is written
    store = kv()
    if not store.set(key, "1", ttl_seconds, only_if_absent=True):
        return False
    session.info.setdefault(PENDING, []).append((store, key))
    return True


@event.listens_for(db.session, "after_commit")
def _keep(session) -> None:
    if not session.in_nested_transaction():  # a released savepoint commits nothing yet
        session.info.pop(PENDING, None)


@event.listens_for(db.session, "after_transaction_end")
def _release(session, transaction) -> None:
    """The outermost transaction ended without a commit (rolled back, or closed at the end of
    the request): whatever it claimed was not used up."""
    if transaction.parent is not None:
        return
    for store, key in session.info.pop(PENDING, ()):
        try:
            store.delete(key)
        except Exception:  # the marker expires on its own; meanwhile the thing stays refused
            log.exception("could not take back a single-use marker")
