"""Writes the audit log. Called inside the service's own transaction, so an action and its record
land together or not at all.

An operator acting through the ``idp`` command acts for a company (the services check the
company's main account as the actor), but the record names the operator (``cli:<OS user>``),
with the account it acted for, so that it is never mistaken for the owner's own action.

The owner console reads a company's log here too (issue 15): ``search`` pages it newest first by
keyset on the id (never an OFFSET), and ``stream`` reads it in batches for the CSV and JSON Lines
exports, so that a year of a busy company never sits in memory at once. Both are scoped to the
actor's company. No entry holds a secret: services record "changed", never a password or code."""

from __future__ import annotations

import contextlib
import csv
import getpass
import io
import json
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select

from idp.defaults import AUDIT_EXPORT_BATCH, AUDIT_PAGE_SIZE, MAX_ROW_ID
from idp.errors import InvalidInput
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, AuditEvent, Store
from idp.models.accounts import MAIN, MAIN_NAME_KEY
from idp.services.authz import require_owner
from idp.services.names import normalize, parse_login_name
from idp.services.tx import transaction

SYSTEM = "system"
_operator: ContextVar[str | None] = ContextVar("idp_audit_operator", default=None)
_request_id: ContextVar[str | None] = ContextVar("idp_audit_request_id", default=None)


def bind_request(request_id: str | None):
    """The request whose changes are being recorded (set by the web layer for each request);
    returns a token for ``unbind_request``."""
    return _request_id.set(request_id)


def unbind_request(token) -> None:
    _request_id.reset(token)


API_ACTOR = "api:"  # the actor of a company API client's entries (``api:<client_id>``)
_api_caller: ContextVar[dict | None] = ContextVar("idp_audit_api_caller", default=None)


def bind_api_caller(client_id: str, *, jti: str | None = None, own_client: bool = False):
    """Who calls the admin API (issue 16), set by the API for its request; returns a token for
    ``unbind_api_caller``. Every entry written meanwhile says so in ``details["api"]``: the
    client's id and, for the owner's token, its ``jti`` (never the token itself). A company's
    own API client (``own_client``) acts for the company's main account, but its entries name
    the client as the actor (``api:<client_id>``), as the CLI's name the operator: it is never
    mistaken for the owner's own action."""
    caller = {"client_id": client_id}
    if jti is not None:
        caller["jti"] = jti
    return _api_caller.set({**caller, "own_client": own_client})


def unbind_api_caller(token) -> None:
    _api_caller.reset(token)


