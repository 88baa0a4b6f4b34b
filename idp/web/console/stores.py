"""Stores: authorizing one (R8), de-authorizing one after a preview of what it does (R10), and
who operates it (R12). Assigning stores to staff is on the staff pages (R11)."""

from __future__ import annotations

from flask import render_template, request

from idp.errors import DomainError
from idp.i18n import _
from idp.models.companies import OPERATE_BY_PRODUCT, OPERATE_BY_STORE
from idp.services import accounts, stores
from idp.web.console import bp, done, form_list, form_text, owner


def _stores_page(*, error=None, field=None, status: int = 200):
    actor = owner()
    every = stores.list_stores(actor, include_deauthorized=True)
    counts = stores.holder_counts(actor)
    return render_template(
        "console/stores.html",
        owner=actor,
        stores=[s for s in every if s.is_authorized],
        departed_stores=[s for s in every if not s.is_authorized],
        holders={s.id: counts.get(s.id, 0) for s in every},
        operators=stores.store_operators,
        marketplaces=stores.marketplaces(),
        form=request.form,
        error=error,
        field=field,
        section="stores",
    ), status


@bp.route("/stores", methods=["GET", "POST"])
def stores_page():
    """R8: the company's stores, and authorizing another (marketplace, the store's own id, its
    name). The owner holds every authorized store; staff get them from the owner."""
    if request.method == "GET":
        return _stores_page()
    try:
        store = stores.authorize_store(
            owner(),
            form_text("marketplace", 40),
            form_text("external_id", 200),
            form_text("name", 200),
        )
    except DomainError as exc:
        return _stores_page(error=exc.message, field=exc.field, status=exc.status)
    return done(
        _("%(store)s is authorized. You can now give it to your staff.", store=store.name),
        "console.stores_page",
    )


@bp.route("/stores/<ident>/deauthorize", methods=["GET", "POST"])
def deauthorize(ident: str):
    """R10: first a preview (whose default store moves where, who is disabled for holding no
    store any more), then the same plan carried out."""
    store = stores.get_store(owner(), ident)
    plan = stores.plan_deauthorization(owner(), store)
    if request.method == "GET" or not store.is_authorized:
        return render_template(
            "console/store_deauthorize.html",
            owner=owner(),
            store=store,
            plan=plan,
            section="stores",
        ), 200 if store.is_authorized else 409
    try:
        done_plan = stores.deauthorize_store(owner(), store)
    except DomainError as exc:
        return render_template(
            "console/store_deauthorize.html",
            owner=owner(),
            store=store,
            plan=plan,
            error=exc.message,
            section="stores",
        ), exc.status
    disabled = sum(1 for step in done_plan if step.disabled)
    return done(
        _(
            "%(store)s is de-authorized: taken from %(taken)d staff, %(disabled)d disabled.",
            store=store.name,
            taken=len(done_plan),
            disabled=disabled,
        ),
        "console.stores_page",
    )


@bp.route("/stores/<ident>/operators", methods=["GET", "POST"])
def operators(ident: str):
    """R12: operated by store (one operator, the owner by default) or by product (several). A
    reporting attribute: it grants no access."""
    actor = owner()
    store = stores.get_store(actor, ident)
    error = field = None
    status = 200
    if request.method == "POST":
        mode = form_text("mode", 20)
        chosen = form_list("operators")
        try:
            stores.set_store_operators(actor, store, mode, chosen)
        except DomainError as exc:
            error, field, status = exc.message, exc.field, exc.status
        else:
            return done(
                _("The operators of %(store)s were saved.", store=store.name), "console.stores_page"
            )
    return render_template(
        "console/store_operators.html",
        owner=actor,
        store=store,
        staff=accounts.list_staff(actor),
        current=[a.public_id for a in stores.store_operators(store)],
        modes=(OPERATE_BY_STORE, OPERATE_BY_PRODUCT),
        error=error,
        field=field,
        section="stores",
    ), status
