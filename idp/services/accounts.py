"""Sub-accounts: creation within the plan limit (R2), unique contacts (R3), never deleted but
departed (R4, R5), owner edits (R18) and resets (R16), own password change (R7), and finding an
account by its login name (R1)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_ngettext
from sqlalchemy import or_, select, update

from idp import clock
from idp.defaults import MAX_LISTED_STAFF, MAX_NICKNAME, MAX_NOTES
from idp.errors import (
    AccountDisabled,
    AccountNotActivated,
    AuthenticationFailed,
    Conflict,
    EditConflict,  # noqa: F401  (raised through versions; callers catch accounts.EditConflict)
    Forbidden,
    InvalidInput,
    LimitReached,
    NotFound,
)
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, Company, Role, Store, StoreAssignment
from idp.models.accounts import ACTIVE, DEFAULT_PRIVACY, DEPARTED, PENDING, SUB
from idp.models.base import utcnow
from idp.services import audit, outbox, passkeys, passwords, throttle, versions
from idp.services.authz import require_owner, require_sub_account
from idp.services.names import (
    normalize,
    normalize_email,
    normalize_phone,
    parse_login_name,
    validate_sub_name,
)
from idp.services.profile import check_gender
from idp.services.tx import transaction

WRONG_CREDENTIALS = _l("The login name or password is incorrect")


# --- R1: finding accounts -------------------------------------------------------------------


def find_by_login_name(login: str, *options) -> Account | None:
    """R1: ``ACME：Alice`` finds ``acme:alice``. One query, on the normalized keys (loader
    ``options`` ask it for more)."""
    parsed = parse_login_name(login)
    return (
        db.session.query(Account)
        .join(Company, Account.company_id == Company.id)
        .filter(Company.name_key == parsed.company_key)
        .filter(Account.name_key == (parsed.sub_key or "main"))
        .options(*options)
        .one_or_none()
    )


def authenticate(login: str, password: str) -> Account:
    """Check a login name and password. An unknown name and a wrong password get the same error
    and cost the same argon2 time; the state of an account is told only to who knows its
    password. Rehashes when the argon2 parameters have changed."""
    try:
        # Whether it holds a passkey comes with the row: R19's check that follows a right
        # password (``totp.is_required``) asks nothing more.
        account = find_by_login_name(login, passkeys.with_passkey_answer())
    except InvalidInput:
        account = None
    if not passwords.verify_password(account.password_hash if account else None, password):
        raise AuthenticationFailed(WRONG_CREDENTIALS)
    check_may_sign_in(account)
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
        db.session.commit()
    return account


def check_may_sign_in(account: Account) -> None:
    """Whether an account that proved itself (a password, a passkey) may sign in: departed (R4)
    and never activated (R13) accounts are refused, each with its reason."""
    if account.status == DEPARTED:
        raise AccountDisabled(_l("This account has been disabled by the company's owner"))
    if account.status == PENDING:
        raise AccountNotActivated(
            _l("This account has not been activated yet; follow the link in the activation email")
        )


# --- lookups scoped to the actor's company ---------------------------------------------------


def get_sub_account(actor: Account, ident: str) -> Account:
    """A sub-account of the actor's company, by public id or sub-name. Input that can be no
    name (too long, a NUL) is simply not found."""
    require_owner(actor)
    if not isinstance(ident, str) or len(ident) > 120 or "\x00" in ident:
        raise NotFound(_l("No such sub-account in your company"))
    query = db.session.query(Account).filter(
        Account.company_id == actor.company_id, Account.kind == SUB
    )
    account = query.filter(
        or_(Account.public_id == ident, Account.name_key == normalize(ident))
    ).one_or_none()
    return require_sub_account(actor, account)


ACTIVE_STAFF, DEPARTED_STAFF, ALL_STAFF = "active", "departed", "all"
MAX_LISTED = MAX_LISTED_STAFF


def list_staff(
    actor: Account,
    *,
    departed: bool = False,
    search: str | None = None,
    status: str | None = None,
    role_id: int | None = None,
    store_id: int | None = None,
    group_id: int | None = None,
    muted: bool | None = None,
    second_factor: bool | None = None,
    after: str | None = None,
    limit: int = MAX_LISTED,
) -> list[Account]:
    """R4: enabled staff, or departed staff (searchable, e.g. to re-enable a taken name), or all;
    filtered by role, store, staff group (R23), muted (R14) and second factor (R19).
    ``status`` (active, departed or all) wins over ``departed``. In the order of their names;
    ``after`` (a name key, the last of the previous page) and ``limit`` page it by keyset."""
    from idp.models.groups import group_members

    require_owner(actor)
    status = status or (DEPARTED_STAFF if departed else ACTIVE_STAFF)
    query = db.session.query(Account).filter(
        Account.company_id == actor.company_id, Account.kind == SUB
    )
    if status != ALL_STAFF:
        query = query.filter(Account.status == (DEPARTED if status == DEPARTED_STAFF else ACTIVE))
    if search:
        term = normalize(search.strip())[:100]
        query = query.filter(
            or_(
                Account.name_key.contains(term, autoescape=True),
                Account.email_key.contains(term, autoescape=True),
                Account.nickname.contains(search.strip()[:100], autoescape=True),
            )
        )
    if role_id is not None:
        query = query.filter(Account.roles.any(Role.id == role_id))
    if store_id is not None:
        query = query.filter(Account.assignments.any(StoreAssignment.store_id == store_id))
    if group_id is not None:
        members = select(group_members.c.account_id).where(group_members.c.group_id == group_id)
        query = query.filter(Account.id.in_(members))
    if muted is not None:
        unverified = Account.email_verified_at.is_(None) & Account.phone_verified_at.is_(None)
        query = query.filter(unverified if muted else ~unverified)
    if second_factor is not None:
        from idp.services.second_factors import has_any_clause

        enrolled = has_any_clause()  # an authenticator app or a passkey (R19)
        query = query.filter(enrolled if second_factor else ~enrolled)
    if after is not None:
        query = query.filter(Account.name_key > after)
    return query.order_by(Account.name_key).limit(max(1, min(limit, MAX_LISTED))).all()


def ensure_contact_free(
    email_key: str | None, phone_key: str | None, *, except_id: int | None = None
) -> None:
    """R3: an email or phone belongs to one account, of any company."""
    for column, key, taken, field in (
        (Account.email_key, email_key, _EMAIL_TAKEN, "email"),
        (Account.phone_key, phone_key, _PHONE_TAKEN, "phone"),
    ):
        if key is None:
            continue
        query = db.session.query(Account.id).filter(column == key)
        if except_id is not None:
            query = query.filter(Account.id != except_id)
        if query.first() is not None:
            raise Conflict(taken, field=field)


_EMAIL_TAKEN = _l("This email address is already used by another account")
_PHONE_TAKEN = _l("This phone number is already used by another account")


def _too_long(field: str, limit: int):
    """``Nickname has at most 60 characters``: one whole sentence per field."""
    if field == "nickname":
        return lazy_ngettext(
            "Nickname has at most %(num)d character",
            "Nickname has at most %(num)d characters",
            limit,
        )
    if field == "notes":
        return lazy_ngettext(
            "Notes has at most %(num)d character", "Notes has at most %(num)d characters", limit
        )
    return lazy_ngettext(
        "Gender has at most %(num)d character", "Gender has at most %(num)d characters", limit
    )


def _check_text(value: str | None, limit: int, field: str) -> str | None:
    """``field`` is ``nickname``, ``notes`` or ``gender``."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(_too_long(field, limit), field=field)
    return value.strip() or None


