"""Writes the audit log. Called inside the service's own transaction, so an action and its record
land together or not at all."""

from __future__ import annotations

from typing import Any

from idp.extensions import db
from idp.models import Account, AuditEvent

SYSTEM = "system"


def record(
    actor: Account | None,
    action: str,
    *,
    company_id: int | None,
    target: Any = None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        company_id=company_id,
        actor_id=actor.id if actor is not None else None,
        actor=actor.login_name if actor is not None else SYSTEM,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=getattr(target, "public_id", None) if target is not None else None,
        details=details,
    )
    db.session.add(event)
    return event


def events_for(company_id: int, *, limit: int = 100) -> list[AuditEvent]:
    return (
        db.session.query(AuditEvent)
        .filter_by(company_id=company_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
        .all()
    )
