"""What tokens and userinfo say about an account (SPEC "What downstream apps see").

``profile`` runs on every token issue and ID token: it is answered from the shared store
while nothing it is made of has changed, else built with a few queries (roles, stores, groups).

Every answer cached here (and userinfo's, ``idp.oauth.userinfo``) declares below what it is
made of (``PROFILE_CLAIMS``, ``ACCOUNT_FACTS``, ``USERINFO``: issue 14): ``shared_state``
starts a new claims generation when a change to any of it commits, from these declarations and
no list of its own. A builder that reads something new names it here, or serves it stale for
``CLAIMS_TTL``; ``tests/test_claims_sources.py`` fails when it does not."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app, g
from sqlalchemy import Table

from idp.extensions import db
from idp.models import (
    Account,
    Company,
    Role,
    StaffGroup,
    Store,
    StoreAssignment,
    account_roles,
    group_members,
)
from idp.models.accounts import ACTIVE, MAIN
from idp.oauth import shared_state
from idp.services import privacy
from idp.services.groups import groups_of
from idp.services.inquiries import team_of
from idp.services.profile import gender_claim
from idp.services.roles import permissions_of

# --- what the cached answers are made of (issue 14) -----------------------------------------------

EVERY = None  # every attribute of the model: any change to one of its rows


@dataclass(frozen=True)
class Cached:
    """One cached answer, by its key prefix in the shared store, and what it is built from:
    for each model, the attributes its builder reads (``EVERY``: all of them), and the
    association tables (no model of their own) whose rows it reads. A row of a named model or
    table added or removed always counts. ``keys``: attributes its cache key is made of (the
    answer for another value is another entry, never a stale one); primary keys are not named,
    a row never changes its own.

    Watched through the ORM session only (``shared_state.init_app``): a statement on another
    connection (``token_store``'s autocommit engine, which writes only ``issued_tokens`` and
    ``authorization_codes``, none of them read here), or SQL by hand, needs
    ``shared_state.new_generation()`` (``idp shared-state-reset``) to be seen before the
    cached copies expire."""

    prefix: str
    reads: Mapping[type, frozenset[str] | None]
    tables: tuple[Table, ...] = ()
    keys: Mapping[type, frozenset[str]] = field(default_factory=dict)


def _names(*names: str) -> frozenset[str]:
    return frozenset(names)


# ``preferred_username`` and ``name`` (``login_name``), ``company``, ``account_type``, ``roles``
# and ``permissions``, ``team`` (with ``inquiries:team``), ``stores`` (a sub-account's
# assignments, or every authorized store of the main account's company), the token's ``store``
# and ``marketplace``, ``groups``, ``muted``, ``picture`` (the approved avatar, R20: approving one
# changes ``picture_id``); and the account's privacy level (R21), which decides who is released
# the profile claims.
PROFILE_CLAIMS = Cached(
    "prof:",  # "pc:" held the claims alone, before R21
    reads={
        Account: _names(
            "name",
            "nickname",
            "kind",
            "company_id",
            "roles",
            "assignments",
            "email_verified_at",  # muted (R14)
            "phone_verified_at",
            "privacy",  # R21
            "picture_id",  # R20
            "manager_id",  # team: the accounts that report to this one (issue 18)
        ),
        Company: _names("public_id", "name"),
        Store: _names("public_id", "company_id", "status", "marketplace_code"),
        StoreAssignment: EVERY,
        Role: _names("name", "permissions"),
        StaffGroup: _names("store_id", "name", "name_key", "members"),
    },
    tables=(account_roles, group_members),
    keys={Account: _names("public_id"), Store: _names("public_id")},
)

# What the authorization endpoint asks of an account (``AccountFacts``).
ACCOUNT_FACTS = Cached(
    "af:",
    reads={
        Account: _names(
            "public_id",
            "kind",
            "status",
            "must_change_password",  # R16
            "default_store_id",
            "name",  # login_name
            "company_id",
            "assignments",  # stores
        ),
        Company: _names("name"),
        Store: _names("public_id", "company_id", "status", "marketplace_code"),
        StoreAssignment: EVERY,
    },
)

# The userinfo answer (``idp.oauth.userinfo``): the profile claims, and by scope the contacts;
# nothing at all for an account that is not active. Cached with the account's privacy level,
# whatever the client: each client is released its part when it asks (R21).
USERINFO = Cached(
    "info:",  # "ui:" held the answer alone, before R21
    reads={
        **PROFILE_CLAIMS.reads,
        Account: PROFILE_CLAIMS.reads[Account]
        | _names("status", "gender", "email", "phone", "email_verified_at", "phone_verified_at"),
    },
    tables=PROFILE_CLAIMS.tables,
    keys=PROFILE_CLAIMS.keys,
)

CACHED = (PROFILE_CLAIMS, ACCOUNT_FACTS, USERINFO)

# Messaging scopes a muted account (R14) never receives.
MESSAGING_SCOPES = frozenset({"chat:send", "messages:send"})


def is_muted(account: Account) -> bool:
    """R14: an unverified sub-account is muted: tokens say so and carry no messaging scope."""
    return account.is_muted


@dataclass(frozen=True)
class Profile:
    """The seller claims of an account in a store, as a token carries them when everything may
    be released, and the account's privacy level (R21), which says to whom ``name`` is."""

    claims: dict
    privacy: str

    def released_to(self, tier: str | None) -> dict:
        """The claims a client of ``tier`` is released (``idp.services.privacy``)."""
        return privacy.release(self.claims, self.privacy, tier)


