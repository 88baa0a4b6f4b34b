"""Main and sub-accounts, their store assignments and roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    or_,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow
from idp.models.companies import Company, Store

MAIN = "main"
SUB = "sub"
MAIN_NAME_KEY = "main"  # the main account's reserved sub-name (SPEC "Words")

ACTIVE = "active"
PENDING = "pending"  # a self-registered main account not yet activated (R13)
DEPARTED = "departed"  # a disabled sub-account (R4)

# R21: who an account's personal information (its profile claims) is visible to. The rule that
# reads them is ``idp.services.privacy``.
PRIVACY_ALL_APPS = "all_apps"
PRIVACY_PARTNER_APPS = "partner_apps"  # first-party and verified partner apps
PRIVACY_NO_APP = "no_app"
PRIVACY_LEVELS = (PRIVACY_ALL_APPS, PRIVACY_PARTNER_APPS, PRIVACY_NO_APP)
# The default, for new accounts and for those that existed before R21: every app, as before.
# Sharing with a third-party app still needs the person's consent to each scope, as at the big
# providers (Google, Microsoft, Alibaba.com's "visible to all users"): the level is a ceiling
# the person may lower, not a second consent. A stricter default would silently take names and
# emails from the apps that work today, before anyone chose anything.
DEFAULT_PRIVACY = PRIVACY_ALL_APPS

account_roles = Table(
    "account_roles",
    db.Model.metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("role_id", ForeignKey("roles.id"), primary_key=True),
)


class Account(db.Model):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("company_id", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(  # the ``sub`` claim: never reused, rename-proof
        String(40), unique=True, default=lambda: new_public_id("acct")
    )
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # MAIN or SUB
    name: Mapped[str] = mapped_column(String(120))  # sub-name as typed; company name for main
    name_key: Mapped[str] = mapped_column(String(120))  # normalized sub-name; "main" for main
    nickname: Mapped[str | None] = mapped_column(String(120), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    email_key: Mapped[str | None] = mapped_column(String(254), unique=True, nullable=True)  # R3
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phone_key: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)  # R3
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)  # R16
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    default_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # R19: TOTP second factor. The secret is encrypted at rest; the last accepted time step is
    # kept so that a code cannot be replayed.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Brute-force protection: set when the account was locked, shown at the next sign-in.
    lockout_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # R13: the nonce of the one activation link that still works ("invite again" replaces it).
    activation_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # R17: the nonce of the one password-reset link that still works.
    password_reset_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # R14: a sub-account is muted until it verifies its phone or email.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # R22: notification kinds the account turned off (security notices cannot be).
    email_opt_out: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # A locale id of idp.i18n ("en", "zh_Hans") the account chose: its pages (when it has not
    # chosen on the page itself) and its emails; None: the browser's for pages, the company's
    # for emails. And the IANA time zone its dates are shown in (None: the company's).
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # R21: one of PRIVACY_LEVELS.
    privacy: Mapped[str] = mapped_column(
        String(16), default=DEFAULT_PRIVACY, server_default=DEFAULT_PRIVACY
    )
    # R20: the public id of the approved avatar it shows (the ``picture`` claim); None: none.
    # A photo waiting for review or rejected leaves it as it is.
    picture_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # R24: whether inquiries are allocated to this sub-account (the owner's switch, which the
    # staff member may flip for themself: a break), and its share of them (1 to
    # ``defaults.MAX_INQUIRY_WEIGHT``; twice the weight, twice the inquiries).
    receives_inquiries: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    inquiry_weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Issue 18: whom the sub-account reports to (its team's manager, ``inquiries:team``); never
    # a cycle (``services.inquiries.set_manager``).
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), nullable=True, index=True
    )

    # R19: whether the account holds a passkey, read with the row by a query that asks for it
    # (``passkeys.with_passkey_answer``: the password sign-in's lookup); None when the query did
    # not ask, and once the row is expired. Read it through ``passkeys.has_passkey``.
    holds_passkey: Mapped[bool | None] = query_expression()

    company: Mapped[Company] = relationship(lazy="joined")
    default_store: Mapped[Store | None] = relationship(foreign_keys=[default_store_id])
    # Loaded when used (claims, the console), not with every account row: accounts are loaded on
    # every token check, and eager collections there cascade into many queries.
    roles: Mapped[list[Role]] = relationship(secondary=account_roles, lazy="select")
    assignments: Mapped[list[StoreAssignment]] = relationship(
        back_populates="account",
        order_by="StoreAssignment.id",
        cascade="all, delete-orphan",
        lazy="select",
    )

    @property
    def is_main(self) -> bool:
        return self.kind == MAIN

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_muted(self) -> bool:
        """R14: a sub-account that has verified neither its phone nor its email."""
        return (
            not self.is_main and self.email_verified_at is None and (self.phone_verified_at is None)
        )

    @classmethod
    def unmuted(cls):
        """``is_muted``'s rule as SQL, negated (R14): the allocation's eligibility query (R24)
        filters with it. ``tests/test_r24_allocation.py`` checks that the two agree."""
        return or_(cls.email_verified_at.is_not(None), cls.phone_verified_at.is_not(None))

    @property
    def login_name(self) -> str:
        """The login name as displayed (``preferred_username``): ``acme`` or ``acme:alice``."""
        return self.company.name if self.is_main else f"{self.company.name}:{self.name}"

    @property
    def stores(self) -> list[Store]:
        """The stores it is given, in the order given (R9, R10): the main account every authorized
        store of its company, a sub-account those assigned to it, each judged by the one rule
        (``store_context.is_given``). While the account is active these are exactly the stores
        it holds (``store_context.holds``); a departed one keeps them for when it is re-enabled
        (R4), and is in none (no session, token or claims of it is live, R5)."""
        from idp.oauth.store_context import is_given

        if self.is_main:
            given = sorted(self.company.stores, key=lambda s: s.id)
        else:
            given = [a.store for a in self.assignments]
        return [store for store in given if is_given(self, store)]

    def __repr__(self) -> str:
        return f"<Account {self.login_name}>"


class StoreAssignment(db.Model):
    """A store given to a sub-account. The autoincrement id remembers the order stores were given
    in, which decides the first default (R9) and its replacement (R10)."""

    __tablename__ = "store_assignments"
    __table_args__ = (UniqueConstraint("account_id", "store_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(back_populates="assignments")
    store: Mapped[Store] = relationship(lazy="joined")


class Role(db.Model):
    """A named set of permissions defined by the owner; built-in ones come from templates."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("company_id", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    name_key: Mapped[str] = mapped_column(String(60))
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    template: Mapped[str | None] = mapped_column(String(40), nullable=True)  # built-in origin
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_builtin(self) -> bool:
        return self.template is not None
