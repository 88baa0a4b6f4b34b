"""SSO session lookups through the shared store (issue 6). ``sessions.find`` runs on every
authorize request, so the session row is kept as JSON under ``sso:<cookie hash>`` (``idp.kv``:
Redis when ``IDP_REDIS_URL`` is set, shared by every instance) and rebuilt without a query
(``idp.rowcache``). The database stays the record.

Every change to a session row *holds* its entry: when the change is flushed, and again when it
commits, the key is overwritten with a short-lived ``HELD`` mark, and a reader fills the key only
when it is absent (``SET NX``). So a reader that loaded the row before the change committed
cannot put the old row back, and a session ended through one instance is refused by every other
at once. ORM changes are seen before their flush; a bulk UPDATE or DELETE of ``sso_sessions``
first selects the sessions it touches.
"""

from __future__ import annotations

from sqlalchemy import event, select

from idp import rowcache
from idp.defaults import SESSION_CACHE_TTL
from idp.extensions import db
from idp.kv import kv
from idp.models import SsoSession
from idp.models.base import utcnow
from idp.oauth import shared_state

SNAPSHOT_TTL = SESSION_CACHE_TTL  # never past the session's own end


def cache_key(token_hash: str) -> str:
    return f"sso:{token_hash}"


def lookup(token_hash: str) -> SsoSession | None:
    """The session row with this cookie hash, from the shared store when cached (no query on
    ``sso_sessions``), else from the database (and then cached). Whether it is still live is
    the caller's question."""
    store, key = kv(), cache_key(token_hash)
    text = store.get(key)
    if text is not None and text != shared_state.HELD:
        cached = rowcache.load(SsoSession, text)
        if cached is not None:
            return cached
    session = db.session.query(SsoSession).filter_by(token_hash=token_hash).one_or_none()
    if session is not None and text is None:
        ttl = min(SNAPSHOT_TTL, int((session.expires_at - utcnow()).total_seconds()))
        if ttl > 0:
            store.set(key, rowcache.dump(session), ttl, only_if_absent=True)
    return session


def remember(token_hash: str, snapshot: str) -> None:
    """Cache a session just created (its committed row as ``rowcache.dump`` wrote it)."""
    kv().set(cache_key(token_hash), snapshot, SNAPSHOT_TTL, only_if_absent=True)


def _hold(session, token_hashes) -> None:
    shared_state.hold(session, {cache_key(token_hash) for token_hash in token_hashes})


@event.listens_for(db.session, "before_flush")
def _changed(session, _context, _instances) -> None:
    changed = (*session.dirty, *session.deleted)
    _hold(session, [obj.token_hash for obj in changed if isinstance(obj, SsoSession)])


@event.listens_for(db.session, "do_orm_execute")
def _bulk_changed(state) -> None:
    """A bulk UPDATE or DELETE (``revoke_for_removed_store``, emptying tables) names no objects:
    select the sessions it is about to touch."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) != SsoSession.__tablename__:
        return
    touched = select(SsoSession.token_hash)
    if state.statement.whereclause is not None:
        touched = touched.where(state.statement.whereclause)
    _hold(state.session, state.session.scalars(touched).all())
