"""SSO sessions: a server-side record behind an opaque cookie, so that a session can be ended
from anywhere (logout, owner reset R16, disabling R5) and apps are told (back-channel logout)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select, update

from idp import rowcache
from idp.defaults import SESSION_SEEN_EVERY
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, IssuedToken, SsoSession, Store
from idp.models.base import utcnow
from idp.oauth import session_cache, shared_state
from idp.oauth.claims import account_facts
from idp.oauth.config import SESSION_TTL
from idp.oauth.crypto import random_token, token_hash
from idp.services import audit, presence
from idp.services.authz import require_owner, require_sub_account
from idp.services.tx import transaction


def _seen_marker(session_id: int) -> str:
    return f"seen:{session_id}"


def create(
    account: Account,
    *,
    amr: list[str],
    acr: str = "1",
    user_agent: str | None = None,
    ip: str | None = None,
    device_hash: str | None = None,
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
        ip=(ip or "")[:45] or None,
        last_seen_at=now,
        device_hash=device_hash,
    )
    db.session.add(session)
    db.session.flush()
    snapshot, session_id = rowcache.dump(session), session.id  # before the commit expires it
    db.session.commit()
    # The browser comes straight back with the cookie: its first lookup needs no query, and
    # its first pages need no "last seen" note (the session was seen now).
    session_cache.remember(token_hash(cookie), snapshot)
    kv().set(_seen_marker(session_id), "1", SESSION_SEEN_EVERY)
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


# --- the account centre's sessions page (issue 17) -----------------------------------------------


def active_for(account: Account) -> list[SsoSession]:
    """The account's live sessions, the most recently used first."""
    now = utcnow()
    rows = db.session.scalars(
        select(SsoSession).where(
            SsoSession.account_id == account.id,
            SsoSession.ended_at.is_(None),
            SsoSession.expires_at > now,
        )
    ).all()
    return sorted(rows, key=lambda s: s.last_seen_at or s.created_at, reverse=True)


def _sign_out(account: Account, rows: list[SsoSession], action: str) -> int:
    """End ``rows`` as the person asked from the sessions page: the session, every token it
    gave (offline refresh tokens too: "sign out that device" means its apps as well) and a
    back-channel logout to each of its apps."""
    if not rows:
        return 0
    end_many(rows)
    shared_state.revoke(IssuedToken.session_id.in_([s.id for s in rows]))
    audit.record(
        account,
        action,
        company_id=account.company_id,
        target=account,
        sessions=[s.sid for s in rows],
    )
    return len(rows)


@transaction
def sign_out_one(account: Account, sid: str) -> None:
    """One of the account's own live sessions, named by its ``sid``; another account's, an ended
    or an unknown one is :class:`NotFound` (nobody learns which)."""
    from idp.errors import NotFound

    row = db.session.scalar(
        select(SsoSession).where(
            SsoSession.sid == (sid or "")[:64],
            SsoSession.account_id == account.id,
            SsoSession.ended_at.is_(None),
        )
    )
    if row is None:
        raise NotFound(_l("That session has already ended"))
    _sign_out(account, [row], "account.session_ended")


@transaction
def sign_out_others(account: Account, keep_sid: str) -> int:
    """Every live session of the account but the one it is using now."""
    rows = db.session.scalars(
        select(SsoSession).where(
            SsoSession.account_id == account.id,
            SsoSession.ended_at.is_(None),
            SsoSession.sid != keep_sid,
        )
    ).all()
    return _sign_out(account, list(rows), "account.other_sessions_ended")


def seen_due(session_id: int) -> bool:
    """Whether the session's "last seen" is due a note: not noted in the last
    ``SESSION_SEEN_EVERY`` (a marker in the shared store, claimed by the caller that gets True;
    ``create`` sets it, as a new session was seen at its start)."""
    return kv().set(_seen_marker(session_id), "1", SESSION_SEEN_EVERY, only_if_absent=True)


def seen(session_id: int, ip: str) -> None:
    """Note that a session was used now, from ``ip`` (the sessions page's "last seen").
    Caller commits; called when ``seen_due``."""
    db.session.execute(
        update(SsoSession)
        .where(SsoSession.id == session_id)
        .values(last_seen_at=utcnow(), ip=ip[:45])
        .execution_options(synchronize_session=False)
    )


def device_known(account: Account, device_hash: str) -> bool | None:
    """Whether the account signed in on this device before: True, False, or None when the
    account has no device on record yet (its first sign-in, or its first since devices were
    recorded). Then nothing is "new": the first device is learned without a notice. One
    statement answers both questions (each an index probe on ``ix_sso_sessions_account_device``)."""
    on_record = (SsoSession.account_id == account.id, SsoSession.device_hash.is_not(None))
    this_one, any_one = db.session.execute(
        select(
            exists().where(*on_record, SsoSession.device_hash == device_hash),
            exists().where(*on_record),
        )
    ).one()
    if this_one:
        return True
    return False if any_one else None


def apps_of(rows: list[SsoSession]) -> dict[int, list[str]]:
    """The names of the apps each session gave tokens to, by session id."""
    from idp.models import Client, SessionClient

    if not rows:
        return {}
    found: dict[int, list[str]] = {}
    pairs = db.session.execute(
        select(SessionClient.session_id, Client.name)
        .join(Client, Client.id == SessionClient.client_id)
        .where(SessionClient.session_id.in_([s.id for s in rows]))
        .order_by(Client.name)
    )
    for session_id, name in pairs:
        found.setdefault(session_id, []).append(name)
    return found
