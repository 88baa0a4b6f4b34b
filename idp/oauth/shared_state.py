"""What the hot paths read from the shared store (``idp.kv``: Redis when ``IDP_REDIS_URL`` is set)
instead of the database (issue 6): revocation markers, cached clients and the generation of
cached userinfo claims. The database stays the record; this module keeps the store in step with it.

- **Revocation.** Every revocation goes through ``revoke`` (an UPDATE that returns the ``jti`` of
  what it revoked) or sets ``IssuedToken.revoked_at``; a marker ``rv:<jti>`` lives until that
  access token would have expired. A disabled client or account gets ``client-off:`` /
  ``account-off:`` markers for as long as its tokens could live. Markers are written when the
  change is flushed (so a token never looks active after its revocation commits; a rolled-back
  change takes its markers back), so introspection and userinfo check a token with one ``MGET``.
- **Clients** are cached as rows (``idp.rowcache``); any change to a client drops its entry.
- **Claims.** Profile claims, account facts and userinfo answers are cached under a generation;
  a committed (or rolled-back flushed) change to anything they are made of starts a new one.
  What that is, each cached answer declares beside its builder (``idp.oauth.claims.CACHED``);
  the listeners, registered by ``init_app``, watch exactly that (``Watched``).
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from dataclasses import dataclass

from flask import current_app, g, has_app_context
from sqlalchemy import event, inspect, select, update

from idp import rowcache
from idp.defaults import (
    CLAIMS_TTL,
    CLIENT_CACHE_TTL,
    GENERATION_TTL,
    HOLD_TTL,
    MARKERS_READY_TTL,
    OFF_MARKER_TTL,
    REBUILD_LOCK_TTL,
    REBUILD_POLL,
    REBUILD_WAIT,
    UNKNOWN_CLIENT_TTL,
)
from idp.extensions import db
from idp.kv import kv
from idp.models import Account, Client, IssuedToken
from idp.models.accounts import ACTIVE
from idp.models.base import utcnow

log = logging.getLogger(__name__)

HELD = "held"  # a changed row: read from the database for a moment (HOLD_TTL)
UNKNOWN = "-"  # a client id that does not exist (until one is registered)
CLIENT_TTL, UNKNOWN_TTL, OFF_TTL = CLIENT_CACHE_TTL, UNKNOWN_CLIENT_TTL, OFF_MARKER_TTL
GENERATION = "claims-gen"
MARKERS_READY, MARKERS_LOCK = "markers-ready", "markers-rebuild"
READY_TTL = MARKERS_READY_TTL


CLAIMS_CHANGES = "idp.claims_changes"  # session.info: claims-changing flushes so far


@dataclass(frozen=True)
class Watched:
    """What the listeners watch for the cached claims, from their declarations
    (``idp.oauth.claims.CACHED``): per model, the attributes read (None: every one), including
    each relationship through a named association table (its rows change with the collection);
    and the tables a bulk statement on which changes claims (the named models' and the
    association tables)."""

    attrs: dict[type, frozenset[str] | None]
    tables: frozenset[str]

    @classmethod
    def of(cls, cached) -> Watched:
        attrs: dict[type, frozenset[str] | None] = {}
        associations: set[str] = set()
        for answer in cached:
            for model, names in answer.reads.items():
                known = attrs.get(model, frozenset())
                attrs[model] = None if names is None or known is None else known | names
            associations.update(table.name for table in answer.tables)
        tables = frozenset(associations | {model.__table__.name for model in attrs})
        for mapper in db.Model.registry.mappers:
            for relationship in mapper.relationships:
                secondary = relationship.secondary
                if secondary is not None and getattr(secondary, "name", None) in associations:
                    known = attrs.get(mapper.class_, frozenset())
                    if known is not None:
                        attrs[mapper.class_] = known | {relationship.key}
        return cls(attrs, tables)

    def changes(self, session, obj) -> bool:
        """Whether the flush of ``obj`` changes what some cached claims are made of."""
        if type(obj) not in self.attrs:
            return False
        names = self.attrs[type(obj)]
        if names is None or obj in session.new or obj in session.deleted:
            return True
        state = inspect(obj)
        return any(state.attrs[name].history.has_changes() for name in names)


@functools.cache
def watched() -> Watched:
    from idp.oauth.claims import CACHED  # claims imports this module

    return Watched.of(CACHED)


def claims_changes(session) -> int:
    """How many flushes (or bulk statements, or rollbacks of them) of this session changed what
    claims are made of: a memo of claims read in a request (``claims.account_facts``) is good
    while this stays the same."""
    return session.info.get(CLAIMS_CHANGES, 0)


def _claims_changed(session) -> None:
    session.info["idp.claims_changed"] = True
    session.info[CLAIMS_CHANGES] = claims_changes(session) + 1


def revoked_key(jti: str) -> str:
    return f"rv:{jti}"


def client_key(client_id: str) -> str:
    return f"client:{client_id}"


# --- writing -------------------------------------------------------------------------------------


def revoke(*criteria) -> int:
    """Revoke the live tokens matching ``criteria`` (SQL expressions on ``IssuedToken``) and mark
    their access tokens revoked in the shared store. Runs in the caller's transaction."""
    now = utcnow()
    rows = db.session.execute(
        update(IssuedToken)
        .where(IssuedToken.revoked_at.is_(None), *criteria)
        .values(revoked_at=now)
        .returning(IssuedToken.jti, IssuedToken.access_expires_at)
        .execution_options(synchronize_session=False)
    ).all()
    _mark_revoked(db.session, [(jti, expires) for jti, expires in rows], now)
    return len(rows)


