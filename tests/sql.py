"""Counting what the app sends to the database, for the hot-path tests."""

from __future__ import annotations

import threading

from sqlalchemy import event

from idp.extensions import db


class Statements:
    """Every SQL statement the app sends while the block runs (``sent``); ``here``: those sent
    by the thread that opened the block (not a background worker's, such as the outbox's)."""

    def __enter__(self):
        self.sent: list[str] = []
        self.here: list[str] = []
        self._thread = threading.get_ident()
        event.listen(db.engine, "before_cursor_execute", self._record)
        return self

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        self.sent.append(statement)
        if threading.get_ident() == self._thread:
            self.here.append(statement)

    def __exit__(self, *exc) -> None:
        event.remove(db.engine, "before_cursor_execute", self._record)