def os_user() -> str:
    """Who runs the command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid {os.getuid()}"


@contextlib.contextmanager
def operator(name: str) -> Iterator[None]:
    """Records written inside name ``name`` (``cli:root``) as the actor, acting for the
    account the service was given."""
    token = _operator.set(name[:160])
    try:
        yield
    finally:
        _operator.reset(token)


def record(
    actor: Account | None,
    action: str,
    *,
    company_id: int | None,
    target: Any = None,
    **details: Any,
) -> AuditEvent:
    acting = _operator.get()
    api = _api_caller.get()
    if api is not None:
        details = {**details, "api": {k: v for k, v in api.items() if k != "own_client"}}
        if api["own_client"] and acting is None:
            acting = API_ACTOR + api["client_id"]
    if acting is not None:
        details = {**details, "acting_for": actor.login_name if actor is not None else None}
        actor_id, actor_name = None, acting
    else:
        actor_id = actor.id if actor is not None else None
        actor_name = actor.login_name if actor is not None else SYSTEM
    event = AuditEvent(
        company_id=company_id,
        actor_id=actor_id,
        actor=actor_name,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=getattr(target, "public_id", None) if target is not None else None,
        details=details,
        request_id=_request_id.get(),
    )
    db.session.add(event)
    return event


@transaction
def record_read(actor: Account, what: str, **details: Any) -> None:
    """One entry for a read through the admin API (``api.read``, ``what`` was read): issue 16
    asks for an entry per call, naming the client or token (``bind_api_caller``)."""
    require_owner(actor)
    record(actor, "api.read", company_id=actor.company_id, what=what, **details)


def events_for(company_id: int, *, limit: int = 100) -> list[AuditEvent]:
    return (
        db.session.query(AuditEvent)
        .filter_by(company_id=company_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
        .all()
    )


# --- the owner console's log (issue 15) ------------------------------------------------------

PAGE_SIZE, EXPORT_BATCH = AUDIT_PAGE_SIZE, AUDIT_EXPORT_BATCH
OPERATORS = "cli:"  # the actor filter that finds every operator's entries (``cli:<OS user>``)
_MAX_FILTER = 160  # the longest actor or target worth looking for (the actor column's size)
_MAX_ID = MAX_ROW_ID

# What the owner reads for each kind of entry; a kind missing here is shown as it is recorded.
ACTION_LABELS = {
    "company.created": _l("Company created"),
    "company.registered": _l("Company registered"),
    "company.limit_changed": _l("Sub-account limit changed by the operators"),
    "company.totp_required": _l("Two-step verification for all staff changed"),
    "company.preferences_changed": _l("Company language or time zone changed"),
    "subaccount.created": _l("Sub-account created"),
    "subaccount.updated": _l("Sub-account changed"),
    "subaccount.disabled": _l("Sub-account disabled"),
    "subaccount.enabled": _l("Sub-account enabled again"),
    "subaccount.handed_over": _l("Sub-account handed over"),
    "subaccount.password_reset": _l("Sub-account password reset"),
    "subaccount.totp_reset": _l("Sub-account second factor removed"),
    "subaccount.sessions_ended": _l("Sub-account sessions ended"),
    "subaccount.default_store_changed": _l("Default store changed"),
    "store.authorized": _l("Store authorized"),
    "store.deauthorized": _l("Store de-authorized"),
    "store.operators_changed": _l("Store operators changed"),
    "stores.batch_add": _l("Stores added to staff"),
    "stores.batch_remove": _l("Stores removed from staff"),
    "stores.batch_reset": _l("Staff stores replaced"),
    "role.created": _l("Role created"),
    "role.updated": _l("Role changed"),
    "role.deleted": _l("Role deleted"),
    "group.created": _l("Staff group created"),
    "group.deleted": _l("Staff group deleted"),
    "group.renamed": _l("Staff group renamed"),
    "group.member_added": _l("Added to a staff group"),
    "group.member_removed": _l("Removed from a staff group"),
    "notifications.route_changed": _l("Notification routing changed"),
    "wallet.set": _l("Wallet password set"),
    "wallet.changed": _l("Wallet password changed"),
    "wallet.check_failed": _l("Wrong wallet password entered"),
    "wallet.locked": _l("Wallet password locked"),
    "wallet.check_refused_locked": _l("Wallet password refused while locked"),
    "api_client.created": _l("API client created"),
    "api_client.revoked": _l("API client revoked"),
    "api_client.secret_rotated": _l("API client secret replaced"),
    "api_client.scim_token_replaced": _l("SCIM token replaced"),
    "account.activated": _l("Account activated"),
    "account.activation_resent": _l("Activation link sent again"),
    "account.password_changed": _l("Password changed"),
    "account.password_reset_requested": _l("Password reset link requested"),
    "account.password_reset": _l("Password reset through an emailed link"),
    "account.preferences_changed": _l("Own language or time zone changed"),
    "account.privacy_changed": _l("Privacy level changed"),
    "account.verification_code_sent": _l("Verification code sent"),
    "account.verified": _l("Email or phone verified"),
    "account.profile_changed": _l("Own name or gender changed"),
    "account.contact_change_code_sent": _l("Code sent to a new email or mobile"),
    "account.contact_changed": _l("Own email or mobile changed"),
    "account.app_revoked": _l("App's access revoked"),
    "account.totp_enabled": _l("Two-step verification turned on"),
    "account.totp_disabled": _l("Two-step verification turned off"),
    "account.recovery_code_used": _l("Recovery code used to sign in"),
    "account.recovery_codes_renewed": _l("New recovery codes made"),
    "account.passkey_added": _l("Passkey added"),
    "account.passkey_renamed": _l("Passkey renamed"),
    "account.passkey_removed": _l("Passkey removed"),
    "api.read": _l("Read through the admin API"),
    "avatar.submitted": _l("Photo sent for review"),
    "avatar.approved": _l("Photo approved"),
    "avatar.rejected": _l("Photo rejected"),
}

# The names of the details entries carry, for the log's page.
DETAIL_LABELS = {
    "account": _l("Account"),
    "acting_for": _l("Acting for"),
    "after": _l("After"),
    "api": _l("Admin API caller"),
    "before": _l("Before"),
    "channel": _l("Channel"),
    "changes": _l("Changes"),
    "client": _l("App"),
    "client_id": _l("Client ID"),
    "default_store": _l("Default store"),
    "defaults_moved": _l("Default stores moved"),
    "disabled": _l("Disabled"),
    "email": _l("Email"),
    "external_id": _l("Store id"),
    "failures": _l("Failures"),
    "gender": _l("Gender"),
    "generated": _l("Generated password"),
    "group": _l("Group"),
    "language": _l("Language"),
    "marketplace": _l("Marketplace"),
    "mode": _l("Operated"),
    "name": _l("Name"),
    "nickname": _l("Nickname"),
    "notes": _l("Notes"),
    "operators": _l("Operators"),
    "password": _l("Password"),
    "permissions": _l("Permissions"),
    "phone": _l("Phone"),
    "photo": _l("Photo"),
    "re_enabled": _l("Enabled again"),
    "reason": _l("Reason"),
    "remaining": _l("Recovery codes left"),
    "removed_from": _l("Taken from"),
    "required": _l("Required"),
    "roles": _l("Roles"),
    "second_factor": _l("With two-step verification"),
    "sessions": _l("Sessions"),
    "store": _l("Store"),
    "stores": _l("Stores"),
    "timezone": _l("Time zone"),
    "tokens_ended": _l("Tokens ended"),
    "consent_removed": _l("Consent removed"),
    "until": _l("Until"),
    "what": _l("What"),
}


def label_of(action: str) -> str:
    """The kind of an entry in the reader's language."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