def _roles(actor: Account, role_ids: Iterable[int | str]) -> list[Role]:
    wanted = list(dict.fromkeys(role_ids))
    if not wanted:
        return []
    roles = (
        db.session.query(Role)
        .filter(Role.company_id == actor.company_id)
        .filter(
            or_(
                Role.id.in_([r for r in wanted if isinstance(r, int)]),
                Role.name_key.in_([normalize(str(r)) for r in wanted]),
            )
        )
        .all()
    )
    found = {r.id for r in roles} | {r.name_key for r in roles}
    missing = [r for r in wanted if (r if isinstance(r, int) else normalize(str(r))) not in found]
    if missing:
        raise NotFound(_l("One of the chosen roles does not exist in your company"), field="roles")
    return roles


# --- R2, R3, R8, R9: creating ---------------------------------------------------------------


def _claim_sub_account_slot(company_id: int) -> None:
    """R2: one atomic conditional UPDATE, the first write of the transaction, so concurrent
    creations serialize on the company row (PostgreSQL) or the write lock (SQLite) and the limit
    holds. Departed accounts count: the counter never goes down."""
    result = db.session.execute(
        update(Company)
        .where(Company.id == company_id, Company.sub_account_count < Company.sub_account_limit)
        .values(sub_account_count=Company.sub_account_count + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        limit = db.session.get(Company, company_id).sub_account_limit
        raise LimitReached(
            lazy_ngettext(
                "Your plan allows %(num)d sub-account and it is used (departed staff count); "
                "re-enable or hand over a departed account instead",
                "Your plan allows %(num)d sub-accounts and all are used (departed staff count); "
                "re-enable or hand over a departed account instead",
                limit,
            )
        )


@transaction
def create_sub_account(
    actor: Account,
    *,
    name: str,
    password: str,
    email: str | None = None,
    phone: str | None = None,
    nickname: str | None = None,
    notes: str | None = None,
    roles: Iterable[int | str] = (),
    stores: Iterable[Store] = (),
    must_change_password: bool = False,
) -> Account:
    """R2, R3, R8, R9: a new sub-account, working at once (R14: muted until verified). With
    ``must_change_password`` the person replaces the password the owner gave at first sign-in."""
    require_owner(actor)
    validate_sub_name(name)
    passwords.check_policy(password)
    email_display, email_key = normalize_email(email)
    phone_display, phone_key = normalize_phone(phone)
    nickname = _check_text(nickname, MAX_NICKNAME, "nickname")
    notes = _check_text(notes, MAX_NOTES, "notes")
    from idp.services.stores import check_assignable

    store_list = check_assignable(actor, stores)
    role_list = _roles(actor, roles)
    password_hash = passwords.hash_password(password)  # before the write lock is taken

    _claim_sub_account_slot(actor.company_id)
    if (
        db.session.query(Account.id)
        .filter_by(company_id=actor.company_id, name_key=normalize(name))
        .first()
    ):
        raise Conflict(
            _l(
                "The name '%(name)s' is taken in your company (look among departed staff too)",
                name=name,
            ),
            field="name",
        )
    ensure_contact_free(email_key, phone_key)
    account = Account(
        company_id=actor.company_id,
        kind=SUB,
        name=name,
        name_key=normalize(name),
        nickname=nickname,
        email=email_display,
        email_key=email_key,
        phone=phone_display,
        phone_key=phone_key,
        notes=notes,
        password_hash=password_hash,
        must_change_password=must_change_password,
        roles=role_list,
    )
    db.session.add(account)
    for store in store_list:
        account.assignments.append(StoreAssignment(store=store))
    db.session.flush()
    account.default_store_id = store_list[0].id if store_list else None  # R9
    audit.record(
        actor,
        "subaccount.created",
        company_id=actor.company_id,
        target=account,
        name=name,
        roles=[r.name for r in role_list],
        stores=[s.public_id for s in store_list],
    )
    return account


# --- R4, R18: editing, disabling, re-enabling -----------------------------------------------

EDITABLE = ("name", "nickname", "email", "phone", "notes", "gender")


def _snapshot(account: Account) -> dict:
    return {
        "name": account.name,
        "nickname": account.nickname,
        "email": account.email,
        "phone": account.phone,
        "notes": account.notes,
        "gender": account.gender,
        "roles": sorted(r.name for r in account.roles),
        "stores": [a.store.public_id for a in account.assignments],
    }


def edit_version(account: Account) -> str:
    """A short fingerprint of what an owner edits (the fields, roles and stores): a form carries
    the one it was shown with, and a save made against an older one is refused rather than
    silently overwriting another owner's change (two tabs at once). The admin API's ETag."""
    facts = {**_snapshot(account), "default": account.default_store_id, "status": account.status}
    return versions.fingerprint(facts)


def _check_version(account: Account, expected: str | None) -> None:
    """Refused when the account changed since ``expected`` was read (the check and the write are
    one step: ``versions.check`` locks the row first)."""
    versions.check(
        account,
        expected,
        edit_version,
        _l(
            "%(login)s was changed by someone else since you opened this page. "
            "The form now shows the current values; make your change again.",
            login=account.login_name,
        ),
    )


check_version = _check_version  # for the other services that act on one sub-account (R16)


# R4: what makes an edit a hand-over. The email and phone count by their keys (R3), so writing
# the same address differently (``Bob@Example.com``) hands nothing over.
HAND_OVER_FIELDS = frozenset({"password", "email_key", "phone_key"})


@dataclass(frozen=True)
class Edit:
    """What an owner's edit changed: ``changes`` as audited (before and after of each field,
    ``password: changed``), and whether it hands the account to another person (R4)."""

    changes: dict
    handed_over: bool


@transaction
def update_sub_account(
    actor: Account,
    account: Account,
    *,
    expected_version: str | None = None,
    stores: Iterable[Store | str] | None = None,
    default_store: Store | str | None = None,
    **changes,
) -> Account:
    """R18 (and R4's hand-over): nickname, email, phone, notes, gender, roles, name, password,
    and the stores it holds (``stores``: exactly these, the first new one the default when the
    default is gone, R9). With ``expected_version`` (``edit_version``), refused with
    ``EditConflict`` when the account changed meanwhile. A new password, email or phone hands
    the account over (R4): everything of the previous holder ends (``_record_edit``)."""
    edit = _edit(
        actor,
        account,
        expected_version=expected_version,
        stores=stores,
        default_store=default_store,
        changes=changes,
    )
    _record_edit(actor, account, edit)
    return account


def _edit(
    actor: Account,
    account: Account,
    *,
    expected_version: str | None,
    stores: Iterable[Store | str] | None,
    default_store: Store | str | None,
    changes: dict,
) -> Edit:
    """Check and apply an owner's edit; the caller records it (``_record_edit``)."""
    require_owner(actor)
    require_sub_account(actor, account)
    _check_version(account, expected_version)
    before = _snapshot(account)
    keys_before = {"email_key": account.email_key, "phone_key": account.phone_key}
    default_before = account.default_store_id
    unknown = set(changes) - set(EDITABLE) - {"roles", "password"}
    if unknown:
        raise InvalidInput(_l("Cannot change: %(fields)s", fields=", ".join(sorted(unknown))))
    if stores is not None:
        from idp.services.stores import RESET, apply_assignment, check_assignable

        chosen = check_assignable(actor, stores)
        if not chosen:
            raise InvalidInput(_l("Choose at least one store"), field="stores")
        apply_assignment(account, chosen, RESET)
    if default_store:
        from idp.services.stores import get_store

        store = get_store(actor, default_store)
        if store.id not in {a.store_id for a in account.assignments}:
            raise InvalidInput(
                _l("The default store must be one of the stores it holds"), field="default_store"
            )
        account.default_store_id = store.id
    if "name" in changes and changes["name"] != account.name:
        name = validate_sub_name(changes["name"])
        taken = (
            db.session.query(Account.id)
            .filter(Account.company_id == account.company_id, Account.id != account.id)
            .filter(Account.name_key == normalize(name))
            .first()
        )
        if taken:
            raise Conflict(
                _l("The name '%(name)s' is taken in your company", name=name), field="name"
            )
        account.name, account.name_key = name, normalize(name)
    if "email" in changes or "phone" in changes:
        email_display, email_key = normalize_email(changes.get("email", account.email))
        phone_display, phone_key = normalize_phone(changes.get("phone", account.phone))
        ensure_contact_free(email_key, phone_key, except_id=account.id)
        # R14: a changed email or phone (e.g. an account handed over, R4) is unverified again.
        if email_key != account.email_key:
            account.email_verified_at = None
        if phone_key != account.phone_key:
            account.phone_verified_at = None
        account.email, account.email_key = email_display, email_key
        account.phone, account.phone_key = phone_display, phone_key
    if "nickname" in changes:
        account.nickname = _check_text(changes["nickname"], MAX_NICKNAME, "nickname")
    if "notes" in changes:
        account.notes = _check_text(changes["notes"], MAX_NOTES, "notes")
    if "gender" in changes:
        account.gender = check_gender(changes["gender"])  # R20's choices, as on the profile
    if "roles" in changes:
        account.roles = _roles(actor, changes["roles"])
    if changes.get("password"):
        account.password_hash = passwords.hash_password(passwords.check_policy(changes["password"]))
        account.password_changed_at = utcnow()
        account.must_change_password = True
    touched = {k for k, v in keys_before.items() if getattr(account, k) != v}
    if changes.get("password"):
        touched.add("password")
    handed_over = bool(touched & HAND_OVER_FIELDS)
    if handed_over:
        _forget_previous_holder(account, given=changes)
    after = _snapshot(account)
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if account.default_store_id != default_before:
        changed["default_store"] = {
            "before": db.session.get(Store, default_before).public_id if default_before else None,
            "after": (
                db.session.get(Store, account.default_store_id).public_id
                if account.default_store_id
                else None
            ),
        }
    if changes.get("password"):
        changed["password"] = "changed"
    return Edit(changes=changed, handed_over=handed_over)


def _forget_previous_holder(account: Account, *, given: dict) -> None:
    """R4, R20, R21: a handed-over account shows nothing personal of the previous holder. Their
    approved photo stops being the ``picture`` and a photo still waiting is withdrawn
    (``avatars.forget``); their gender (unless the edit gives the new holder's) and their privacy
    level (back to the default) go. The name claim is the nickname, which a hand-over replaces."""
    from idp.services import avatars

    avatars.forget(account)
    if "gender" not in given:
        account.gender = None
    account.privacy = DEFAULT_PRIVACY


def _record_edit(actor: Account, account: Account, edit: Edit, **details) -> None:
    """The one place an owner's edit is recorded, and where R4's hand-over takes effect: the
    previous holder's sessions, refresh and access tokens end (R5's ``end_all_for_account``)
    and its second factor and recovery codes are forgotten, in the edit's own transaction; the
    entry says "handed over". Any other edit (nickname, notes, roles, stores...) signs no one
    out."""
    action = "subaccount.updated"
    if edit.handed_over:
        from idp.oauth import sessions
        from idp.services import totp

        sessions.end_all_for_account(account)
        totp.clear_second_factor(account)
        action = "subaccount.handed_over"
    audit.record(
        actor, action, company_id=actor.company_id, target=account, changes=edit.changes, **details
    )


@transaction
def disable_sub_account(
    actor: Account,
    account: Account,
    *,
    reason: str = "owner",
    expected_version: str | None = None,
) -> Account:
    """R4/R5: departed, never deleted; its name stays taken. Its sessions and tokens end in the
    same transaction (``mark_departed``). ``expected_version``: as ``update_sub_account``."""
    require_owner(actor)
    require_sub_account(actor, account)
    _check_version(account, expected_version)
    if account.status == DEPARTED:
        raise Conflict(_l("'%(login)s' is already disabled", login=account.login_name))
    mark_departed(account)
    audit.record(
        actor, "subaccount.disabled", company_id=actor.company_id, target=account, reason=reason
    )
    return account


def mark_departed(account: Account) -> None:
    """The one place an account becomes departed (owner action or R10's last store taken)."""
    account.status = DEPARTED
    account.departed_at = utcnow()
    from idp.oauth import sessions

    sessions.end_all_for_account(account)  # R5: sessions, refresh and access tokens, at once


@transaction
def enable_sub_account(
    actor: Account, account: Account, *, expected_version: str | None = None
) -> Account:
    """R4: re-enable a departed sub-account (it keeps its name, stores and roles)."""
    require_owner(actor)
    require_sub_account(actor, account)
    _check_version(account, expected_version)
    if account.status != DEPARTED:
        raise Conflict(_l("'%(login)s' is not disabled", login=account.login_name))
    account.status = ACTIVE
    account.departed_at = None
    audit.record(actor, "subaccount.enabled", company_id=actor.company_id, target=account)
    return account


@transaction
def hand_over(
    actor: Account,
    account: Account,
    *,
    password: str,
    name: str | None = None,
    nickname: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    expected_version: str | None = None,
) -> Account:
    """R4: give a sub-account (usually a departed one) to another person: a new name if wanted,
    their contact details (the previous holder's are gone when none are given), a password they
    replace at first sign-in. Everything of the previous holder ends, as for any hand-over made
    through ``update_sub_account`` (``_record_edit``). A departed account is enabled again.
    Audited as a hand-over (never with the password)."""
    if not password:
        raise InvalidInput(_l("Give the new holder a first password"), field="password")
    changes = {"password": password, "email": email, "phone": phone, "nickname": nickname}
    if name:
        changes["name"] = name
    edit = _edit(
        actor,
        account,
        expected_version=expected_version,
        stores=None,
        default_store=None,
        changes=changes,
    )
    was_departed = account.status == DEPARTED
    account.status, account.departed_at = ACTIVE, None
    _record_edit(actor, account, edit, re_enabled=was_departed)
    return account


# --- R7, R16: passwords ---------------------------------------------------------------------


@transaction
def reset_sub_account_password(
    actor: Account,
    account: Account,
    new_password: str | None = None,
    *,
    expected_version: str | None = None,
) -> str:
    """R16: the owner sets (or has generated) a password; the staff member must choose a new one
    at next sign-in. Returns the password so that it can be shown once."""
    require_owner(actor)
    require_sub_account(actor, account)
    _check_version(account, expected_version)
    password = new_password or generate_password()
    passwords.check_policy(password)
    account.password_hash = passwords.hash_password(password)
    account.password_changed_at = utcnow()
    account.must_change_password = True
    from idp.oauth import sessions

    sessions.end_all_for_account(account)  # R16: its sessions end with the old password
    audit.record(
        actor,
        "subaccount.password_reset",
        company_id=actor.company_id,
        target=account,
        generated=new_password is None,
    )
    if account.email:  # R22: a security notice, whatever the account's subscriptions
        outbox.send_email("password_reset_by_owner", account.email, account=account)
    # The owner vouches for the person: a sign-in lock on the name (anyone can cause one with
    # ten wrong guesses) ends now, or the new password could not be used for 15 minutes.
    throttle.lift(kv(), account.login_name)
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(12)


@transaction
def change_own_password(account: Account, current: str, new: str) -> Account:
    """R7: any account changes its own password, knowing the current one."""
    if not passwords.verify_password(account.password_hash, current):
        raise Forbidden(_l("The current password is incorrect"), field="current_password")
    passwords.check_policy(new, field="new_password")
    if new == current:
        raise InvalidInput(
            _l("Choose a password different from the current one"), field="new_password"
        )
    account.password_hash = passwords.hash_password(new)
    account.password_changed_at = utcnow()
    account.must_change_password = False
    audit.record(account, "account.password_changed", company_id=account.company_id, target=account)
    if account.email:  # R22: a security notice, whatever the account's subscriptions
        outbox.send_email(
            "password_changed",
            account.email,
            account=account,
            when=account.password_changed_at,
        )
    return account


def mark_verified(account: Account, channel: str) -> Account:
    """R14: the one place a mute is lifted: the account proved it holds its email or phone.
    New tokens no longer carry ``muted`` and may carry messaging scopes. Caller commits."""
    if channel not in ("email", "phone"):
        raise InvalidInput(_l("Verify an email or a phone"), field="channel")
    now = clock.now()
    if channel == "email":
        account.email_verified_at = now
    else:
        account.phone_verified_at = now
    audit.record(
        account, "account.verified", company_id=account.company_id, target=account, channel=channel
    )
    return account
