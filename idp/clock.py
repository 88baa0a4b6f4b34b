"""The time, injectable: tests move an app's clock to check 72-hour links and 15-minute locks
without waiting. Production uses the real UTC time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app, has_app_context

from idp.models.base import utcnow


def now() -> datetime:
    if has_app_context():
        clock: Callable[[], datetime] | None = current_app.extensions.get("idp.clock")
        if clock is not None:
            return clock()
    return utcnow()