def _mark_revoked(session, tokens: list, now) -> None:
    markers = {
        revoked_key(jti): ("1", int((expires - now).total_seconds()) + 5)
        for jti, expires in tokens
        if expires is not None and expires > now
    }
    _write(session, markers)


def _write(session, markers: dict) -> None:
    """Write markers now; remember them so that a rollback takes them back."""
    if markers:
        kv().set_many(markers)
        session.info.setdefault("idp.markers", set()).update(markers)


def _off(session, key: str, off: bool) -> None:
    """Mark a client or account off at once; lift the mark only once the change commits (a
    rolled-back re-enable leaves it in place)."""
    if off:
        _write(session, {key: ("1", OFF_TTL)})
    else:
        session.info.setdefault("idp.unmark", set()).add(key)


def hold(session, keys: set[str]) -> None:
    """A changed row's cache entry (a client, an SSO session) is replaced by a short ``HELD``
    mark now and again after the commit; readers fill only an absent key, so no reader that
    loaded the old row before the commit can put it back."""
    if keys:
        kv().set_many({key: (HELD, HOLD_TTL) for key in keys})
        session.info.setdefault("idp.hold", set()).update(keys)


def _on_flush(session, _context) -> None:
    now = utcnow()
    revoked, drop, claims_changed = [], set(), False
    watch = watched()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, IssuedToken):
            if obj.revoked_at is not None and inspect(obj).attrs.revoked_at.history.added:
                revoked.append((obj.jti, obj.access_expires_at))
        elif isinstance(obj, Client):
            drop.add(client_key(obj.client_id))
            if inspect(obj).attrs.disabled.history.has_changes():
                _off(session, f"client-off:{obj.client_id}", obj.disabled)
        elif isinstance(obj, Account) and inspect(obj).attrs.status.history.has_changes():
            _off(session, f"account-off:{obj.public_id}", not obj.is_active)
        claims_changed = claims_changed or watch.changes(session, obj)
    _mark_revoked(session, revoked, now)
    hold(session, drop)
    if claims_changed:
        _claims_changed(session)


def _next_revision(_mapper, _connection, client: Client) -> None:
    """A changed client is at a new revision: copies cached in processes stop issuing tokens
    (``process_copy``)."""
    client.revision = (client.revision or 1) + 1


