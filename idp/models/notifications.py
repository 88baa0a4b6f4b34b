"""R25: who is emailed for each kind of event (the company's routing table), and the events
downstream apps published (one row per event id, so that a replay emails nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class NotificationRoute(db.Model):
    """The owner's choice for one kind of event. No row: the kind's default (R25's table)."""

    __tablename__ = "notification_routes"
    __table_args__ = (UniqueConstraint("company_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(20))  # idp.services.routing.RECIPIENTS
    # The named accounts (ids), when ``recipient`` is "accounts".
    account_ids: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    # The staff group (R23), when ``recipient`` is "group"; a deleted group leaves None.
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_groups.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NotificationEvent(db.Model):
    """An event a downstream app published (R25). ``(client_id, event_id)`` is unique: the
    database, shared by every instance, is what makes a replayed event email nothing."""

    __tablename__ = "notification_events"
    __table_args__ = (UniqueConstraint("client_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    event_id: Mapped[str] = mapped_column(String(128))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    kind: Mapped[str] = mapped_column(String(40))
    # Who was emailed (account ids), and whether the fallback to the main account decided it.
    recipients: Mapped[list[int]] = mapped_column(JSON, default=list)
    fell_back: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