def profile(sub: str, store: str | None) -> Profile | None:
    """The seller claims of account ``sub`` working in ``store`` (public ids; the active store
    of a token, R27) with its privacy level, or None when there is no such account. Cached in
    the shared store until something they are made of changes (``shared_state.generational``)."""
    text = shared_state.generational(profile_key(sub, store), lambda: build_profile(sub, store))
    return None if text is None else Profile(**json.loads(text))


def profile_claims(sub: str, store: str | None) -> dict | None:
    """``profile(sub, store).claims``: for what judges by them (stores held, R6), not what
    sends them to an app (that is ``Profile.released_to``)."""
    found = profile(sub, store)
    return None if found is None else found.claims


def build_profile(sub: str, store: str | None) -> str | None:
    """``profile`` read from the database, as cached (``PROFILE_CLAIMS``)."""
    account = fresh(Account, sub)
    if account is None:
        return None
    claims = _profile_claims(account, fresh(Store, store) if store else None)
    return json.dumps({"claims": claims, "privacy": account.privacy})


def profile_key(sub: str, store: str | None) -> str:
    return f"{PROFILE_CLAIMS.prefix}{sub}:{store or '-'}"


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


MEMO = "idp_account_facts"  # flask.g: the account facts this request has read


def account_facts(account_id: int) -> AccountFacts | None:
    """The facts of account ``account_id`` (None when there is no such account), read once per
    request: again after this request flushed a change to what they are made of
    (``shared_state.claims_changes``)."""
    changes = shared_state.claims_changes(db.session)
    memo = g.get(MEMO)
    if memo is None or memo[0] != changes:
        memo = (changes, {})
        setattr(g, MEMO, memo)
    known = memo[1]
    if account_id not in known:
        known[account_id] = _account_facts(account_id)
    return known[account_id]


def _account_facts(account_id: int) -> AccountFacts | None:
    text = shared_state.generational(
        f"{ACCOUNT_FACTS.prefix}{account_id}", lambda: build_account_facts(account_id)
    )
    if text is None:
        return None
    facts = json.loads(text)
    facts["stores"] = tuple(HeldStore(*store) for store in facts["stores"])
    return AccountFacts(**facts)


def build_account_facts(account_id: int) -> str | None:
    """The facts of an account read from the database, as cached (``ACCOUNT_FACTS``)."""
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


def fresh(model, public_id: str):
    """The row with this public id, read now: a row loaded earlier in the transaction may
    predate the change that started the current claims generation (this transaction's own
    changes are flushed first, so they are kept)."""
    return db.session.query(model).filter_by(public_id=public_id).populate_existing().one_or_none()


AVATAR_PATH = "/avatars/"  # idp.web.avatars serves approved photos there


def picture_url(public_id: str) -> str:
    """The ``picture`` claim (OIDC Core 5.1): the approved avatar's absolute URL (R20)."""
    return f"{current_app.extensions['idp.settings'].issuer}{AVATAR_PATH}{public_id}.jpg"


TEAM_PERMISSION = "inquiries:team"


def _profile_claims(account: Account, store: Store | None) -> dict:
    groups = groups_of(account)
    permissions = permissions_of(account)
    claims = {
        "preferred_username": account.login_name,
        "name": account.nickname or account.name,
        "company": {"id": account.company.public_id, "name": account.company.name},
        "account_type": account.kind,
        "roles": sorted(r.name for r in account.roles) if not account.is_main else ["owner"],
        "permissions": permissions,
        "stores": [s.public_id for s in account.stores],
        "store": store.public_id if store else None,
        "marketplace": store.marketplace_code if store else None,
        "groups": [f"{g.store.public_id}/{g.name}" for g in groups],
        "muted": is_muted(account),
    }
    if account.picture_id:  # only once approved (R20)
        claims["picture"] = picture_url(account.picture_id)
    if TEAM_PERMISSION in permissions:  # issue 18: the direct reports' subs
        claims["team"] = team_of(account)
    return claims


def userinfo_claims(account: Account, scope: str, store: Store | None) -> dict:
    """Claims by scope (OIDC Core 5.4): ``profile`` for the seller claims, ``email``, ``phone``;
    all of them, before the account's privacy level is applied for the client asking (R21:
    ``idp.services.privacy.release``)."""
    scopes = set((scope or "").split())
    claims: dict = {"sub": account.public_id}
    if "profile" in scopes:
        claims.update(profile(account.public_id, store.public_id if store else None).claims)
        gender = gender_claim(account)  # R20: "prefer not to say" is not told
        if gender:
            claims["gender"] = gender
    if "email" in scopes and account.email:
        claims["email"] = account.email
        claims["email_verified"] = account.email_verified_at is not None
    if "phone" in scopes and account.phone:
        claims["phone_number"] = account.phone
        claims["phone_number_verified"] = account.phone_verified_at is not None
    return claims
