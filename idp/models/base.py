"""Column helpers shared by every model."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id(prefix: str) -> str:
    """Opaque, never reused identifiers for what leaves the provider (``sub``, company id)."""
    return f"{prefix}_{secrets.token_hex(10)}"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
