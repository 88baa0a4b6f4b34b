"""The token endpoint's statements, and the authorization codes' (issue 6). Issuing a token by
client credentials, token exchange or refresh writes one ``issued_tokens`` row, and each such
write is one SQL statement that checks what must still hold when it runs (the store still held,
the refresh token not yet rotated), so a change committed meanwhile is never missed. A code's
tokens are written in the transaction that marks the code used, as Core statements.

On PostgreSQL they go through an autocommit engine beside Flask-SQLAlchemy's (same database, a
pool of its own): one statement is one transaction, so issuing a token costs one round trip,
where the ORM session would add a BEGIN and a COMMIT, and no unit-of-work bookkeeping. Each
statement is compiled once by SQLAlchemy and sent on a pooled psycopg cursor: the per-call
compile, cache-key and result-metadata work of ``Connection.execute`` cost more here than the
round trip itself (about 0.2 ms a token). Errors are turned into SQLAlchemy's, and a connection
found broken is dropped from the pool, as ``Connection.execute`` does; the ``STATEMENTS``
metric counts what is sent. On SQLite (development, no network) they run in the ORM session's
own transaction, which a second connection would have to wait for."""

from __future__ import annotations

import enum
from collections import namedtuple

from flask import Flask, current_app
from psycopg.types.json import Json
from sqlalchemy import (
    Boolean,
    Engine,
    String,
    bindparam,
    case,
    create_engine,
    delete,
    exists,
    insert,
    null,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.exc import DBAPIError

from idp import metrics
from idp.extensions import db
from idp.models import (
    Account,
    AuthorizationCode,
    Client,
    IssuedToken,
    SessionClient,
    SsoSession,
    Store,
)
from idp.models.accounts import ACTIVE
from idp.models.base import UTCDateTime, utcnow
from idp.oauth.store_context import holds_sql as _holds

EXTENSION = "idp.token_engine"
TOKENS = IssuedToken.__table__
ROW_COLUMNS = [c.name for c in TOKENS.c if c.name not in ("id", "rotated_at", "revoked_at")]

_accounts, _stores, _sessions = Account.__table__, Store.__table__, SsoSession.__table__
_clients = Client.__table__


class Outcome(enum.Enum):
    """What a token statement did, or why a token cannot be used: the grants branch on it
    (``idp.oauth.grants``), and only ``CLIENT_CHANGED`` is answered again."""

    ISSUED = "issued"
    CLIENT_CHANGED = "client changed"  # since it authenticated (a process's copy was older)
    STORE_NOT_HELD = "store not held"  # taken away or de-authorized (R10, R27)
    REPLAYED = "replayed"  # a refresh token used again after its rotation
    REVOKED = "revoked"
    EXPIRED = "expired"
    ACCOUNT_OFF = "account off"  # disabled (R5)
    UNKNOWN = "unknown"  # no such token


# Parameters are named ``p_<column>``: one named like a column of the table a statement writes
# would be taken by SQLAlchemy as a value for that column.


def _value(column: str):
    return bindparam(f"p_{column}", type_=TOKENS.c[column].type)


def _params(row: dict, columns) -> dict:
    return {f"p_{column}": row[column] for column in columns}


def _client_current():
    """SQL: the client that authenticated is still enabled, at the revision it was seen at (a
    copy cached in the process, or in the shared store, may be older than a change)."""
    return exists().where(
        _clients.c.id == bindparam("p_client", type_=_clients.c.id.type),
        _clients.c.revision == bindparam("p_client_revision", type_=_clients.c.revision.type),
        _clients.c.disabled.is_(False),
    )


def _signed_in(joined, rows):
    """``joined`` (which holds ``rows``) joined to the rows' account, their SSO session and
    their store: what a code or refresh token's new tokens need."""
    return (
        joined.join(_accounts, _accounts.c.id == rows.c.account_id)
        .outerjoin(_sessions, _sessions.c.id == rows.c.session_id)
        .outerjoin(_stores, _stores.c.id == rows.c.store_id)
    )


def _still_held(rows):
    """SQL: the rows name no store, or one their account may still work in."""
    return type_coerce(
        case((rows.c.store_id.is_(None), True), else_=_holds(_accounts, _stores)), Boolean
    )


def _client_params(client: Client) -> dict:
    return {"p_client": client.id, "p_client_revision": client.revision}


# --- client credentials ---------------------------------------------------------------------------

# The INSERTs are ``inline()``: no RETURNING of the new id, which nothing needs (and with which
# the drivers report no row count).
_INSERT = insert(TOKENS).values({name: _value(name) for name in ROW_COLUMNS}).inline()
_RECORD = (
    insert(TOKENS)
    .from_select(
        ROW_COLUMNS, select(*(_value(name) for name in ROW_COLUMNS)).where(_client_current())
    )
    .inline()
)


def record(row: dict, client: Client) -> Outcome:
    """Record a token that needs no check beyond its client's: ``ISSUED``, or
    ``CLIENT_CHANGED`` when the client changed since it authenticated (``_client_current``)."""
    params = {**_params(row, ROW_COLUMNS), **_client_params(client)}
    return Outcome.ISSUED if _write("record", _RECORD, params) == 1 else Outcome.CLIENT_CHANGED


_CLIENT_CURRENT = select(_client_current())


def _client_is_current(client: Client) -> bool:
    """After a statement wrote nothing: was it because the client changed? (One more read, on
    that rare path only.)"""
    return bool(_read("client_current", _CLIENT_CURRENT, _client_params(client))[0][0])


# --- authorization codes -------------------------------------------------------------------------

CODES = AuthorizationCode.__table__
_CODE_COLUMNS = [c.name for c in CODES.c if c.name not in ("id", "used_at")]
_INSERT_CODE = (
    insert(CODES)
    .values({name: bindparam(f"p_{name}", type_=CODES.c[name].type) for name in _CODE_COLUMNS})
    .inline()
)


def record_code(values: dict) -> None:
    """Record an authorization code (one statement; the redirect follows its commit)."""
    _write("record_code", _INSERT_CODE, {f"p_{name}": values[name] for name in _CODE_COLUMNS})


_FIND_CODE = (
    select(
        CODES.c.id,
        CODES.c.client_id,
        CODES.c.account_id,
        CODES.c.session_id,
        CODES.c.store_id,
        CODES.c.redirect_uri,
        CODES.c.scope,
        CODES.c.nonce,
        CODES.c.code_challenge,
        CODES.c.code_challenge_method,
        CODES.c.auth_time,
        CODES.c.amr,
        CODES.c.acr,
        CODES.c.expires_at,
        _accounts.c.public_id.label("sub"),
        (_accounts.c.status == ACTIVE).label("account_active"),
        _sessions.c.sid,
        _sessions.c.expires_at.label("session_expires_at"),
        _sessions.c.ended_at.label("session_ended_at"),
        _stores.c.public_id.label("store"),
        _still_held(CODES).label("held"),
    )
    .select_from(_signed_in(CODES, CODES))
    .where(CODES.c.code_hash == bindparam("p_hash", type_=String))
)
CodeRow = namedtuple("CodeRow", [column.key for column in _FIND_CODE.selected_columns])


def find_code_in_session(code_hash: str) -> CodeRow | None:
    """The code's row with what its tokens need (its account and whether it is active, its SSO
    session, its store and whether it is still held), in the ORM session's transaction: the
    code is marked used there, and its tokens commit with that mark (``record_in_session``)."""
    metrics.statement_counter("find_code").inc()
    row = db.session.execute(_FIND_CODE, {"p_hash": code_hash}).first()
    return None if row is None else CodeRow._make(row)


def record_in_session(row: dict) -> None:
    """Record a code's tokens in the ORM session's transaction, with the code marked used (they
    commit together), and note the SSO session's client for back-channel logout."""
    metrics.statement_counter("record_in_session").inc()
    db.session.execute(_INSERT, _params(row, ROW_COLUMNS))
    if row["session_id"] is not None:
        metrics.statement_counter("note_session_client").inc()
        db.session.execute(
            _upsert(SessionClient.__table__),
            {"session_id": row["session_id"], "client_id": row["client_id"]},
        )


def _upsert(table):
    """``INSERT … ON CONFLICT DO NOTHING`` for this engine's dialect."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing()


# --- token exchange (R27): a token for another store the account holds --------------------------

_EXCHANGED_COLUMNS = (
    "jti",
    "family",
    "refresh_token_hash",
    "client_id",
    "scope",
    "offline",
    "issued_at",
    "access_expires_at",
    "refresh_expires_at",
)
_EXCHANGED = (
    insert(TOKENS)
    .from_select(
        [*_EXCHANGED_COLUMNS, "account_id", "session_id", "store_id"],
        select(
            *(_value(name) for name in _EXCHANGED_COLUMNS),
            _accounts.c.id,
            select(_sessions.c.id)
            .where(_sessions.c.sid == bindparam("p_sid", type_=String))
            .scalar_subquery(),
            _stores.c.id,
        )
        .select_from(
            _accounts.join(_stores, _stores.c.public_id == bindparam("p_store", type_=String))
        )
        .where(
            _accounts.c.public_id == bindparam("p_sub", type_=String),
            _holds(_accounts, _stores),
            _client_current(),
        ),
    )
    .inline()
)


def record_exchanged(
    row: dict, client: Client, *, sub: str, sid: str | None, store: str
) -> Outcome:
    """Record an exchanged token (with its refresh token, when it has one), if the account
    still holds ``store`` (its public id) as the statement runs: ``ISSUED``; else
    ``STORE_NOT_HELD`` (taken away or de-authorized meanwhile, R10) or ``CLIENT_CHANGED``."""
    params = {
        **_params(row, _EXCHANGED_COLUMNS),
        **_client_params(client),
        "p_sub": sub,
        "p_sid": sid,
        "p_store": store,
    }
    if _write("record_exchanged", _EXCHANGED, params) == 1:
        return Outcome.ISSUED
    return Outcome.STORE_NOT_HELD if _client_is_current(client) else Outcome.CLIENT_CHANGED


# --- refresh (rotation with reuse detection) ------------------------------------------------------

_FIND_REFRESH = (
    select(
        TOKENS.c.id,
        TOKENS.c.refresh_token_hash,
        TOKENS.c.family,
        TOKENS.c.client_id,
        TOKENS.c.account_id,
        TOKENS.c.session_id,
        TOKENS.c.store_id,
        TOKENS.c.scope,
        TOKENS.c.offline,
        TOKENS.c.refresh_expires_at,
        TOKENS.c.rotated_at,
        TOKENS.c.revoked_at,
        _accounts.c.public_id.label("sub"),
        (_accounts.c.status == ACTIVE).label("account_active"),
        _sessions.c.sid,
        _sessions.c.auth_time,
        _sessions.c.amr,
        _sessions.c.acr,
        _sessions.c.expires_at.label("session_expires_at"),
        _stores.c.public_id.label("store"),
        _still_held(TOKENS).label("held"),
    )
    .select_from(_signed_in(TOKENS, TOKENS))
    .where(TOKENS.c.refresh_token_hash == bindparam("p_hash", type_=String))
)


RefreshRow = namedtuple("RefreshRow", [column.key for column in _FIND_REFRESH.selected_columns])


def find_refresh(refresh_token_hash: str) -> RefreshRow | None:
    """The refresh token's row with what a new token needs: its account (and whether it is
    active), its SSO session's sign-in facts, its store (and whether it is still held). One
    statement; None when no row has this hash."""
    rows = _read("find_refresh", _FIND_REFRESH, {"p_hash": refresh_token_hash})
    return RefreshRow._make(rows[0]) if rows else None


def _rotate(old_id):
    return (
        update(TOKENS)
        .where(
            TOKENS.c.id == old_id,
            TOKENS.c.rotated_at.is_(None),
            TOKENS.c.revoked_at.is_(None),
            _client_current(),
        )
        .values(rotated_at=bindparam("p_now", type_=UTCDateTime))
    )


_ROTATED = _rotate(bindparam("p_old_id")).returning(TOKENS.c.id).cte("rotated")
_ROTATE_AND_INSERT = (
    insert(TOKENS)
    .from_select(ROW_COLUMNS, select(*(_value(name) for name in ROW_COLUMNS)).select_from(_ROTATED))
    .inline()
)


def refusal(row: RefreshRow | None) -> Outcome | None:
    """Why the refresh token ``row`` (``find_refresh``) cannot be used now, or None when it
    can. ``REPLAYED`` asks the caller to revoke its family."""
    if row is None:
        return Outcome.UNKNOWN
    if row.revoked_at is not None:
        return Outcome.REVOKED
    if row.rotated_at is not None:
        return Outcome.REPLAYED
    if row.refresh_expires_at is not None and row.refresh_expires_at <= utcnow():
        return Outcome.EXPIRED
    if not row.account_active:
        return Outcome.ACCOUNT_OFF
    if not row.held:
        return Outcome.STORE_NOT_HELD
    return None


def rotate(old: RefreshRow, row: dict, client: Client) -> Outcome:
    """Mark refresh token ``old`` rotated and record its successor ``row``, together: both or
    neither. ``ISSUED``; ``REPLAYED`` when it was rotated or revoked meanwhile (a concurrent
    use); ``CLIENT_CHANGED``."""
    now = row["issued_at"]
    if _engine() is None:  # SQLite: two statements in the session's transaction
        metrics.statement_counter("rotate").inc()
        rotated = db.session.execute(_rotate(old.id), {"p_now": now, **_client_params(client)})
        written = rotated.rowcount == 1
        if written:
            db.session.execute(_INSERT, _params(row, ROW_COLUMNS))
            db.session.commit()
        else:
            db.session.rollback()
    else:
        params = {
            **_params(row, ROW_COLUMNS),
            **_client_params(client),
            "p_old_id": old.id,
            "p_now": now,
        }
        written = _write("rotate", _ROTATE_AND_INSERT, params) == 1
    if written:
        return Outcome.ISSUED
    found = find_refresh(old.refresh_token_hash)
    if found is None or found.rotated_at is not None or found.revoked_at is not None:
        return Outcome.REPLAYED
    return Outcome.CLIENT_CHANGED


def _rotate_at_once():
    """``rotate_at_once``'s statement: the refresh token marked rotated, its successor written
    and what the new access token needs read, together (PostgreSQL's data-modifying CTEs)."""
    now = bindparam("p_now", type_=UTCDateTime)
    account, store = _accounts.alias("a"), _stores.alias("st")
    old = (
        update(TOKENS)
        .where(
            TOKENS.c.refresh_token_hash == bindparam("p_hash", type_=String),
            TOKENS.c.client_id == bindparam("p_client", type_=_clients.c.id.type),
            TOKENS.c.rotated_at.is_(None),
            TOKENS.c.revoked_at.is_(None),
            or_(TOKENS.c.refresh_expires_at.is_(None), TOKENS.c.refresh_expires_at > now),
            _client_current(),
            exists().where(account.c.id == TOKENS.c.account_id, account.c.status == ACTIVE),
            or_(
                TOKENS.c.store_id.is_(None),
                exists().where(
                    account.c.id == TOKENS.c.account_id,
                    store.c.id == TOKENS.c.store_id,
                    _holds(account, store),
                ),
            ),
        )
        .values(rotated_at=now)
        .returning(
            TOKENS.c.id,
            TOKENS.c.client_id,
            TOKENS.c.family,
            TOKENS.c.account_id,
            TOKENS.c.session_id,
            TOKENS.c.store_id,
            TOKENS.c.scope,
            TOKENS.c.offline,
        )
        .cte("old")
    )
    session = _sessions.alias("s")
    refresh_expires = case(
        (
            or_(old.c.offline, session.c.expires_at.is_(None)),
            bindparam("p_offline_expires_at", type_=UTCDateTime),
        ),
        else_=session.c.expires_at,
    )
    new = (
        insert(TOKENS)
        .from_select(
            ROW_COLUMNS,
            select(
                _value("jti"),
                old.c.family,
                _value("refresh_token_hash"),
                old.c.client_id,
                old.c.account_id,
                old.c.session_id,
                null(),
                old.c.scope,
                old.c.store_id,
                old.c.offline,
                _value("issued_at"),
                _value("access_expires_at"),
                refresh_expires,
            ).select_from(old.outerjoin(session, session.c.id == old.c.session_id)),
        )
        .returning(TOKENS.c.id, TOKENS.c.refresh_expires_at)
        .cte("new")
    )
    return select(
        old.c.id,
        old.c.client_id,
        old.c.family,
        old.c.account_id,
        old.c.session_id,
        old.c.store_id,
        old.c.scope,
        old.c.offline,
        _accounts.c.public_id.label("sub"),
        _sessions.c.sid,
        _sessions.c.auth_time,
        _sessions.c.amr,
        _sessions.c.acr,
        _sessions.c.expires_at.label("session_expires_at"),
        _stores.c.public_id.label("store"),
        new.c.id.label("new_id"),
        new.c.refresh_expires_at.label("new_refresh_expires_at"),
    ).select_from(_signed_in(old.join(new, true()), old))


_ROTATE_AT_ONCE = _rotate_at_once()
RotatedRow = namedtuple("RotatedRow", [column.key for column in _ROTATE_AT_ONCE.selected_columns])


def can_rotate_at_once() -> bool:
    return _engine() is not None


def rotate_at_once(refresh_token_hash: str, client: Client, successor: dict) -> RotatedRow | None:
    """One round trip for a refresh (PostgreSQL): mark the token rotated and write its
    successor (``jti``, ``refresh_token_hash``, ``issued_at``, ``access_expires_at``; the scope
    the old one had), if it is still unrotated, unrevoked and unexpired, its account active, its
    store still held and its client current; read what the new access token needs. None when
    any of that fails: the caller then finds out why (``find_refresh``), a replay included."""
    params = {
        **_params(successor, ("jti", "refresh_token_hash", "issued_at", "access_expires_at")),
        **_client_params(client),
        "p_hash": refresh_token_hash,
        "p_now": successor["issued_at"],
        "p_offline_expires_at": successor["offline_expires_at"],
    }
    rows = _read("rotate_at_once", _ROTATE_AT_ONCE, params)
    return RotatedRow._make(rows[0]) if rows else None


_SET_SCOPE = (
    update(TOKENS)
    .where(TOKENS.c.id == bindparam("p_id", type_=TOKENS.c.id.type))
    .values(scope=bindparam("p_scope", type_=String))
)
_UNDO_SUCCESSOR = delete(TOKENS).where(TOKENS.c.id == bindparam("p_id", type_=TOKENS.c.id.type))
_UNDO_ROTATION = (
    update(TOKENS)
    .where(TOKENS.c.id == bindparam("p_id", type_=TOKENS.c.id.type))
    .values(rotated_at=None)
)


def narrow_successor(new_id: int, scope: str) -> None:
    """The successor gets fewer scopes than its predecessor had (R14 muting, a client's
    registered scopes narrowed): record what it was actually given."""
    _write("narrow_successor", _SET_SCOPE, {"p_id": new_id, "p_scope": scope})


def undo_rotation(row: RotatedRow) -> None:
    """The answer could not be given (an outage after the statement): the successor is
    removed and the presented token usable again, so a retry is no replay."""
    _write("undo_rotation", _UNDO_SUCCESSOR, {"p_id": row.new_id})
    _write("undo_rotation", _UNDO_ROTATION, {"p_id": row.id})


# --- running them ---------------------------------------------------------------------------------


class _Autocommit:
    """The autocommit engine, and each statement's SQL compiled for it once (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled: dict = {}

    def _sql(self, statement, params: dict) -> tuple[str, dict]:
        compiled = self._compiled.get(statement)
        if compiled is None:
            done = statement.compile(dialect=self.engine.dialect)
            # Values SQLAlchemy bound itself (constants such as 'active'), sent along.
            defaults = {key: value for key, value in done.params.items() if key not in params}
            compiled = self._compiled[statement] = (done.string, defaults)
        sql, defaults = compiled
        # Values go as psycopg adapts them itself (str, int, bool, None, aware datetimes); lists
        # and dicts as JSON.
        values = {**defaults, **params}
        for key, value in values.items():
            if isinstance(value, list | dict):
                values[key] = Json(value)
        return sql, values

    def execute(self, statement, params: dict, *, rows: bool) -> tuple[int, list]:
        """Send one statement: (rows written, rows returned when ``rows``)."""
        sql, values = self._sql(statement, params)
        dialect = self.engine.dialect
        connection = cursor = None
        try:
            # Inside the try: a database that refuses connections (an outage) raises the
            # driver's own error here, which must become SQLAlchemy's, hence a 503 (issue 12).
            connection = self.engine.raw_connection()
            cursor = connection.cursor()  # rows as tuples: no per-row column objects
            cursor.execute(sql, values)
            return cursor.rowcount, (cursor.fetchall() if rows else [])
        except dialect.loaded_dbapi.Error as error:
            broken = connection is None or dialect.is_disconnect(
                error, connection.dbapi_connection, cursor
            )
            if broken and connection is not None:
                connection.invalidate(error)
            raise DBAPIError.instance(
                sql,
                values,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=broken,
                dialect=dialect,
            ) from error
        finally:
            if connection is not None:
                connection.close()  # back to the pool (or, invalidated, gone)


def _engine() -> _Autocommit | None:
    return current_app.extensions[EXTENSION]


def _execute(name: str, statement, params: dict, *, rows: bool = False) -> tuple[int, list]:
    metrics.statement_counter(name).inc()
    autocommit = _engine()
    if autocommit is not None:
        return autocommit.execute(statement, params, rows=rows)
    result = db.session.execute(statement, params)  # SQLite
    answer = result.rowcount, (result.all() if rows else [])
    db.session.commit()
    return answer


def _write(name: str, statement, params: dict) -> int:
    """Send one write; how many rows it wrote."""
    return _execute(name, statement, params)[0]


def _read(name: str, statement, params: dict) -> list:
    return _execute(name, statement, params, rows=True)[1]


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.extensions[EXTENSION] = (
        None
        if url.startswith("sqlite")
        else _Autocommit(
            create_engine(
                url,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,  # autocommit: no transaction is ever left open
                # Made as needed, kept: one per concurrent request thread. A connection over
                # pool_size is closed when given back, and a new one is a PostgreSQL fork.
                pool_size=16,
                max_overflow=16,
                pool_recycle=1800,
            )
        )
    )


def autocommit_engine(app: Flask) -> Engine | None:
    """The engine of these statements on PostgreSQL (None on SQLite: the session's)."""
    found = app.extensions.get(EXTENSION)
    return found.engine if found is not None else None


def dispose(app: Flask) -> None:
    engine = autocommit_engine(app)
    if engine is not None:
        engine.dispose()
