"""The token endpoint's statements (issue 6). Issuing a token by client credentials, token
exchange or refresh writes one ``issued_tokens`` row, and each such write is one SQL statement
that checks what must still hold when it runs (the store still held, the refresh token not yet
rotated), so a change committed meanwhile is never missed.

On PostgreSQL they go through an autocommit engine beside Flask-SQLAlchemy's (same database, a
small pool of its own): one statement is one transaction, so issuing a token costs one round
trip, where the ORM session would add a BEGIN and a COMMIT, and no unit-of-work bookkeeping. On
SQLite (development, no network) they run in the ORM session's own transaction, which a second
connection would have to wait for."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import (
    Boolean,
    Engine,
    String,
    and_,
    bindparam,
    case,
    create_engine,
    exists,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)

from idp.extensions import db
from idp.models import Account, IssuedToken, SsoSession, Store, StoreAssignment
from idp.models.accounts import ACTIVE, MAIN
from idp.models.base import UTCDateTime
from idp.models.companies import STORE_AUTHORIZED

EXTENSION = "idp.token_engine"
TOKENS = IssuedToken.__table__
INSERT_TOKEN = TOKENS.insert()

_accounts, _stores, _sessions = Account.__table__, Store.__table__, SsoSession.__table__
_assignments = StoreAssignment.__table__


# Statement parameters are named ``p_<column>``: a parameter named like a column of the table a
# statement writes would be taken as a value for that column (SQLAlchemy's INSERT/UPDATE).


def _value(column: str):
    return bindparam(f"p_{column}", type_=TOKENS.c[column].type)


def _params(row: dict, columns) -> dict:
    return {f"p_{column}": row[column] for column in columns}


def _holds(account, store):
    """SQL: the account may work in the store now (R9, R10; ``store_context.holds``)."""
    return and_(
        account.c.status == ACTIVE,
        store.c.status == STORE_AUTHORIZED,
        store.c.company_id == account.c.company_id,
        or_(
            account.c.kind == MAIN,
            exists().where(
                _assignments.c.account_id == account.c.id,
                _assignments.c.store_id == store.c.id,
            ),
        ),
    )


# --- token exchange (R27): a token for another store the account holds --------------------------

_EXCHANGED = (
    insert(TOKENS)
    .from_select(
        [
            "jti",
            "family",
            "client_id",
            "account_id",
            "session_id",
            "scope",
            "store_id",
            "offline",
            "issued_at",
            "access_expires_at",
        ],
        select(
            _value("jti"),
            _value("family"),
            _value("client_id"),
            _accounts.c.id,
            select(_sessions.c.id)
            .where(_sessions.c.sid == bindparam("p_sid", type_=String))
            .scalar_subquery(),
            _value("scope"),
            _stores.c.id,
            literal(False, Boolean),
            _value("issued_at"),
            _value("access_expires_at"),
        )
        .select_from(
            _accounts.join(_stores, _stores.c.public_id == bindparam("p_store", type_=String))
        )
        .where(
            _accounts.c.public_id == bindparam("p_sub", type_=String), _holds(_accounts, _stores)
        ),
    )
    .returning(TOKENS.c.id)
)


def record_exchanged(row: dict, *, sub: str, sid: str | None, store: str) -> bool:
    """Record an exchanged token, if the account still holds ``store`` (its public id) as the
    statement runs; False when it no longer does (taken away or de-authorized meanwhile, R10)."""
    values = _params(row, ("jti", "family", "client_id", "scope", "issued_at", "access_expires_at"))
    return _written(_EXCHANGED, {**values, "p_sub": sub, "p_sid": sid, "p_store": store})


# --- client credentials ---------------------------------------------------------------------------


def record(row: dict) -> None:
    """Record a token that needs no check beyond its client's authentication."""
    with _connection() as conn:
        conn.execute(INSERT_TOKEN, row)


# --- refresh (rotation with reuse detection) ------------------------------------------------------

_held = type_coerce(
    case((TOKENS.c.store_id.is_(None), True), else_=_holds(_accounts, _stores)), Boolean
)
_FIND_REFRESH = (
    select(
        TOKENS.c.id,
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
        _held.label("held"),
    )
    .select_from(
        TOKENS.join(_accounts, _accounts.c.id == TOKENS.c.account_id)
        .outerjoin(_sessions, _sessions.c.id == TOKENS.c.session_id)
        .outerjoin(_stores, _stores.c.id == TOKENS.c.store_id)
    )
    .where(TOKENS.c.refresh_token_hash == bindparam("p_hash"))
)


def find_refresh(refresh_token_hash: str):
    """The refresh token's row with what a new token needs: its account (and whether it is
    active), its SSO session's sign-in facts, its store (and whether it is still held). One
    statement; None when no row has this hash."""
    with _connection() as conn:
        return conn.execute(_FIND_REFRESH, {"p_hash": refresh_token_hash}).first()


_NEW_COLUMNS = [c.name for c in TOKENS.c if c.name not in ("id", "rotated_at", "revoked_at")]


def _rotate(old_id):
    return (
        update(TOKENS)
        .where(
            TOKENS.c.id == old_id,
            TOKENS.c.rotated_at.is_(None),
            TOKENS.c.revoked_at.is_(None),
        )
        .values(rotated_at=bindparam("p_now", type_=UTCDateTime))
    )


_ROTATED = _rotate(bindparam("p_old_id")).returning(TOKENS.c.id).cte("rotated")
_ROTATE_AND_INSERT = (
    insert(TOKENS)
    .from_select(
        _NEW_COLUMNS, select(*(_value(name) for name in _NEW_COLUMNS)).select_from(_ROTATED)
    )
    .returning(TOKENS.c.id)
)


def rotate(old_id: int, now: datetime, row: dict) -> bool:
    """Mark refresh token ``old_id`` rotated and record its successor, together: both or
    neither. False when it was rotated or revoked meanwhile (a concurrent use: a replay)."""
    if _engine() is None:  # SQLite: two statements in the session's transaction
        if db.session.execute(_rotate(old_id), {"p_now": now}).rowcount != 1:
            db.session.rollback()
            return False
        db.session.execute(INSERT_TOKEN, row)
        db.session.commit()
        return True
    params = _params(row, _NEW_COLUMNS)
    return _written(_ROTATE_AND_INSERT, {**params, "p_old_id": old_id, "p_now": now})


# --- running them ---------------------------------------------------------------------------------


def _engine() -> Engine | None:
    return current_app.extensions[EXTENSION]


class _SessionConnection:
    """The ORM session's connection, committed on leaving (SQLite)."""

    def __enter__(self):
        return db.session

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            db.session.commit()


def _connection():
    engine = _engine()
    return _SessionConnection() if engine is None else engine.connect()


def _written(statement, params: dict) -> bool:
    """Send one ``INSERT … RETURNING``; whether it wrote a row (an INSERT's rowcount is not
    reported by every driver)."""
    with _connection() as conn:
        return conn.execute(statement, params).first() is not None


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.extensions[EXTENSION] = (
        None
        if url.startswith("sqlite")
        else create_engine(
            url, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=16, pool_recycle=1800
        )
    )


def dispose(app: Flask) -> None:
    engine = app.extensions.get(EXTENSION)
    if engine is not None:
        engine.dispose()
