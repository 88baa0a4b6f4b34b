"""R24's rules through the admin API: a store's allocation (on or off, the target group) and a
staff member's switch, weight and manager (issue 18's teams), with the console's versions as
ETags."""

from __future__ import annotations

from idp.errors import MalformedRequest
from idp.extensions import db
from idp.models import Account, StaffGroup, Store
from idp.services import accounts, inquiries, stores
from idp.web.api_v1 import models as m
from idp.web.api_v1 import registry
from idp.web.api_v1.access import Caller
from idp.web.api_v1.spec import Answer


def _store(store: Store) -> Answer:
    group = db.session.get(StaffGroup, store.inquiry_group_id) if store.inquiry_group_id else None
    body = m.StoreInquiries(
        store=store.public_id,
        allocation=store.inquiry_allocation,
        group=store.inquiry_group_id,
        group_name=group.name if group else None,
    )
    return Answer(body, etag=inquiries.store_version(store))


def _member(account: Account) -> Answer:
    body = m.StaffInquiries(
        staff=account.public_id,
        receives=account.receives_inquiries,
        weight=account.inquiry_weight,
        manager=inquiries.manager_of(account),
        team=inquiries.team_of(account),
    )
    return Answer(body, etag=inquiries.member_version(account))


@registry.route(
    "GET",
    "/stores/<ident>/inquiries",
    summary="A store's allocation rules (R24)",
    tag="inquiries",
    answer=m.StoreInquiries,
    etag=True,
)
def get_store_inquiries(caller: Caller, ident: str) -> Answer:
    return _store(stores.get_store(caller.actor, ident))


@registry.route(
    "PUT",
    "/stores/<ident>/inquiries",
    summary="Set a store's allocation rules (R24)",
    tag="inquiries",
    body=m.StoreInquiriesEdit,
    answer=m.StoreInquiries,
    etag=True,
    if_match=True,
)
def set_store_inquiries(
    caller: Caller, ident: str, body: m.StoreInquiriesEdit, expected: str | None
) -> Answer:
    """Allocation on or off, and the target group: one of the store's staff groups, or null for
    every sub-account holding the store."""
    store = stores.get_store(caller.actor, ident)
    inquiries.set_store_rules(
        caller.actor,
        store,
        enabled=body.allocation,
        group_id=body.group,
        expected_version=expected,
    )
    return _store(store)


@registry.route(
    "GET",
    "/staff/<ident>/inquiries",
    summary="A staff member's inquiry settings and team",
    tag="inquiries",
    answer=m.StaffInquiries,
    etag=True,
)
def get_staff_inquiries(caller: Caller, ident: str) -> Answer:
    return _member(accounts.get_sub_account(caller.actor, ident))


@registry.route(
    "PATCH",
    "/staff/<ident>/inquiries",
    summary="Edit a staff member's inquiry settings and manager",
    tag="inquiries",
    body=m.StaffInquiriesEdit,
    answer=m.StaffInquiries,
    etag=True,
    if_match=True,
)
def edit_staff_inquiries(
    caller: Caller, ident: str, body: m.StaffInquiriesEdit, expected: str | None
) -> Answer:
    """Only the fields sent change. ``manager``: whom it reports to (a cycle is refused), null
    for nobody."""
    account = accounts.get_sub_account(caller.actor, ident)
    sent = body.model_dump(exclude_unset=True)
    for name in ("receives", "weight"):
        if name in sent and sent[name] is None:
            raise MalformedRequest(f"Body field {name}: cannot be null", field=name)
    manager = inquiries.UNCHANGED
    if "manager" in sent:
        manager = (
            accounts.get_sub_account(caller.actor, sent["manager"]) if sent["manager"] else None
        )
    inquiries.set_member_rules(
        caller.actor,
        account,
        receives=sent.get("receives"),
        weight=sent.get("weight"),
        manager=manager,
        expected_version=expected,
    )
    return _member(account)
