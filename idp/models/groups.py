"""Staff groups per store (R23), e.g. pre-sale and after-sale customer service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.accounts import Account
from idp.models.base import UTCDateTime, utcnow
from idp.models.companies import Store

group_members = Table(
    "group_members",
    db.Model.metadata,
    Column("group_id", ForeignKey("staff_groups.id"), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
)


class StaffGroup(db.Model):
    __tablename__ = "staff_groups"
    __table_args__ = (UniqueConstraint("store_id", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    # The HR system's own id for the group (SCIM ``externalId``, issue 19).
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name_key: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    store: Mapped[Store] = relationship(lazy="joined", foreign_keys=[store_id])
    members: Mapped[list[Account]] = relationship(secondary=group_members, lazy="select")
