"""The notification routing table (R25): who is emailed for each kind of event."""

from __future__ import annotations

from idp.services import routing
from idp.web.api_v1 import models as m
from idp.web.api_v1 import registry
from idp.web.api_v1.access import Caller
from idp.web.api_v1.spec import Answer

PATH = "/notifications/routing"


def _table(caller: Caller, routes: list[routing.Route]) -> Answer:
    items = [
        m.RouteOut(
            kind=route.kind,
            recipient=route.recipient,
            accounts=[a.login_name for a in route.accounts],
            group=route.group.id if route.group is not None else None,
            default=route.is_default,
        )
        for route in routes
    ]
    return Answer(m.RoutingTable(items=items), etag=routing.table_version(caller.actor))


@registry.route(
    "GET",
    PATH,
    summary="Get the notification routing table (R25)",
    tag="notifications",
    answer=m.RoutingTable,
    etag=True,
)
def get_routing(caller: Caller) -> Answer:
    """One line per kind of event. When the chosen people cannot be reached (departed,
    unknown, no email), the main account is emailed instead."""
    return _table(caller, routing.table(caller.actor))


@registry.route(
    "PATCH",
    PATH,
    summary="Change who is emailed for some kinds of event (R25)",
    tag="notifications",
    body=m.RoutingEdit,
    answer=m.RoutingTable,
    etag=True,
    if_match=True,
)
def edit_routing(caller: Caller, body: m.RoutingEdit, expected: str | None) -> Answer:
    """All or nothing; named accounts are active sub-accounts (20 at most), a group is one of
    the company's staff groups."""
    changes = {
        kind: {"recipient": route.recipient, "accounts": route.accounts, "group": route.group}
        for kind, route in body.routes.items()
    }
    return _table(caller, routing.set_table(caller.actor, changes, expected_version=expected))
