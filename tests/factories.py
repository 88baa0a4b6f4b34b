"""Test data through the real services (no shortcuts around the rules they test)."""

from __future__ import annotations

import itertools

from idp.extensions import db
from idp.models import Account, Store
from idp.services import accounts, companies, stores

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def company(name: str = "acme", *, limit: int = 99, password: str = PASSWORD) -> Account:
    """A company and its main account (returned: the owner acts through it)."""
    return companies.create_company(
        name, email=f"owner-{next(_seq)}@example.test", password=password, sub_account_limit=limit
    )


def store(
    owner: Account,
    marketplace: str = "shopee-sg",
    external_id: str | None = None,
    name: str | None = None,
) -> Store:
    external_id = external_id or str(1000 + next(_seq))
    return stores.authorize_store(
        owner, marketplace, external_id, name or f"{owner.company.name} {marketplace} {external_id}"
    )


def staff(
    owner: Account,
    name: str = "alice",
    *,
    stores_: list[Store] | None = None,
    password: str = PASSWORD,
    email: str | None = None,
    roles: list[str] | None = None,
    phone: str | None = None,
    verified: bool = True,
) -> Account:
    """A sub-account; verified (so not muted, R14) unless ``verified=False``."""
    account = accounts.create_sub_account(
        owner,
        name=name,
        password=password,
        email=email,
        phone=phone,
        roles=roles or [],
        stores=stores_ or [],
    )
    if verified:
        accounts.mark_verified(account, "email")
        db.session.commit()
    return account
