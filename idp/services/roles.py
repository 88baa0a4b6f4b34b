"""Roles: named permission sets per company. Built-in ones come from templates; the owner adds at
most 30 custom ones. The main-only capabilities of R6 can never be put in a role."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_ngettext
from sqlalchemy import func, select

from idp.errors import Conflict, Forbidden, InvalidInput, LimitReached
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Role
from idp.models.accounts import account_roles
from idp.services import audit, versions
from idp.services.authz import require_owner, require_same_company
from idp.services.names import normalize
from idp.services.permissions import MAIN_ONLY, MAX_CUSTOM_ROLES, PERMISSIONS
from idp.services.tx import transaction


def check_permissions(permissions: Iterable[str]) -> list[str]:
    result = []
    for perm in permissions:
        if perm in MAIN_ONLY:
            raise Forbidden(
                _l(
                    "'%(permission)s' belongs to the main account alone and cannot be given to "
                    "a role",
                    permission=perm,
                ),
                field="permissions",
            )
        if perm not in PERMISSIONS:
            raise InvalidInput(
                _l("Unknown permission '%(permission)s'", permission=perm), field="permissions"
            )
        if perm not in result:
            result.append(perm)
    return sorted(result)


def _check_role_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 60:
        raise InvalidInput(_l("A role name has 1 to 60 characters"), field="name")
    return name.strip()


def list_roles(actor: Account) -> list[Role]:
    require_owner(actor)
    return db.session.query(Role).filter_by(company_id=actor.company_id).order_by(Role.id).all()


def holder_counts(actor: Account) -> dict[int, int]:
    """How many accounts hold each role of the company (departed ones included: they too keep a
    role from being deleted)."""
    require_owner(actor)
    rows = db.session.execute(
        select(account_roles.c.role_id, func.count())
        .join(Role, Role.id == account_roles.c.role_id)
        .where(Role.company_id == actor.company_id)
        .group_by(account_roles.c.role_id)
    ).all()
    return dict(rows)


def get_role(actor: Account, ident: int | str) -> Role:
    require_owner(actor)
    query = db.session.query(Role).filter_by(company_id=actor.company_id)
    role = (
        query.filter_by(id=ident).one_or_none()
        if isinstance(ident, int)
        else query.filter_by(name_key=normalize(ident)).one_or_none()
    )
    return require_same_company(actor, role, "role")


def edit_version(role: Role) -> str:
    """What the owner edits of a role (``versions``): the admin API's ``ETag``."""
    return versions.fingerprint(
        {"name": role.name, "description": role.description, "permissions": role.permissions}
    )


def _check_version(role: Role, expected: str | None) -> None:
    versions.check(
        role,
        expected,
        edit_version,
        _l(
            "The role %(role)s was changed by someone else since you read it; "
            "make your change again.",
            role=role.name,
        ),
    )


def _ensure_name_free(actor: Account, name: str, except_id: int | None = None) -> None:
    query = db.session.query(Role.id).filter_by(
        company_id=actor.company_id, name_key=normalize(name)
    )
    if except_id is not None:
        query = query.filter(Role.id != except_id)
    if query.first():
        raise Conflict(_l("A role named '%(role)s' exists already", role=name), field="name")


@transaction
def create_role(
    actor: Account, name: str, permissions: Iterable[str], description: str | None = None
) -> Role:
    require_owner(actor)
    name = _check_role_name(name)
    perms = check_permissions(permissions)
    custom = (
        db.session.query(Role.id)
        .filter(Role.company_id == actor.company_id, Role.template.is_(None))
        .count()
    )
    if custom >= MAX_CUSTOM_ROLES:
        raise LimitReached(
            lazy_ngettext(
                "A company has at most %(num)d custom role",
                "A company has at most %(num)d custom roles",
                MAX_CUSTOM_ROLES,
            )
        )
    _ensure_name_free(actor, name)
    role = Role(
        company_id=actor.company_id,
        name=name,
        name_key=normalize(name),
        description=(description or "").strip()[:255] or None,
        permissions=perms,
    )
    db.session.add(role)
    db.session.flush()
    audit.record(
        actor,
        "role.created",
        company_id=actor.company_id,
        target=role,
        name=name,
        permissions=perms,
    )
    return role


@transaction
def update_role(
    actor: Account,
    role: Role,
    *,
    name: str | None = None,
    permissions: Iterable[str] | None = None,
    description: str | None = None,
    expected_version: str | None = None,
) -> Role:
    """``expected_version``: ``edit_version`` as the caller read it (else no check)."""
    require_owner(actor)
    require_same_company(actor, role, "role")
    _check_version(role, expected_version)
    before = {"name": role.name, "permissions": list(role.permissions)}
    if name is not None:
        name = _check_role_name(name)
        _ensure_name_free(actor, name, except_id=role.id)
        role.name, role.name_key = name, normalize(name)
    if permissions is not None:
        role.permissions = check_permissions(permissions)
    if description is not None:
        role.description = description.strip()[:255] or None
    audit.record(
        actor,
        "role.updated",
        company_id=actor.company_id,
        target=role,
        before=before,
        after={"name": role.name, "permissions": list(role.permissions)},
    )
    return role


@transaction
def delete_role(actor: Account, role: Role, *, expected_version: str | None = None) -> None:
    """A role still held by someone is refused: the owner moves them first, so no one silently
    loses permissions."""
    require_owner(actor)
    require_same_company(actor, role, "role")
    _check_version(role, expected_version)
    holders = db.session.query(Account).filter(Account.roles.contains(role)).count()
    if holders:
        raise Conflict(
            lazy_ngettext(
                "The role '%(role)s' is held by %(num)d account; change theirs first",
                "The role '%(role)s' is held by %(num)d accounts; change theirs first",
                holders,
                role=role.name,
            )
        )
    audit.record(actor, "role.deleted", company_id=actor.company_id, name=role.name)
    db.session.delete(role)


def permissions_of(account: Account) -> list[str]:
    """What tokens carry: the union of the roles' permissions; everything for the main account."""
    if account.is_main:
        from idp.services.permissions import all_main_permissions

        return all_main_permissions()
    return sorted({p for role in account.roles for p in role.permissions})