def _on_execute(state):
    """A bulk INSERT, UPDATE or DELETE on a table claims are made of changes them too (whichever
    columns it sets); one of clients or accounts keeps their markers in step. The rows it
    matches are found before it runs: its WHERE may name a column it changes (activation clears
    the nonce it matched on), so after the write the same WHERE would find nothing and a marker
    would stay behind."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name in watched().tables:
        _claims_changed(state.session)
    if state.is_insert or name not in ("clients", "accounts"):
        return None
    model = Client if name == "clients" else Account
    where = state.statement.whereclause
    matched = select(model.id) if where is None else select(model.id).where(where)
    ids = state.session.scalars(matched).all()
    if name == "clients" and state.is_update:  # every change raises the revision
        result = state.invoke_statement(
            statement=state.statement.values(revision=Client.revision + 1)
        )
    elif name == "clients":  # a deleted client's cached row must go too
        gone = state.session.scalars(select(Client.client_id).where(Client.id.in_(ids))).all()
        result = state.invoke_statement()
        hold(state.session, {client_key(client_id) for client_id in gone})
        return result
    else:
        result = state.invoke_statement()
    if not ids or state.is_delete:
        return result
    if name == "clients":
        rows = state.session.execute(
            select(Client.client_id, Client.disabled).where(Client.id.in_(ids))
        ).all()
        hold(state.session, {client_key(client_id) for client_id, _ in rows})
        for client_id, disabled in rows:
            _off(state.session, f"client-off:{client_id}", disabled)
    else:
        for public_id, status in state.session.execute(
            select(Account.public_id, Account.status).where(Account.id.in_(ids))
        ).all():
            _off(state.session, f"account-off:{public_id}", status != ACTIVE)
    return result


def _after_commit(session) -> None:
    if session.in_nested_transaction():  # a released savepoint commits nothing yet
        return
    info = session.info
    info.pop("idp.markers", None)
    held = info.pop("idp.hold", None)
    unmark = info.pop("idp.unmark", None)
    changed = info.pop("idp.claims_changed", False)
    try:
        if held:  # again: a reader may have loaded the old row between flush and commit
            kv().set_many({key: (HELD, HOLD_TTL) for key in held})
        if unmark:
            kv().delete(*unmark)
        if changed:
            new_generation()
    except Exception:  # the change is committed; cached copies expire on their own
        log.exception("could not refresh the shared caches after a commit")


def _after_end(session, transaction) -> None:
    """The outermost transaction ended without a commit (rolled back, or closed at the end of a
    request): its revocations did not happen, so their markers go."""
    if transaction.parent is not None:
        return
    markers = session.info.pop("idp.markers", None)
    session.info.pop("idp.hold", None)  # the holds from the flush expire on their own
    session.info.pop("idp.unmark", None)
    changed = session.info.pop("idp.claims_changed", None)
    try:
        if markers:
            kv().delete(*markers)
        if changed:  # claims may have been cached from flushed rows that are now rolled back
            session.info[CLAIMS_CHANGES] = claims_changes(session) + 1
            new_generation()
    except Exception:  # markers expire with the tokens they name, cached claims in minutes
        log.exception("could not take back shared state after a rollback")


LISTENERS = (
    (db.session, "after_flush", _on_flush),
    (Client, "before_update", _next_revision),
    (db.session, "do_orm_execute", _on_execute),
    (db.session, "after_commit", _after_commit),
    (db.session, "after_transaction_end", _after_end),
)


def init_app(_app) -> None:
    """Listen to the ORM session (and to changed clients), once per process however many apps
    are made: the listeners belong to the one ``db.session`` of ``idp.extensions``, not to an
    app. What they watch for the cached claims comes from ``idp.oauth.claims`` (``watched``).

    Only the ORM session is watched. ``token_store``'s autocommit engine (PostgreSQL) writes
    beside it, and only ``issued_tokens`` and ``authorization_codes`` rows: no claim is made of
    them, and their revocations go through ``revoke`` here, in the session. The audit export
    reads on a connection of its own and writes nothing. Migrations and SQL by hand are not
    seen: ``reset`` (``idp shared-state-reset``) after them."""
    watched()  # a declaration that names no real attribute fails here, at start
    for target, identifier, listener in LISTENERS:
        if not event.contains(target, identifier, listener):
            event.listen(target, identifier, listener)


def fresh_generation() -> str:
    return secrets.token_hex(8)


_READ = object()


def generational(key: str, compute, *, generation=_READ, cached=None) -> str | None:
    """``compute()`` (a string, or None for nothing to cache), cached under ``key`` for the
    current claims generation. Pass ``generation`` and ``cached`` when already read (one round
    trip with other keys)."""
    store = kv()
    if generation is _READ:
        generation, cached = _read([GENERATION, key])
    if generation is not None and cached is not None and cached.startswith(generation + "|"):
        return cached[len(generation) + 1 :]
    if generation is None:
        # Start a generation before reading, never after: a change committed meanwhile starts a
        # newer one, so what is read now is never served under it.
        store.set(GENERATION, fresh_generation(), GENERATION_TTL, only_if_absent=True)
    value = compute()
    if generation is not None and value is not None:
        store.set(key, f"{generation}|{value}", CLAIMS_TTL)
    return value


def new_generation() -> None:
    """Cached userinfo answers made before now are no longer served."""
    kv().set(GENERATION, fresh_generation(), GENERATION_TTL)
    if has_app_context():
        forget_prefetched()


def forget_prefetched() -> None:
    """Drop what this request prefetched (a new generation, or the token endpoint answering a
    request again with its client read anew)."""
    g.pop("idp_prefetched", None)


# --- reading -------------------------------------------------------------------------------------


def state_keys(claims: dict) -> list[str]:
    keys = [MARKERS_READY, revoked_key(claims["jti"]), f"client-off:{claims.get('client_id')}"]
    if claims.get("account_type"):
        keys.append(f"account-off:{claims.get('sub')}")
    return keys


def prefetch(keys: list[str]) -> None:
    """Read keys this request will ask for, in one round trip; each is handed out once
    (``_read``), so nothing read here outlives the request's own writes."""
    values = dict(zip(keys, kv().get_many(keys), strict=True))
    g.idp_prefetched = {**g.get("idp_prefetched", {}), **values}


