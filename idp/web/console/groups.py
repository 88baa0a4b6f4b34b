"""R23: staff groups per store (pre-sale, after-sale customer service, …): each store's groups,
creating, renaming and deleting one, and its members. A member must hold the group's store (the
service says so); tokens carry each membership as ``<store public id>/<group name>``."""

from __future__ import annotations

from flask import render_template, request

from idp.errors import DomainError
from idp.i18n import _
from idp.services import accounts, stores
from idp.services import groups as group_service
from idp.web.console import bp, done, form_text, owner

GROUP = "/groups/<int(max=2147483647):group_id>"  # beyond a database integer: simply not found


def _posted(name: str) -> bool:
    return request.method == "POST" and name in request.form


def _list_page(*, error=None, field=None, status: int = 200):
    actor = owner()
    every_store = stores.list_stores(actor, include_deauthorized=True)
    by_store: dict[int, list] = {}
    for group in group_service.list_groups(actor):
        by_store.setdefault(group.store_id, []).append(group)
    authorized = [s for s in every_store if s.is_authorized]
    # every authorized store, and a de-authorized one while groups remain in it
    shown = [s for s in every_store if s.is_authorized or s.id in by_store]
    return render_template(
        "console/groups.html",
        owner=actor,
        sections=[(s, by_store.get(s.id, [])) for s in shown],
        store_options=[(s.public_id, s.name) for s in authorized],
        values={
            "store": form_text("store", 64) if _posted("store") else request.args.get("store", ""),
            "name": form_text("name", 120) if _posted("name") else "",
        },
        error=error,
        field=field,
        section="groups",
    ), status


@bp.route("/groups", methods=["GET", "POST"])
def groups():
    """The groups of each store, and a new group (a store and a name)."""
    if request.method == "GET":
        return _list_page()
    try:
        group = group_service.create_group(owner(), form_text("store", 64), form_text("name", 120))
    except DomainError as exc:
        return _list_page(error=exc.message, field=exc.field, status=exc.status)
    return done(
        _(
            "The group %(group)s was created in %(store)s. Add its members now.",
            group=group.name,
            store=group.store.name,
        ),
        "console.group",
        group_id=group.id,
    )


def _group(group_id: int):
    return group_service.get_group(owner(), group_id)


def _group_page(group, *, error=None, field=None, status: int = 200):
    actor = owner()
    members = sorted(group.members, key=lambda account: account.login_name)
    inside = {account.id for account in members}
    holders = accounts.list_staff(actor, store_id=group.store_id)
    return render_template(
        "console/group.html",
        owner=actor,
        group=group,
        members=members,
        candidates=[(a.public_id, a.login_name) for a in holders if a.id not in inside],
        values={
            "name": form_text("name", 120) if _posted("name") else group.name,
            "account": form_text("account", 120),
        },
        error=error,
        field=field,
        section="groups",
    ), status


@bp.route(GROUP, methods=["GET", "POST"])
def group(group_id: int):
    """A group's members, and renaming it (tokens carry the new name from the next one)."""
    group = _group(group_id)
    if request.method == "GET":
        return _group_page(group)
    before = group.name
    try:
        group_service.rename_group(owner(), group, form_text("name", 120))
    except DomainError as exc:
        return _group_page(_group(group_id), error=exc.message, field=exc.field, status=exc.status)
    return done(
        _("The group %(before)s is now called %(group)s.", before=before, group=group.name),
        "console.group",
        group_id=group.id,
    )


@bp.post(GROUP + "/members")
def group_add_member(group_id: int):
    """R23: only someone who holds the group's store can join it."""
    group = _group(group_id)
    try:
        account = accounts.get_sub_account(owner(), form_text("account", 120))
        group_service.add_member(owner(), group, account)
    except DomainError as exc:
        return _group_page(_group(group_id), error=exc.message, field=exc.field, status=exc.status)
    return done(
        _(
            "%(login)s joined %(group)s in %(store)s.",
            login=account.login_name,
            group=group.name,
            store=group.store.name,
        ),
        "console.group",
        group_id=group.id,
    )


@bp.post(GROUP + "/members/<ident>/remove")
def group_remove_member(group_id: int, ident: str):
    group = _group(group_id)
    try:
        account = accounts.get_sub_account(owner(), ident)
        group_service.remove_member(owner(), group, account)
    except DomainError as exc:
        return _group_page(_group(group_id), error=exc.message, field=exc.field, status=exc.status)
    return done(
        _("%(login)s is no longer in %(group)s.", login=account.login_name, group=group.name),
        "console.group",
        group_id=group.id,
    )


@bp.post(GROUP + "/delete")
def group_delete(group_id: int):
    """Its members leave it; their accounts, roles and stores stay as they are."""
    group = _group(group_id)
    name, store = group.name, group.store.name
    try:
        group_service.delete_group(owner(), group)
    except DomainError as exc:
        return _group_page(_group(group_id), error=exc.message, status=exc.status)
    return done(
        _("The group %(group)s of %(store)s was deleted.", group=name, store=store),
        "console.groups",
    )
