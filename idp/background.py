"""Background delivery: one daemon thread per app and job, woken right after the transaction
that queued work commits, and every few seconds for retries. Used by the back-channel logout
outbox and the email/SMS outbox, so that no request ever waits for another server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import event, inspect, select, update

from idp import rowcache
from idp.extensions import db
from idp.models.base import utcnow

log = logging.getLogger(__name__)


class Worker:
    POLL_SECONDS = 5.0

    def __init__(self, app: Flask, name: str, job: Callable[[], object]) -> None:
        self.app, self.name, self.job = app, name, job
        self.event = threading.Event()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def wake_after_commit(self) -> None:
        """Run the job once the current transaction has committed (its rows are visible)."""
        session = db.session()
        flag = f"_idp_wake_{self.name}"
        if getattr(session, flag, False):
            return
        setattr(session, flag, True)

        def after_commit(_session) -> None:
            setattr(_session, flag, False)
            self.wake()

        event.listen(session, "after_commit", after_commit, once=True)

    def wake(self) -> None:
        if self.stopped.is_set():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self.thread.start()
        self.event.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the round under way, if any, and run no more (an app being shut down)."""
        self.stopped.set()
        self.event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.event.wait(self.POLL_SECONDS)
            self.event.clear()
            if self.stopped.is_set():
                return
            with self.app.app_context():
                try:
                    self.job()
                except Exception:  # keep the worker alive whatever one round met
                    log.exception("%s: delivery round failed", self.name)
                    db.session.rollback()
                finally:
                    db.session.remove()


def worker(name: str, job: Callable[[], object]) -> Worker:
    """The current app's worker for ``name`` (the real app, never the ``current_app`` proxy:
    the worker's thread has no app context to resolve a proxy in)."""
    app = current_app._get_current_object()
    key = f"idp.worker.{name}"
    if key not in app.extensions:
        app.extensions[key] = Worker(app, name, job)
    return app.extensions[key]


def stop_all(app: Flask) -> None:
    """Stop every background worker of ``app`` (before its database goes away)."""
    for worker_ in [w for w in app.extensions.values() if isinstance(w, Worker)]:
        worker_.stop()


def lease_due(model, done, *, limit: int = 50, lease_seconds: int = 60):
    """Outbox rows that are due (``done`` unset, not given up, ``next_attempt_at`` passed), each
    leased before it is yielded: its ``next_attempt_at`` moves ahead in a committed UPDATE, so
    several instances never work on the same row. Real time, never a test's clock."""
    now = utcnow()
    due = db.session.scalars(
        select(model.id)
        .where(done.is_(None), model.given_up_at.is_(None), model.next_attempt_at <= now)
        .order_by(model.id)
        .limit(limit)
    ).all()
    # The lease answers with the whole row, which then needs no query of its own.
    columns = [getattr(model, attr.key) for attr in inspect(model).column_attrs]
    for row_id in due:
        leased = (
            db.session.execute(
                update(model)
                .where(model.id == row_id, done.is_(None), model.next_attempt_at <= now)
                .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
                .returning(*columns)
                .execution_options(synchronize_session=False)
            )
            .mappings()
            .first()
        )
        db.session.commit()
        if leased is not None:  # else another instance has it
            yield rowcache.attached(model, dict(leased))


def record_attempt(row, error: str | None, *, done: str, max_attempts: int, max_delay: int) -> None:
    """After one delivery attempt: done, or retried with exponential backoff, or given up."""
    row.attempts += 1
    if error is None:
        setattr(row, done, utcnow())
    else:
        row.last_error = error[:255]
        if row.attempts >= max_attempts:
            row.given_up_at = utcnow()
        else:
            delay = min(5 * 2**row.attempts, max_delay)
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