def _read(keys: list[str]) -> list:
    """``keys``' values: prefetched ones are handed out once, but the claims generation, which
    several cached answers of one request are checked against, as often as asked (a change
    that starts a new one drops what was prefetched: ``new_generation``)."""
    prefetched = g.get("idp_prefetched")
    if prefetched and all(key in prefetched for key in keys):
        return [prefetched[key] if key == GENERATION else prefetched.pop(key) for key in keys]
    return kv().get_many(keys)


def token_state(claims: dict, *extra: str) -> tuple[bool, list]:
    """One round trip: whether the verified access token ``claims`` is revoked (itself, its client
    or its account), and the values of ``extra`` keys read along."""
    keys = state_keys(claims)
    values = _read([*keys, *extra])
    if values[0] is None:  # the store is new or lost its data: no marker can be trusted missing
        if not rebuild_markers():  # another request's rebuild is taking long: ask the database
            return _revoked_in_database(claims), kv().get_many(list(extra)) if extra else []
        values = kv().get_many([*keys, *extra])
    return any(values[1 : len(keys)]), values[len(keys) :]


def _revoked_in_database(claims: dict) -> bool:
    """What the markers would say of the access token ``claims``, read from the record: revoked
    itself, its client disabled, or its account not active (R5). Unknown is revoked."""
    row = db.session.execute(
        select(IssuedToken.revoked_at, Client.disabled, Account.status)
        .join(Client, Client.id == IssuedToken.client_id)
        .outerjoin(Account, Account.id == IssuedToken.account_id)
        .where(IssuedToken.jti == claims["jti"])
    ).first()
    if row is None:
        return True
    revoked_at, client_disabled, status = row
    return revoked_at is not None or client_disabled or (status is not None and status != ACTIVE)


def reset() -> None:
    """For an operator who changed the database by hand (no session events fired): every
    client at a new revision and its cache entry held, the markers rebuilt, a new claims
    generation."""
    store = kv()
    db.session.execute(update(Client).values(revision=Client.revision + 1))
    db.session.commit()
    client_ids = db.session.scalars(select(Client.client_id)).all()
    store.set_many({client_key(client_id): (HELD, HOLD_TTL) for client_id in client_ids})
    store.delete(MARKERS_READY)
    rebuild_markers()
    new_generation()