@dataclass(frozen=True)
class LogFilters:
    """What the owner narrows the log to; empty means any. ``actor``: a login name as recorded
    (or one of the company's accounts, whatever it was called then), ``cli:`` for every operator;
    ``target``: a target id, or a login name, store name or the company name it resolves to;
    ``action``: one kind; ``since`` (inclusive) and ``until`` (exclusive): aware datetimes."""

    actor: str = ""
    target: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class LogPage:
    entries: list[AuditEvent]
    older: int | None  # ``before`` of the next older page; None on the last page
    has_newer: bool
    newer: int | None  # ``before`` of the next newer page; None (with has_newer) = the first page
    names: dict[str, str]  # display names of the targets and of the ids in the details


def cursor(value: str | None) -> int | None:
    """A ``before`` cursor from a query string; anything but a plausible id is no cursor."""
    if not value or not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


def search(
    actor: Account, filters: LogFilters, *, before: int | None = None, limit: int = PAGE_SIZE
) -> LogPage:
    """One page of the company's log, newest first: entries whose id is below ``before``."""
    require_owner(actor)
    where = _where(actor, filters)
    query = select(AuditEvent).where(*where)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
    entries = list(rows[:limit])
    has_newer, newer = False, None
    if before is not None:
        # The ``limit`` entries just above this page: a page ending there starts with them.
        floor = entries[0].id + 1 if entries else before
        above = db.session.scalars(
            select(AuditEvent.id)
            .where(*where, AuditEvent.id >= floor)
            .order_by(AuditEvent.id.asc())
            .limit(limit + 1)
        ).all()
        has_newer = bool(above)
        newer = above[limit - 1] + 1 if len(above) > limit else None
    ids = {e.target_id for e in entries if e.target_id}
    for entry in entries:
        ids.update(_ids_in(entry.details))
    return LogPage(
        entries=entries,
        older=entries[-1].id if len(rows) > limit else None,
        has_newer=has_newer,
        newer=newer,
        names=_names(_CompanyRef.of(actor), ids),
    )


