"""Roles and staff groups (R18, R23): the same services as the console's pages."""

from __future__ import annotations

from flask import url_for

from idp.models import Role, StaffGroup
from idp.services import accounts, groups, roles
from idp.web.api_v1 import models as m
from idp.web.api_v1 import registry
from idp.web.api_v1.access import Caller
from idp.web.api_v1.spec import INTEGER_ID, Answer

ROLE = f"/roles/<{INTEGER_ID}:role_id>"
GROUP = f"/groups/<{INTEGER_ID}:group_id>"


def role_out(role: Role, holders: dict[int, int]) -> m.RoleOut:
    return m.RoleOut(
        id=role.id,
        name=role.name,
        description=role.description,
        permissions=list(role.permissions),
        builtin=role.is_builtin,
        holders=holders.get(role.id, 0),
    )


def _role(caller: Caller, role: Role, status: int = 200, location: str | None = None) -> Answer:
    body = role_out(role, roles.holder_counts(caller.actor))
    return Answer(body, status, roles.edit_version(role), location)


@registry.route("GET", "/roles", summary="List roles", tag="roles", answer=m.RoleList)
def list_roles(caller: Caller) -> Answer:
    """Built-in roles and the company's own (at most 30)."""
    holders = roles.holder_counts(caller.actor)
    return Answer(m.RoleList(items=[role_out(r, holders) for r in roles.list_roles(caller.actor)]))


@registry.route(
    "POST",
    "/roles",
    summary="Create a role",
    tag="roles",
    body=m.RoleCreate,
    answer=m.RoleOut,
    status=201,
    etag=True,
    idempotent=True,
)
def create_role(caller: Caller, body: m.RoleCreate) -> Answer:
    """A named set of permissions; R6's main-only capabilities are refused."""
    role = roles.create_role(caller.actor, body.name, body.permissions, body.description)
    return _role(caller, role, 201, url_for("api_v1.get_role", role_id=role.id))


@registry.route("GET", ROLE, summary="Get a role", tag="roles", answer=m.RoleOut, etag=True)
def get_role(caller: Caller, role_id: int) -> Answer:
    return _role(caller, roles.get_role(caller.actor, role_id))


@registry.route(
    "PATCH",
    ROLE,
    summary="Edit a role",
    tag="roles",
    body=m.RoleEdit,
    answer=m.RoleOut,
    etag=True,
    if_match=True,
)
def edit_role(caller: Caller, role_id: int, body: m.RoleEdit, expected: str | None) -> Answer:
    """Built-in roles too; only the fields sent change."""
    role = roles.get_role(caller.actor, role_id)
    roles.update_role(
        caller.actor,
        role,
        name=body.name,
        permissions=body.permissions,
        description=body.description,
        expected_version=expected,
    )
    return _role(caller, role)


@registry.route("DELETE", ROLE, summary="Delete a role", tag="roles", status=204, if_match=True)
def delete_role(caller: Caller, role_id: int, expected: str | None) -> Answer:
    """Refused (409) while someone holds it, departed staff included."""
    roles.delete_role(
        caller.actor, roles.get_role(caller.actor, role_id), expected_version=expected
    )
    return Answer(None, 204)


def group_out(group: StaffGroup) -> m.GroupOut:
    return m.GroupOut(
        id=group.id,
        name=group.name,
        store=group.store.public_id,
        members=sorted(a.login_name for a in group.members),
    )


def _group(group: StaffGroup, status: int = 200, location: str | None = None) -> Answer:
    return Answer(group_out(group), status, groups.edit_version(group), location)


@registry.route(
    "GET",
    "/groups",
    summary="List staff groups",
    tag="groups",
    query=m.GroupQuery,
    answer=m.GroupList,
)
def list_groups(caller: Caller, query: m.GroupQuery) -> Answer:
    """R23: every store's groups, or one store's."""
    found = groups.list_groups(caller.actor, query.store or None)
    return Answer(m.GroupList(items=[group_out(g) for g in found]))


@registry.route(
    "POST",
    "/groups",
    summary="Create a staff group",
    tag="groups",
    body=m.GroupCreate,
    answer=m.GroupOut,
    status=201,
    etag=True,
    idempotent=True,
)
def create_group(caller: Caller, body: m.GroupCreate) -> Answer:
    """R23: a group of an authorized store; its name is unique in the store."""
    group = groups.create_group(caller.actor, body.store, body.name)
    return _group(group, 201, url_for("api_v1.get_group", group_id=group.id))


@registry.route(
    "GET", GROUP, summary="Get a staff group", tag="groups", answer=m.GroupOut, etag=True
)
def get_group(caller: Caller, group_id: int) -> Answer:
    return _group(groups.get_group(caller.actor, group_id))


@registry.route(
    "PATCH",
    GROUP,
    summary="Rename a staff group",
    tag="groups",
    body=m.GroupRename,
    answer=m.GroupOut,
    etag=True,
    if_match=True,
)
def rename_group(caller: Caller, group_id: int, body: m.GroupRename, expected: str | None):
    """Tokens carry the new name from the next one issued."""
    group = groups.get_group(caller.actor, group_id)
    groups.rename_group(caller.actor, group, body.name, expected_version=expected)
    return _group(group)


@registry.route(
    "DELETE", GROUP, summary="Delete a staff group", tag="groups", status=204, if_match=True
)
def delete_group(caller: Caller, group_id: int, expected: str | None) -> Answer:
    """Its members leave it; their accounts, roles and stores stay as they are."""
    groups.delete_group(
        caller.actor, groups.get_group(caller.actor, group_id), expected_version=expected
    )
    return Answer(None, 204)


@registry.route(
    "POST",
    GROUP + "/members",
    summary="Add a member to a staff group",
    tag="groups",
    body=m.Member,
    answer=m.GroupOut,
    etag=True,
    if_match=True,
)
def add_member(caller: Caller, group_id: int, body: m.Member, expected: str | None) -> Answer:
    """R23: only someone who holds the group's store can join it."""
    group = groups.get_group(caller.actor, group_id)
    account = accounts.get_sub_account(caller.actor, body.account)
    groups.add_member(caller.actor, group, account, expected_version=expected)
    return _group(group)


@registry.route(
    "DELETE",
    GROUP + "/members/<ident>",
    summary="Remove a member from a group",
    tag="groups",
    answer=m.GroupOut,
    etag=True,
    if_match=True,
)
def remove_member(caller: Caller, group_id: int, ident: str, expected: str | None) -> Answer:
    group = groups.get_group(caller.actor, group_id)
    account = accounts.get_sub_account(caller.actor, ident)
    groups.remove_member(caller.actor, group, account, expected_version=expected)
    return _group(group)
