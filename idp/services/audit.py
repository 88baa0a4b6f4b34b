"""Writes the audit log. Called inside the service's own transaction, so an action and its record
land together or not at all.

An operator acting through the ``idp`` command acts for a company (the services check the
company's main account as the actor), but the record names the operator (``cli:<OS user>``),
with the account it acted for, so that it is never mistaken for the owner's own action."""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from idp.extensions import db
from idp.models import Account, AuditEvent

SYSTEM = "system"
_operator: ContextVar[str | None] = ContextVar("idp_audit_operator", default=None)


def os_user() -> str:
    """Who runs the command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid {os.getuid()}"


@contextlib.contextmanager
def operator(name: str) -> Iterator[None]:
    """Records written inside name ``name`` (``cli:root``) as the actor, acting for the
    account the service was given."""
    token = _operator.set(name[:160])
    try:
        yield
    finally:
        _operator.reset(token)


def record(
    actor: Account | None,
    action: str,
    *,
    company_id: int | None,
    target: Any = None,
    **details: Any,
) -> AuditEvent:
    acting = _operator.get()
    if acting is not None:
        details = {**details, "acting_for": actor.login_name if actor is not None else None}
        actor_id, actor_name = None, acting
    else:
        actor_id = actor.id if actor is not None else None
        actor_name = actor.login_name if actor is not None else SYSTEM
    event = AuditEvent(
        company_id=company_id,
        actor_id=actor_id,
        actor=actor_name,
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
