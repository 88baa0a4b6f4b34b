"""Counting what the app sends to the database, for the hot-path tests."""

from __future__ import annotations

from sqlalchemy import event

from idp.extensions import db


class Statements:
    """Every SQL statement the app sends while the block runs."""

    def __enter__(self):
        self.sent: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._record)
        return self

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        self.sent.append(statement)

    def __exit__(self, *exc) -> None:
        event.remove(db.engine, "before_cursor_execute", self._record)
