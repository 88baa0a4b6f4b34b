"""SSO sessions: a server-side record behind an opaque cookie, so that a session can be ended
from anywhere (logout, owner reset R16, disabling R5) and apps are told (back-channel logout)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from idp import rowcache
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, IssuedToken, SsoSession, Store
from idp.models.base import utcnow
from idp.oauth import session_cache, shared_state
from idp.oauth.claims import account_facts
from idp.oauth.config import SESSION_TTL
from idp.oauth.crypto import random_token, token_hash
from idp.services import audit, presence
from idp.services.authz import require_owner, require_sub_account
from idp.services.tx import transaction


def create(
    account: Account, *, amr: list[str], acr: str = "1", user_agent: str | None = None
) -> tuple[SsoSession, str]:
    """A new session (never a reused one: no session fixation). Returns it and the cookie value."""
    cookie = random_token(32)
    now = utcnow()
    session = SsoSession(
        sid=random_token(16),
        token_hash=token_hash(cookie),
        account_id=account.id,
        auth_time=now,
        amr=amr,
        acr=acr,
        created_at=now,
        expires_at=now + timedelta(seconds=SESSION_TTL),
        user_agent=(user_agent or "")[:255] or None,
    )
    db.session.add(session)
    db.session.flush()
    snapshot = rowcache.dump(session)  # before the commit expires it
    db.session.commit()
    # The browser comes straight back with the cookie: its first lookup needs no query.
    session_cache.remember(token_hash(cookie), snapshot)
    return session, cookie


def find(cookie: str | None) -> SsoSession | None:
    """The live session behind a cookie value, or None (ended, expired, account not active).
    The row comes from the shared store when cached (issue 6, ``session_cache``)."""
    if not cookie or len(cookie) > 128:
        return None
    session = session_cache.lookup(token_hash(cookie))
    if session is None or session.ended_at is not None or session.expires_at <= utcnow():
        return None
    facts = account_facts(session.account_id)  # cached: no query for the account row
    if facts is None or not facts.is_active:
        return None
    return session


def end(session: SsoSession) -> None:
    """End one session: its online tokens stop working, its apps are told. Caller commits."""
    end_many([session])


def end_many(sessions: list[SsoSession]) -> None:
    from idp.oauth import logout

    now = utcnow()
    live = [s for s in sessions if s.ended_at is None]
    if not live:
        return
    ids = [s.id for s in live]
    for session in live:
        session.ended_at = now
    shared_state.revoke(IssuedToken.session_id.in_(ids), IssuedToken.offline.is_(False))
    logout.queue_backchannel(live)
    presence.go_offline({s.account_id for s in live})  # R24: out of the allocation at once


def end_all_for_account(account: Account) -> int:
    """R5/R16: every session of the account ends and every token it holds stops working,
    offline refresh tokens included. Runs inside the caller's transaction. Returns how many
    sessions it ended."""
    sessions = db.session.scalars(
        select(SsoSession).where(SsoSession.account_id == account.id, SsoSession.ended_at.is_(None))
    ).all()
    end_many(list(sessions))
    shared_state.revoke(IssuedToken.account_id == account.id)
    presence.go_offline({account.id})  # R24 (with no session open, a chat app's token may be)
    return len(sessions)


@transaction
def end_sessions_by_owner(
    actor: Account, account: Account, *, expected_version: str | None = None
) -> int:
    """R16: the owner ends a sub-account's sessions (apps are told by back-channel logout).
    ``expected_version``: as ``accounts.update_sub_account``."""
    require_owner(actor)
    require_sub_account(actor, account)
    from idp.services.accounts import check_version

    check_version(account, expected_version)
    ended = end_all_for_account(account)
    audit.record(
        actor,
        "subaccount.sessions_ended",
        company_id=actor.company_id,
        target=account,
        sessions=ended,
    )
    return ended


def revoke_for_removed_store(store, accounts: list[Account]) -> None:
    """R10 and batch removal (R11): tokens for a store the account no longer holds stop working
    at once, and sessions working in it fall back to the default store. A de-authorized store
    takes every account's tokens for it, the main account's included."""
    tokens_of = [IssuedToken.store_id == store.id]
    session_query = update(SsoSession).where(SsoSession.active_store_id == store.id)
    if store.is_authorized:  # removed from some accounts only
        ids = [a.id for a in accounts]
        tokens_of.append(IssuedToken.account_id.in_(ids))
        session_query = session_query.where(SsoSession.account_id.in_(ids))
    shared_state.revoke(*tokens_of)
    # R24: whoever lost the store is offline at once, until their chat app's next heartbeat
    # (with a token that still works) says otherwise.
    presence.go_offline({a.id for a in accounts})
    db.session.execute(
        session_query.values(active_store_id=None).execution_options(synchronize_session=False)
    )


@transaction
def switch_store(session: SsoSession, store_public_id: str) -> Store:
    """R27's store switcher: the session works in another store the account holds, with no
    sign-in. Apps coming back with ``prompt=none`` get tokens for it."""
    from idp.oauth.store_context import StoreRefused, choose

    store = choose(session.account, None, requested=(store_public_id or "")[:64])
    if store is None:
        raise StoreRefused(_l("Choose a store"))
    session.active_store_id = store.id
    return store
