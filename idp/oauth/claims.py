"""What tokens and userinfo say about an account (SPEC "What downstream apps see").

``profile_claims`` runs on every token issue and ID token: it is answered from the shared store
while nothing it is made of has changed, else built with a few queries (roles, stores, groups)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import g

from idp.extensions import db
from idp.models import Account, Store
from idp.models.accounts import ACTIVE, MAIN
from idp.oauth import shared_state
from idp.services.groups import groups_of
from idp.services.roles import permissions_of

# Messaging scopes a muted account (R14) never receives.
MESSAGING_SCOPES = frozenset({"chat:send", "messages:send"})


def is_muted(account: Account) -> bool:
    """R14: an unverified sub-account is muted: tokens say so and carry no messaging scope."""
    return account.is_muted


def profile_claims(sub: str, store: str | None) -> dict | None:
    """The seller claims of account ``sub`` working in ``store`` (public ids; the active store
    of a token, R27), or None when there is no such account. Cached in the shared store until
    something they are made of changes (``shared_state.generational``)."""

    def build() -> str | None:
        account = fresh(Account, sub)
        if account is None:
            return None
        return json.dumps(_profile_claims(account, fresh(Store, store) if store else None))

    text = shared_state.generational(profile_key(sub, store), build)
    return None if text is None else json.loads(text)


def profile_key(sub: str, store: str | None) -> str:
    return f"pc:{sub}:{store or '-'}"


@dataclass(frozen=True)
class HeldStore:
    id: int
    public_id: str
    marketplace_code: str


@dataclass(frozen=True)
class AccountFacts:
    """What the authorization endpoint asks of an account (R6, R9, R16, R26, R27), with the
    stores it holds in the order given: read from the shared store while nothing it is made of
    has changed, so that opening an app of a signed-in account costs no query (issue 6).
    Answers the same questions as an ``Account`` row (``store_context.choose`` takes either)."""

    id: int
    public_id: str
    kind: str
    status: str
    must_change_password: bool
    default_store_id: int | None
    login_name: str
    stores: tuple[HeldStore, ...]

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_main(self) -> bool:
        return self.kind == MAIN


def account_facts(account_id: int) -> AccountFacts | None:
    """The facts of account ``account_id`` (None when there is no such account), read once per
    request (a change flushed in it starts over: ``shared_state``)."""
    known = g.setdefault(shared_state.ACCOUNT_FACTS, {})
    if account_id not in known:
        known[account_id] = _account_facts(account_id)
    return known[account_id]


def _account_facts(account_id: int) -> AccountFacts | None:
    def build() -> str | None:
        account = db.session.get(Account, account_id, populate_existing=True)
        if account is None:
            return None
        return json.dumps(
            {
                "id": account.id,
                "public_id": account.public_id,
                "kind": account.kind,
                "status": account.status,
                "must_change_password": account.must_change_password,
                "default_store_id": account.default_store_id,
                "login_name": account.login_name,
                "stores": [[s.id, s.public_id, s.marketplace_code] for s in account.stores],
            }
        )

    text = shared_state.generational(f"af:{account_id}", build)
    if text is None:
        return None
    facts = json.loads(text)
    facts["stores"] = tuple(HeldStore(*store) for store in facts["stores"])
    return AccountFacts(**facts)


def fresh(model, public_id: str):
    """The row with this public id, read now: a row loaded earlier in the transaction may
    predate the change that started the current claims generation (this transaction's own
    changes are flushed first, so they are kept)."""
    return db.session.query(model).filter_by(public_id=public_id).populate_existing().one_or_none()


def _profile_claims(account: Account, store: Store | None) -> dict:
    groups = groups_of(account)
    return {
        "preferred_username": account.login_name,
        "name": account.nickname or account.name,
        "company": {"id": account.company.public_id, "name": account.company.name},
        "account_type": account.kind,
        "roles": sorted(r.name for r in account.roles) if not account.is_main else ["owner"],
        "permissions": permissions_of(account),
        "stores": [s.public_id for s in account.stores],
        "store": store.public_id if store else None,
        "marketplace": store.marketplace_code if store else None,
        "groups": [f"{g.store.public_id}/{g.name}" for g in groups],
        "muted": is_muted(account),
    }


def userinfo_claims(account: Account, scope: str, store: Store | None) -> dict:
    """Claims by scope (OIDC Core 5.4): ``profile`` for the seller claims, ``email``, ``phone``."""
    scopes = set((scope or "").split())
    claims: dict = {"sub": account.public_id}
    if "profile" in scopes:
        claims.update(profile_claims(account.public_id, store.public_id if store else None))
        if account.gender:
            claims["gender"] = account.gender
    if "email" in scopes and account.email:
        claims["email"] = account.email
        claims["email_verified"] = account.email_verified_at is not None
    if "phone" in scopes and account.phone:
        claims["phone_number"] = account.phone
        claims["phone_number_verified"] = account.phone_verified_at is not None
    return claims