def kinds(actor: Account) -> list[str]:
    """The kinds of entry the company's log holds (for the kind filter)."""
    require_owner(actor)
    query = select(AuditEvent.action).where(AuditEvent.company_id == actor.company_id).distinct()
    return sorted(db.session.scalars(query).all())


def stream(actor: Account, filters: LogFilters, *, batch: int = EXPORT_BATCH) -> Iterator[list]:
    """The company's entries matching ``filters``, newest first, as batches of plain dicts (id,
    time in ISO 8601 UTC, actor, action, target_type, target_id, target_name, details,
    request_id). Each batch is one query (``id`` below the previous batch's last) on a connection
    of its own, returned to the pool before the batch is handed over: a slow download holds no
    connection and no more than one batch. Checked at once, read as it is consumed."""
    require_owner(actor)
    return _batches(_where(actor, filters), _CompanyRef.of(actor), batch)


CSV_COLUMNS = (
    "id",
    "time_utc",
    "actor",
    "action",
    "what",
    "target_type",
    "target_id",
    "target_name",
    "details",
    "request_id",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Made once: ``json.dumps`` with options builds a new encoder for every row.
_READABLE_JSON = json.JSONEncoder(ensure_ascii=False)
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def as_csv(batches: Iterable[list[dict]]) -> Iterator[str]:
    """RFC 4180 CSV, with a byte order mark so that Excel reads the UTF-8 (Chinese names) right;
    cells a spreadsheet would run as formulas get a leading apostrophe. ``what`` is the kind in
    the reader's language; ``details`` is JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    labels: dict[str, str] = {}  # translated once per kind, not once per row
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            action = row["action"]
            if action not in labels:
                labels[action] = label_of(action)
            writer.writerow(
                (
                    row["id"],
                    row["time"],
                    _safe_cell(row["actor"]),
                    _safe_cell(action),
                    _safe_cell(labels[action]),
                    _safe_cell(row["target_type"]),
                    _safe_cell(row["target_id"]),
                    _safe_cell(row["target_name"]),
                    _READABLE_JSON.encode(row["details"]),  # starts with "{": never a formula
                    _safe_cell(row["request_id"]),
                )
            )
        yield buffer.getvalue()


def as_jsonl(batches: Iterable[list[dict]]) -> Iterator[str]:
    """JSON Lines: one object per entry and line, UTF-8, times in ISO 8601 UTC."""
    for rows in batches:
        yield "".join(_COMPACT_JSON.encode(row) + "\n" for row in rows)


# --- internals of the log ---------------------------------------------------------------------


@dataclass(frozen=True)
class _CompanyRef:
    """The actor's company as plain values: the exports read them after the request's session
    may have let go of its objects."""

    id: int
    name: str
    public_id: str

    @classmethod
    def of(cls, actor: Account) -> _CompanyRef:
        company = actor.company
        return cls(company.id, company.name, company.public_id)


def _clean(text: str | None) -> str:
    return (text or "")[:_MAX_FILTER].replace("\x00", "").strip()


def _where(actor: Account, filters: LogFilters) -> list:
    """The conditions of a query of ``actor``'s company's log: always its company, never
    another's."""
    where = [AuditEvent.company_id == actor.company_id]
    if who := _clean(filters.actor):
        where.append(_actor_condition(actor, who))
    if target := _clean(filters.target):
        where.append(AuditEvent.target_id.in_(sorted(_target_ids(actor, target))))
    if action := _clean(filters.action):
        where.append(AuditEvent.action == action)
    if filters.since is not None:
        where.append(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        where.append(AuditEvent.created_at < filters.until)
    return where


def _company_account(actor: Account, text: str) -> Account | None:
    """One of the actor's company's accounts by login name (``acme:alice``, ``ACME：Alice``),
    sub-name (``alice``) or the company name (the main account)."""
    try:
        login = parse_login_name(text)
    except InvalidInput:
        return None
    company_key = actor.company.name_key
    if login.sub_key is not None:
        if login.company_key != company_key:
            return None
        key = login.sub_key
    else:
        key = MAIN_NAME_KEY if login.company_key == company_key else login.company_key
    return (
        db.session.query(Account).filter_by(company_id=actor.company_id, name_key=key).one_or_none()
    )


def _actor_condition(actor: Account, who: str):
    if who.casefold() in ("cli", OPERATORS):
        return AuditEvent.actor.like(f"{OPERATORS}%")
    account = _company_account(actor, who)
    recorded = AuditEvent.actor == who
    return or_(recorded, AuditEvent.actor_id == account.id) if account is not None else recorded


def _target_ids(actor: Account, text: str) -> set[str]:
    """The target ids ``text`` may mean: itself, and the public id of the company's account,
    store(s) or the company it names."""
    ids = {text}
    if (account := _company_account(actor, text)) is not None:
        ids.add(account.public_id)
    ids.update(
        db.session.scalars(
            select(Store.public_id).where(
                Store.company_id == actor.company_id,
                or_(Store.name == text, func.lower(Store.name) == text.lower()),
            )
        ).all()
    )
    if normalize(text) == actor.company.name_key:
        ids.add(actor.company.public_id)
    return ids


def _ids_in(value: Any) -> Iterator[str]:
    """Public ids of accounts and stores inside an entry's details."""
    if isinstance(value, str):
        if value.startswith(("acct_", "st_")) and len(value) <= 60:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _ids_in(item)
    elif isinstance(value, list):
        for item in value[:50]:
            yield from _ids_in(item)


def _names(company: _CompanyRef, ids: Iterable[str], connection=None) -> dict[str, str]:
    """Today's display names of the company's accounts, stores and itself among ``ids``."""
    ids = {i for i in ids if isinstance(i, str)}
    run = connection.execute if connection is not None else db.session.execute
    names = {company.public_id: company.name} if company.public_id in ids else {}
    accounts = sorted(i for i in ids if i.startswith("acct_"))
    if accounts:
        for public_id, kind, name in run(
            select(Account.public_id, Account.kind, Account.name).where(
                Account.company_id == company.id, Account.public_id.in_(accounts)
            )
        ):
            names[public_id] = company.name if kind == MAIN else f"{company.name}:{name}"
    store_ids = sorted(i for i in ids if i.startswith("st_"))
    if store_ids:
        for public_id, name in run(
            select(Store.public_id, Store.name).where(
                Store.company_id == company.id, Store.public_id.in_(store_ids)
            )
        ):
            names[public_id] = name
    return names


_EXPORTED = (
    AuditEvent.id,
    AuditEvent.created_at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.target_type,
    AuditEvent.target_id,
    AuditEvent.details,
    AuditEvent.request_id,
)


def _batches(where: list, company: _CompanyRef, batch: int) -> Iterator[list[dict]]:
    last_id = None
    while True:
        query = select(*_EXPORTED).where(*where)
        if last_id is not None:
            query = query.where(AuditEvent.id < last_id)
        with db.engine.connect() as connection:
            rows = connection.execute(query.order_by(AuditEvent.id.desc()).limit(batch)).all()
            names = _names(company, {r.target_id for r in rows if r.target_id}, connection)
        if not rows:
            return
        yield [
            {
                "id": row.id,
                "time": _iso(row.created_at),
                "actor": row.actor,
                "action": row.action,
                "target_type": row.target_type,
                "target_id": row.target_id,
                "target_name": names.get(row.target_id),
                "details": row.details or {},
                "request_id": row.request_id,
            }
            for row in rows
        ]
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC, to the second: ``2026-12-02T10:15:00Z``."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def _safe_cell(text: str | None) -> str | None:
    """A text cell a spreadsheet shows as text, never runs: ``=1+1`` becomes ``'=1+1``."""
    return "'" + text if text and text.startswith(FORMULA_STARTS) else text
