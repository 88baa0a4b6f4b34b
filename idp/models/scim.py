"""What a company's HR system keeps about a sub-account through SCIM (issue 19), beside what
the console edits: its own id for the person and the parts of the name and of the enterprise
extension (RFC 7643 4.3) that have no column of their own."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class ScimProfile(db.Model):
    __tablename__ = "scim_profiles"
    __table_args__ = (
        Index("ix_scim_profiles_company_id_external_id", "company_id", "external_id"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    given_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    family_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    formatted_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    employee_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    department: Mapped[str | None] = mapped_column(String(120), nullable=True)
    email_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    phone_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    email_primary: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    phone_primary: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
