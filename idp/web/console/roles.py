"""Roles: the built-in ones (seeded from the templates) and at most 30 custom ones, each a named
set of permissions the owner picks by area. The main-only capabilities of R6 are never offered,
and the service refuses one that a form smuggles in. A role still held by someone cannot be
deleted (the service says so): nobody loses permissions without the owner moving them first."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import ngettext

from idp.errors import DomainError
from idp.i18n import _
from idp.services import roles as role_service
from idp.services.permissions import MAX_CUSTOM_ROLES
from idp.web.console import bp, done, form_list, form_text, owner
from idp.web.console import permission_labels as labels
from idp.web.display_names import role_name

ROLE = "/roles/<int(max=2147483647):role_id>"  # beyond a database integer: simply not found


def _pages_context(every_role) -> dict:
    actor = owner()
    return {
        "owner": actor,
        "holders": role_service.holder_counts(actor),
        "custom_count": sum(1 for r in every_role if not r.is_builtin),
        "limit": MAX_CUSTOM_ROLES,
        "main_only": labels.main_only(),
        "describe": labels.description_of,
        "section": "roles",
    }


def _list_page(*, error=None, status: int = 200):
    every = role_service.list_roles(owner())
    return render_template(
        "console/roles.html",
        custom=[r for r in every if not r.is_builtin],
        builtin=[r for r in every if r.is_builtin],
        by_area=labels.by_area,
        error=error,
        **_pages_context(every),
    ), status


@bp.get("/roles")
def roles():
    return _list_page()


def _values(role=None) -> dict:
    """What the form shows: what was typed, else the role's current values."""
    if request.method == "POST":
        return {
            "name": form_text("name", 120),
            "description": form_text("description", 300),
            "permissions": set(form_list("permissions", 100)),
        }
    if role is None:
        return {"name": "", "description": "", "permissions": set()}
    return {
        "name": role.name,
        "description": role.description or "",
        "permissions": set(role.permissions),
    }


def _form_page(role=None, *, error=None, field=None, status: int = 200):
    return render_template(
        "console/role_form.html",
        role=role,
        values=_values(role),
        areas=labels.picker(),
        error=error,
        field=field,
        **_pages_context(role_service.list_roles(owner())),
    ), status


@bp.route("/roles/new", methods=["GET", "POST"])
def role_new():
    if request.method == "GET":
        return _form_page()
    try:
        role = role_service.create_role(
            owner(),
            form_text("name", 120),
            form_list("permissions", 100),
            description=form_text("description", 300),
        )
    except DomainError as exc:
        return _form_page(error=exc.message, field=exc.field, status=exc.status)
    return done(
        ngettext(
            "%(role)s was created with %(num)d permission.",
            "%(role)s was created with %(num)d permissions.",
            len(role.permissions),
            role=role_name(role),
        ),
        "console.roles",
    )


@bp.route(ROLE, methods=["GET", "POST"])
def role_edit(role_id: int):
    """Built-in roles too: the service lets the owner change them like their own."""
    role = role_service.get_role(owner(), role_id)
    if request.method == "GET":
        return _form_page(role)
    before, shown_before = role.name, role_name(role)
    try:
        role_service.update_role(
            owner(),
            role,
            name=form_text("name", 120),
            permissions=form_list("permissions", 100),
            description=form_text("description", 300),
        )
    except DomainError as exc:
        role = role_service.get_role(owner(), role_id)  # as stored: nothing was written
        return _form_page(role, error=exc.message, field=exc.field, status=exc.status)
    count = len(role.permissions)
    if role.name != before:
        message = ngettext(
            "%(before)s is now called %(role)s and has %(num)d permission.",
            "%(before)s is now called %(role)s and has %(num)d permissions.",
            count,
            before=shown_before,
            role=role_name(role),
        )
    else:
        message = ngettext(
            "%(role)s was saved with %(num)d permission.",
            "%(role)s was saved with %(num)d permissions.",
            count,
            role=role_name(role),
        )
    return done(message, "console.roles")


@bp.post(ROLE + "/delete")
def role_delete(role_id: int):
    """Refused while someone holds the role (departed staff included)."""
    role = role_service.get_role(owner(), role_id)
    name = role_name(role)
    try:
        role_service.delete_role(owner(), role)
    except DomainError as exc:
        return _list_page(error=exc.message, status=exc.status)
    return done(_("The role %(role)s was deleted.", role=name), "console.roles")
