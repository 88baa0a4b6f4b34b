"""Staff (R2–R5, R9, R11, R16, R18): the same services as the console's staff pages."""

from __future__ import annotations

import base64
import binascii

from flask import url_for

from idp.errors import MalformedRequest
from idp.models import Account
from idp.oauth import sessions
from idp.services import accounts, second_factors, stores, totp
from idp.web.api_v1 import models as m
from idp.web.api_v1 import registry
from idp.web.api_v1.access import Caller
from idp.web.api_v1.spec import Answer

STAFF = "/staff/<ident>"


def staff_out(account: Account) -> m.Staff:
    return m.Staff(
        id=account.public_id,
        name=account.name,
        login_name=account.login_name,
        nickname=account.nickname,
        email=account.email,
        phone=account.phone,
        gender=account.gender,
        notes=account.notes,
        status=account.status,
        departed_at=account.departed_at,
        must_change_password=account.must_change_password,
        second_factor=second_factors.has_any(account),  # an app or a passkey (R19)
        muted=account.is_muted,
        roles=[r.name for r in account.roles],
        stores=[s.public_id for s in account.stores],
        default_store=account.default_store.public_id if account.default_store else None,
    )


def _one(account: Account, status: int = 200) -> Answer:
    return Answer(staff_out(account), status, etag=accounts.edit_version(account))


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """A cursor is the last name key of the previous page, base64url: opaque to callers."""
    if not cursor:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not key or "\x00" in key or len(key) > 120:
        raise MalformedRequest("The cursor is not one this API gave", field="cursor")
    return key


@registry.route(
    "GET", "/staff", summary="List staff", tag="staff", query=m.StaffQuery, answer=m.StaffList
)
def list_staff(caller: Caller, query: m.StaffQuery) -> Answer:
    """Every sub-account (R4: departed ones too, ``status=departed``), in the order of their
    names, a page at a time: follow ``next_cursor`` until it is null."""
    store_id = stores.get_store(caller.actor, query.store).id if query.store else None
    found = accounts.list_staff(
        caller.actor,
        status=query.status,
        search=query.search or None,
        role_id=query.role,
        store_id=store_id,
        group_id=query.group,
        muted=query.muted,
        second_factor=query.second_factor,
        after=decode_cursor(query.cursor),
        limit=query.limit + 1,
    )
    page = found[: query.limit]
    more = len(found) > query.limit
    return Answer(
        m.StaffList(
            items=[staff_out(a) for a in page],
            next_cursor=encode_cursor(page[-1].name_key) if more else None,
        )
    )


@registry.route(
    "POST",
    "/staff",
    summary="Create a sub-account",
    tag="staff",
    body=m.StaffCreate,
    answer=m.StaffWithPassword,
    status=201,
    etag=True,
    idempotent=True,
)
def create_staff(caller: Caller, body: m.StaffCreate) -> Answer:
    """R2 (the plan's limit), R3 (unique email and phone), R8/R9 (authorized stores; the first is
    the default). Without a password one is generated and returned once."""
    password = body.password or accounts.generate_password()
    account = accounts.create_sub_account(
        caller.actor,
        name=body.name,
        password=password,
        email=body.email or None,
        phone=body.phone or None,
        nickname=body.nickname or None,
        notes=body.notes or None,
        roles=body.roles,
        stores=body.stores,
        must_change_password=body.must_change_password,
    )
    return Answer(
        m.StaffWithPassword(staff=staff_out(account), password=None if body.password else password),
        201,
        etag=accounts.edit_version(account),
        location=url_for("api_v1.get_staff", ident=account.public_id),
    )


@registry.route("GET", STAFF, summary="Get a sub-account", tag="staff", answer=m.Staff, etag=True)
def get_staff(caller: Caller, ident: str) -> Answer:
    """By id (``acct_…``) or sub-name."""
    return _one(accounts.get_sub_account(caller.actor, ident))


