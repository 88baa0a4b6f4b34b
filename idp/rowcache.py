"""Rows kept in the shared store (``idp.kv``) as JSON, and turned back into session objects
without a query: the cache-aside half of the hot paths (issue 6). A restored object is attached
to the current session as persistent, so its relationships still lazy-load and a change to it is
flushed as an ordinary UPDATE.

Whoever caches a row deletes its key when the row changes (see ``idp.oauth.shared_state``), and
every entry expires anyway."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import inspect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached

from idp.extensions import db


def dump(obj) -> str:
    """The row's column values as JSON (datetimes as ISO 8601)."""
    mapper = inspect(type(obj))
    values = {}
    for attr in mapper.column_attrs:
        value = getattr(obj, attr.key)
        values[attr.key] = {"dt": value.isoformat()} if isinstance(value, datetime) else value
    return json.dumps(values, separators=(",", ":"))


def load(cls, text: str, *, attach: bool = True):
    """The object ``dump`` wrote, attached to the session (the one already there if any); with
    ``attach=False`` a detached, read-only copy with every column loaded (for a row without
    relationships, shared between requests). None when the columns differ from the model's (a
    rolling upgrade that changed the table): the caller reads the database."""
    values = {
        key: datetime.fromisoformat(value["dt"])
        if isinstance(value, dict) and "dt" in value
        else value
        for key, value in json.loads(text).items()
    }
    mapper = inspect(cls)
    if values.keys() != {attr.key for attr in mapper.column_attrs}:
        return None  # written by a release with other columns: read the database instead
    return attached(cls, values, attach=attach)


def attached(cls, values: dict, *, attach: bool = True):
    """The persistent object of a row whose every column value is in hand (``load``; an UPDATE
    … RETURNING), with no query: the one already in the session if any."""
    mapper = inspect(cls)
    key = mapper.identity_key_from_primary_key(
        [values[column.key] for column in mapper.primary_key]
    )
    existing = db.session.identity_map.get(key) if attach else None
    if existing is not None:
        return existing
    configure_mappers()  # a no-op once done; a fresh process may not have done it yet
    obj = mapper.class_manager.new_instance()  # no constructor, no attribute events: cheap
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    if attach:
        db.session.add(obj)
    return obj
