"""R24: the owner's allocation rules, per store (on or off, the target group) and per staff
member (the switch, the weight, whom they report to: issue 18's teams), and the "monitor
feedback": inquiries allocated to each member per day."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import format_date

from idp.errors import DomainError
from idp.i18n import _
from idp.services import accounts, inquiries, presence, stores
from idp.services import groups as group_service
from idp.web.console import bp, done, form_text, owner

STORE = "/inquiries/<ident>"


@bp.get("/inquiries")
def inquiries_page():
    """Every authorized store and its allocation rules at a glance."""
    actor = owner()
    shown = stores.list_stores(actor)
    group_names = {g.id: g.name for g in group_service.list_groups(actor)}
    return render_template(
        "console/inquiries.html",
        owner=actor,
        stores=shown,
        group_names=group_names,
        section="inquiries",
    )


def _store_page(store, *, error=None, field=None, member=None, status: int = 200):
    actor = owner()
    holders = accounts.list_staff(actor, store_id=store.id)
    online = presence.online([a.id for a in holders])
    eligible_now = {c.id for c in inquiries.eligible(store, store.inquiry_group_id)}
    days = inquiries.day_counts(actor, store)
    return render_template(
        "console/inquiries_store.html",
        owner=actor,
        store=store,
        groups=[(str(g.id), g.name) for g in group_service.list_groups(actor, store)],
        holders=holders,
        online=online,
        eligible_now=eligible_now,
        managers=inquiries.manager_choices(actor, of=holders),
        manager_of={a.id: inquiries.manager_of(a) for a in holders},
        days=[(format_date(d.day, "medium"), d) for d in days],
        store_version=inquiries.store_version(store),
        member_version=inquiries.member_version,
        max_weight=inquiries.MAX_INQUIRY_WEIGHT,
        error=error,
        field=field,
        error_member=member,
        section="inquiries",
    ), status


@bp.route(STORE, methods=["GET", "POST"])
def inquiries_store(ident: str):
    """A store's rules (POST), its staff's settings and the allocation counts per day."""
    actor = owner()
    store = stores.get_store(actor, ident)
    if request.method == "GET":
        return _store_page(store)
    group = form_text("group", 20)
    try:
        inquiries.set_store_rules(
            actor,
            store,
            enabled=request.form.get("allocation") == "on",
            group_id=int(group) if group.isascii() and group.isdigit() else None,
            expected_version=form_text("version", 40) or None,
        )
    except DomainError as exc:
        return _store_page(store, error=exc.message, field=exc.field, status=exc.status)
    return done(
        _("The allocation rules of %(store)s were saved.", store=store.name),
        "console.inquiries_store",
        ident=store.public_id,
    )


@bp.post(STORE + "/staff/<member>")
def inquiries_member(ident: str, member: str):
    """A staff member's switch, weight and manager."""
    actor = owner()
    store = stores.get_store(actor, ident)
    account = accounts.get_sub_account(actor, member)
    manager_ident = form_text("manager", 64)
    try:
        manager = accounts.get_sub_account(actor, manager_ident) if manager_ident else None
        inquiries.set_member_rules(
            actor,
            account,
            receives=request.form.get("receives") == "on",
            weight=form_text("weight", 10),
            manager=manager,
            expected_version=form_text("version", 40) or None,
        )
    except DomainError as exc:
        return _store_page(
            store, error=exc.message, field=exc.field, member=account.id, status=exc.status
        )
    return done(
        _("The inquiry settings of %(login)s were saved.", login=account.login_name),
        "console.inquiries_store",
        ident=store.public_id,
    )
