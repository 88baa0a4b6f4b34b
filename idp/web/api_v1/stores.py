"""Stores (R8, R10, R12): authorizing, de-authorizing after reading the plan, and operators."""

from __future__ import annotations

from flask import url_for

from idp.models import Store
from idp.services import stores
from idp.web.api_v1 import models as m
from idp.web.api_v1 import registry
from idp.web.api_v1.access import Caller
from idp.web.api_v1.spec import Answer

STORE = "/stores/<ident>"


def store_out(store: Store, holders: int) -> m.StoreOut:
    return m.StoreOut(
        id=store.public_id,
        marketplace=store.marketplace_code,
        external_id=store.external_id,
        name=store.name,
        status=store.status,
        authorized_at=store.authorized_at,
        deauthorized_at=store.deauthorized_at,
        operation_mode=store.operation_mode,
        operators=[a.login_name for a in stores.store_operators(store)],
        holders=holders,
    )


def _one(caller: Caller, store: Store, status: int = 200, location: str | None = None) -> Answer:
    holders = stores.holder_counts(caller.actor).get(store.id, 0)
    return Answer(store_out(store, holders), status, stores.edit_version(store), location)


@registry.route(
    "GET", "/stores", summary="List stores", tag="stores", query=m.StoreQuery, answer=m.StoreList
)
def list_stores(caller: Caller, query: m.StoreQuery) -> Answer:
    """The company's authorized stores (``include_deauthorized`` for the others too)."""
    found = stores.list_stores(caller.actor, include_deauthorized=query.include_deauthorized)
    counts = stores.holder_counts(caller.actor)
    return Answer(m.StoreList(items=[store_out(s, counts.get(s.id, 0)) for s in found]))


@registry.route(
    "POST",
    "/stores",
    summary="Authorize a store (R8)",
    tag="stores",
    body=m.StoreAuthorize,
    answer=m.StoreOut,
    status=201,
    etag=True,
    idempotent=True,
)
def authorize_store(caller: Caller, body: m.StoreAuthorize) -> Answer:
    """R8: a marketplace store of the company (again, if it was de-authorized)."""
    store = stores.authorize_store(caller.actor, body.marketplace, body.external_id, body.name)
    return _one(caller, store, 201, url_for("api_v1.get_store", ident=store.public_id))


@registry.route("GET", STORE, summary="Get a store", tag="stores", answer=m.StoreOut, etag=True)
def get_store(caller: Caller, ident: str) -> Answer:
    """By id (``st_…``) or ``marketplace/external_id``."""
    return _one(caller, stores.get_store(caller.actor, ident))


def _plan(steps) -> list[m.DeauthorizationStep]:
    return [
        m.DeauthorizationStep(
            account=step.account.login_name,
            default_before=step.default_before.public_id if step.default_before else None,
            default_after=step.default_after.public_id if step.default_after else None,
            disabled=step.disabled,
        )
        for step in steps
    ]


@registry.route(
    "GET",
    STORE + "/deauthorization",
    summary="What de-authorizing would do (R10)",
    tag="stores",
    answer=m.Deauthorization,
    etag=True,
)
def deauthorization_plan(caller: Caller, ident: str) -> Answer:
    """R10's preview: who loses the store, whose default moves where, who is disabled."""
    store = stores.get_store(caller.actor, ident)
    plan = stores.plan_deauthorization(caller.actor, store)
    store_answer = _one(caller, store)
    return Answer(
        m.Deauthorization(store=store_answer.body, plan=_plan(plan)), etag=store_answer.etag
    )


@registry.route(
    "POST",
    STORE + "/deauthorize",
    summary="De-authorize a store (R10)",
    tag="stores",
    answer=m.Deauthorization,
    etag=True,
    if_match=True,
)
def deauthorize_store(caller: Caller, ident: str, expected: str | None) -> Answer:
    """R10: the store leaves every sub-account that had it and their tokens for it stop; a
    default moves to the store given earliest; one left with none is disabled (R5)."""
    store = stores.get_store(caller.actor, ident)
    done = stores.deauthorize_store(caller.actor, store, expected_version=expected)
    store_answer = _one(caller, store)
    return Answer(
        m.Deauthorization(store=store_answer.body, plan=_plan(done)), etag=store_answer.etag
    )


@registry.route(
    "PUT",
    STORE + "/operators",
    summary="Set who operates a store (R12)",
    tag="stores",
    body=m.Operators,
    answer=m.StoreOut,
    etag=True,
    if_match=True,
)
def set_operators(caller: Caller, ident: str, body: m.Operators, expected: str | None) -> Answer:
    """R12: by store (one operator, the owner by default) or by product (several); a reporting
    attribute that grants no access."""
    store = stores.get_store(caller.actor, ident)
    stores.set_store_operators(
        caller.actor, store, body.mode, body.operators, expected_version=expected
    )
    return _one(caller, store)
