"""Companies (tenants), marketplaces and the stores a company has authorized."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow


class Company(db.Model):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(40), unique=True, default=lambda: new_public_id("co")
    )
    name: Mapped[str] = mapped_column(String(120))  # original spelling, for display (R1)
    name_key: Mapped[str] = mapped_column(String(120), unique=True)  # NFKC + casefold
    sub_account_limit: Mapped[int] = mapped_column(Integer, default=99)  # R2
    # Every sub-account ever created, departed included (R2, R4); only ever incremented, with a
    # conditional UPDATE so the limit holds under concurrent creation.
    sub_account_count: Mapped[int] = mapped_column(Integer, default=0)
    require_totp: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # R19: for all staff
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The company's language (its owner's at registration) and time zone: the defaults of its
    # accounts' dates (idp.i18n.zone_of: UTC+8 for a Chinese-speaking company, else UTC).
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # R15: one wallet password for all of the company's stores, set by the main account only.
    wallet_password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    wallet_password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    wallet_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wallet_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # Loaded on access only (the main account's stores); never with every company row.
    stores: Mapped[list[Store]] = relationship(back_populates="company", lazy="select")

    def __repr__(self) -> str:
        return f"<Company {self.name}>"


class Marketplace(db.Model):
    """A marketplace and region: shopee-sg, lazada-my, taobao-cn. Seeded by migration."""

    __tablename__ = "marketplaces"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    platform: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(80))


STORE_AUTHORIZED = "authorized"
STORE_DEAUTHORIZED = "deauthorized"
OPERATE_BY_STORE = "by_store"
OPERATE_BY_PRODUCT = "by_product"


class Store(db.Model):
    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("company_id", "marketplace_code", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(40), unique=True, default=lambda: new_public_id("st")
    )
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    marketplace_code: Mapped[str] = mapped_column(ForeignKey("marketplaces.code"))
    external_id: Mapped[str] = mapped_column(String(80))  # the store's own id on its marketplace
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=STORE_AUTHORIZED)  # R8, R10
    operation_mode: Mapped[str] = mapped_column(String(16), default=OPERATE_BY_STORE)  # R12
    authorized_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deauthorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # R24: the owner's allocation rules for the store's inquiries: on or off, and the staff
    # group (R23) they go to (None: every sub-account assigned to the store).
    inquiry_allocation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    inquiry_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_groups.id", use_alter=True), nullable=True
    )

    company: Mapped[Company] = relationship(back_populates="stores")
    marketplace: Mapped[Marketplace] = relationship(lazy="joined")
    operators: Mapped[list[StoreOperator]] = relationship(
        cascade="all, delete-orphan", lazy="select"
    )

    @property
    def is_authorized(self) -> bool:
        return self.status == STORE_AUTHORIZED

    def __repr__(self) -> str:
        return f"<Store {self.marketplace_code}/{self.external_id}>"


class StoreOperator(db.Model):
    """R12: who operates a store, for reporting only. No rows on a by-store store = main account."""

    __tablename__ = "store_operators"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