@registry.route(
    "PATCH",
    STAFF,
    summary="Edit a sub-account",
    tag="staff",
    body=m.StaffEdit,
    answer=m.Staff,
    etag=True,
    if_match=True,
)
def edit_staff(caller: Caller, ident: str, body: m.StaffEdit, expected: str | None) -> Answer:
    """R18: only the fields sent change. ``stores`` replaces what it holds (R11's reset);
    a new email or phone hands the account over (R4)."""
    account = accounts.get_sub_account(caller.actor, ident)
    changes = body.model_dump(exclude_unset=True)
    store_ids = changes.pop("stores", None)
    default = changes.pop("default_store", None)
    if "roles" in changes and changes["roles"] is None:
        changes["roles"] = []
    if "name" in changes and changes["name"] is None:
        raise MalformedRequest("Body field name: cannot be null", field="name")
    accounts.update_sub_account(
        caller.actor,
        account,
        expected_version=expected,
        stores=store_ids,
        default_store=default,
        **changes,
    )
    return _one(account)


def _staff_action(name: str, summary: str, service, answer=m.Staff, body=None):
    def view(caller: Caller, ident: str, expected: str | None, **kwargs) -> Answer:
        account = accounts.get_sub_account(caller.actor, ident)
        return service(caller.actor, account, expected, **kwargs)

    view.__name__ = name
    view.__doc__ = service.__doc__
    registry.route(
        "POST",
        f"{STAFF}/{name.replace('_', '-')}",
        summary=summary,
        tag="staff",
        answer=answer,
        body=body,
        etag=True,
        if_match=True,
    )(view)


def _disable(actor, account, expected):
    """R4/R5: departed, never deleted: its sessions end and its tokens stop working at once."""
    accounts.disable_sub_account(actor, account, expected_version=expected)
    return _one(account)


def _enable(actor, account, expected):
    """R4: enabled again, with its name, stores and roles."""
    accounts.enable_sub_account(actor, account, expected_version=expected)
    return _one(account)


def _reset_2fa(actor, account, expected):
    """R16: its second factor is removed (a lost phone) and its sessions end."""
    totp.reset_totp(actor, account, expected_version=expected)
    return _one(account)


def _end_sessions(actor, account, expected):
    """R16: every session of the sub-account ends; apps are told by back-channel logout."""
    ended = sessions.end_sessions_by_owner(actor, account, expected_version=expected)
    return Answer(
        m.SessionsEnded(staff=staff_out(account), sessions_ended=ended),
        etag=accounts.edit_version(account),
    )


def _reset_password(actor, account, expected, body: m.PasswordReset):
    """R16: a password chosen, or generated and returned once; a new one must be chosen at the
    next sign-in, and its sessions end."""
    password = accounts.reset_sub_account_password(
        actor, account, body.password, expected_version=expected
    )
    return Answer(
        m.StaffWithPassword(staff=staff_out(account), password=password),
        etag=accounts.edit_version(account),
    )


def _hand_over(actor, account, expected, body: m.HandOver):
    """R4: the account goes to another person (new contact details, a first password they
    replace); everything of the previous holder ends, and a departed account is enabled."""
    password = body.password or accounts.generate_password()
    accounts.hand_over(
        actor,
        account,
        password=password,
        name=body.name,
        nickname=body.nickname,
        email=body.email,
        phone=body.phone,
        expected_version=expected,
    )
    return Answer(
        m.StaffWithPassword(staff=staff_out(account), password=None if body.password else password),
        etag=accounts.edit_version(account),
    )


_staff_action("disable", "Disable a sub-account (R4, R5)", _disable)
_staff_action("enable", "Enable a departed sub-account (R4)", _enable)
_staff_action("reset_2fa", "Remove a sub-account's second factor (R16)", _reset_2fa)
_staff_action(
    "end_sessions", "End a sub-account's sessions (R16)", _end_sessions, answer=m.SessionsEnded
)
_staff_action(
    "reset_password",
    "Reset a sub-account's password (R16)",
    _reset_password,
    answer=m.StaffWithPassword,
    body=m.PasswordReset,
)
_staff_action(
    "hand_over",
    "Hand a sub-account over to another person (R4)",
    _hand_over,
    answer=m.StaffWithPassword,
    body=m.HandOver,
)


@registry.route(
    "POST",
    "/staff/assignments",
    summary="Assign stores to many staff (R11)",
    tag="staff",
    body=m.Assignment,
    answer=m.AssignmentDone,
)
def assign_stores(caller: Caller, body: m.Assignment) -> Answer:
    """R11: add the stores to what each holds, remove them, or reset each to exactly them; all
    or nothing, as the console's batch form."""
    changed = stores.assign_stores(caller.actor, body.accounts, body.stores, body.mode)
    return Answer(m.AssignmentDone(staff=[staff_out(a) for a in changed]))
