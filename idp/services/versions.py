"""Versions of what an owner edits (a sub-account, a role, a group, a store's operators, the
company's settings), so that two edits at once never lose one of them: the console's forms carry
the version they were shown with, and the admin API sends it as its ``ETag`` and takes it back
in ``If-Match`` (RFC 9110 13.1.1).

A version is a fingerprint of the editable facts, not a counter: no column, no migration, and
the console and the API agree on it without either writing anything. The check and the write
are one step: ``check`` first takes the row's lock (``lock``), then reads the row again and
compares, inside the service's own transaction, so a second edit made with the same version
waits for the first to commit and then finds the version changed."""

from __future__ import annotations

import hashlib
import hmac
import json

from sqlalchemy import select, update

from idp.errors import EditConflict
from idp.extensions import db

VERSION_LENGTH = 16  # hex characters of a fingerprint


def fingerprint(facts: dict) -> str:
    """A short, stable fingerprint of ``facts`` (``VERSION_LENGTH`` hex characters)."""
    encoded = json.dumps(facts, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:VERSION_LENGTH]


def could_be(expected: str) -> bool:
    """Whether ``expected`` has a fingerprint's shape. Anything else (a non-ASCII form value,
    which ``hmac.compare_digest`` refuses with a TypeError) is no version this service gave."""
    return (
        isinstance(expected, str)
        and len(expected) == VERSION_LENGTH
        and all(c in "0123456789abcdef" for c in expected)
    )


def lock(row) -> None:
    """Queue concurrent writers of one row until this transaction ends. PostgreSQL: ``SELECT …
    FOR UPDATE`` on the row alone (rows loaded with an outer join cannot be locked). SQLite has
    no row locks: an UPDATE that changes nothing takes the database's write lock instead, before
    anything is read, so the row read next is the one the other writer committed."""
    model = type(row)
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            update(model)
            .where(model.id == row.id)
            .values(id=model.id)
            .execution_options(synchronize_session=False)
        )
    else:
        db.session.execute(select(model.id).where(model.id == row.id).with_for_update())
    db.session.refresh(row)


def check(row, expected: str | None, version_of, message) -> None:
    """Refuse with ``EditConflict`` (``message``) when ``row`` is no longer at ``expected``;
    nothing to check when ``expected`` is None (a caller that asked for no check). A value that
    is no version at all is answered as a stale one: the edit was not made against this row."""
    if expected is None:
        return
    if not could_be(expected):
        raise EditConflict(message)
    lock(row)
    if not hmac.compare_digest(expected, version_of(row)):
        raise EditConflict(message)