def rebuild_markers() -> bool:
    """Write again, from the database, every marker a live access token could need: a fresh or
    restarted Redis (or a new process's own store) must not make a revoked token active again.
    Only tokens that have not expired matter, so this reads the last ``ACCESS_TOKEN_TTL``.

    One request (on any instance) rebuilds; the others that meet the store cold meanwhile wait
    for it (issue 12: they answered 503 with nothing wrong). True once the markers are ready;
    False when another's rebuild did not finish within ``REBUILD_WAIT`` seconds, and the caller
    answers from the database instead."""
    store = kv()
    deadline = time.monotonic() + REBUILD_WAIT
    while not store.set(MARKERS_LOCK, "1", REBUILD_LOCK_TTL, only_if_absent=True):
        if store.get(MARKERS_READY) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(REBUILD_POLL)
    now = utcnow()
    if store.get(MARKERS_READY) is not None:  # built by the request this one waited for
        store.delete(MARKERS_LOCK)
        return True
    try:
        live = IssuedToken.access_expires_at > now
        revoked = db.session.execute(
            select(IssuedToken.jti, IssuedToken.access_expires_at).where(
                live, IssuedToken.revoked_at.is_not(None)
            )
        ).all()
        clients_off = db.session.scalars(select(Client.client_id).where(Client.disabled)).all()
        accounts_off = db.session.scalars(
            select(Account.public_id)
            .join(IssuedToken, IssuedToken.account_id == Account.id)
            .where(live, Account.status != ACTIVE)
            .distinct()
        ).all()
        markers = {
            revoked_key(jti): ("1", int((expires - now).total_seconds()) + 5)
            for jti, expires in revoked
        }
        markers.update({f"client-off:{c}": ("1", OFF_TTL) for c in clients_off})
        markers.update({f"account-off:{a}": ("1", OFF_TTL) for a in accounts_off})
        markers[MARKERS_READY] = ("1", READY_TTL)
        store.set_many(markers)
    finally:
        store.delete(MARKERS_LOCK)
    return True


_clients: dict[str, Client] = {}


def _build_client(text: str) -> Client | None:
    """The same cached text gives the same read-only object: built once per process, not per
    request. A client has no relationships, so a detached copy answers everything asked of it.
    None when the cached columns are not this code's (written by another release)."""
    built = rowcache.load(Client, text, attach=False)
    if built is not None:
        if len(_clients) >= 1000:
            _clients.clear()
        _clients[text] = built
    return built


PROCESS_CLIENTS = "idp.process_clients"


def process_copy(client_id: str) -> Client | None:
    """This process's own copy of the client, with no round trip at all, or None: only for
    callers that record what they issue with a statement checking that the client is still at
    the copy's ``revision`` (``token_store``), and that ask ``cached_client`` when it is not,
    or when the copy refuses (a rotated secret): the token endpoint (``idp.oauth.server``)."""
    return current_app.extensions.setdefault(PROCESS_CLIENTS, {}).get(client_id)


def cached_client(client_id: str, *, text=_READ) -> Client | None:
    """The client row, from the shared store when cached (no query), else from the database.
    Either way this process keeps a copy (``process_copy``). ``text``: the value of its key,
    when already read (userinfo reads it with the token's state, R21)."""
    copies = current_app.extensions.setdefault(PROCESS_CLIENTS, {})
    store, key = kv(), client_key(client_id)
    if text is _READ:
        text = _read([key])[0]
    if text == UNKNOWN:
        return None
    if text is not None and text != HELD:
        built = _clients.get(text) or _build_client(text)
        if built is not None:
            if len(copies) >= 1000:
                copies.clear()
            copies[client_id] = built
            return built
    client = db.session.query(Client).filter_by(client_id=client_id).one_or_none()
    if client is not None:
        # Even over a hold: a process copy is only used by statements that check its revision.
        copy = rowcache.load(Client, rowcache.dump(client), attach=False)
        if copy is not None:
            if len(copies) >= 1000:
                copies.clear()
            copies[client_id] = copy
    if text != HELD:  # never over a hold: that row may be older than a committed change
        # An unknown id is remembered too (briefly), so guessing ids costs no query each.
        store.set(
            key,
            rowcache.dump(client) if client else UNKNOWN,
            CLIENT_TTL if client else UNKNOWN_TTL,
            only_if_absent=True,
        )
    return client
