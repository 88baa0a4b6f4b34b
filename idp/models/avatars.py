"""Avatars (R20, issue 17): each photo an account sent, its review, and (with the database
storage) its resized copies. The account shows one approved photo at a time
(``Account.picture_id``, the ``picture`` claim); a new one waits for review beside it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.accounts import Account
from idp.models.base import UTCDateTime, new_public_id, utcnow

PENDING = "pending"  # waits for the owner's (or, for a main account, the operator's) review
APPROVED = "approved"  # shown while it is the account's picture
REJECTED = "rejected"  # refused with a reason; the copies are deleted
REPLACED = "replaced"  # was approved, then another photo was; the copies are deleted
WITHDRAWN = "withdrawn"  # a pending photo the account replaced before its review


class Avatar(db.Model):
    __tablename__ = "avatars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The opaque id in the photo's URL (/avatars/<public_id>.jpg): a new photo, a new URL.
    public_id: Mapped[str] = mapped_column(
        String(40), unique=True, default=lambda: new_public_id("av")
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    width: Mapped[int] = mapped_column(Integer)  # of the photo as sent, once turned upright
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)  # of the JPEG as sent
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # a rejection's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)

    account: Mapped[Account] = relationship(foreign_keys=[account_id])


class AvatarImage(db.Model):
    """A resized copy kept in the database (``IDP_AVATAR_STORAGE=db``)."""

    __tablename__ = "avatar_images"

    public_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    size: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
