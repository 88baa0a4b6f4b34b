"""The events intake (R25, issue 18): downstream apps (a marketplace's seller center, a company's
own ERP) publish events about a company's store, and the company's notification routing emails
the right people (``idp.services.routing``).

``POST /api/events`` with a client credentials token holding ``events:publish`` (never a
person's token), and a JSON body::

    {"id": "the app's event id", "store": "st_…", "kind": "listing_returned",
     "sub": "acct_… (the product's owner or the submitter)", "payload": {"product": "…"}}

Answers ``202 {"event", "status": "accepted", "emailed"}``; the same event id sent again by the
same app answers ``200`` with ``"status": "replayed"`` and emails nothing. An unknown kind is
400 (naming the kinds), a payload over ``EVENT_PAYLOAD_MAX`` bytes 413. A company's own client
publishes for its company's stores only, an app serving some marketplaces for stores on those;
any other store is "not found". Calls count against the client's rate limit, as the admin
API's do."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from idp.defaults import EVENTS_MAX_BODY
from idp.errors import BearerError, DomainError, MalformedRequest
from idp.models import Client
from idp.oauth.config import EVENTS_SCOPE
from idp.services import routing
from idp.web import answers
from idp.web.api import bearer_row
from idp.web.api_v1 import once
from idp.web.api_v1.spec import json_body

bp = Blueprint("events", __name__, url_prefix="/api/events")
FIELDS = frozenset({"id", "store", "kind", "sub", "payload"})


@bp.errorhandler(DomainError)
def events_error(exc: DomainError):
    return answers.of(exc, answers.Kind.API)


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _publisher() -> Client:
    """An app's own client credentials token with ``events:publish`` (RFC 6750 3.1 errors)."""
    row = bearer_row()
    if row.account is not None:
        raise BearerError(
            "insufficient_scope",
            "Events are published with the app's client credentials token, not a person's",
            403,
            scope=EVENTS_SCOPE,
        )
    if EVENTS_SCOPE not in (row.scope or "").split():
        raise BearerError(
            "insufficient_scope",
            f"The token lacks the {EVENTS_SCOPE} scope",
            403,
            scope=EVENTS_SCOPE,
        )
    return row.client


@bp.post("")
def publish():
    client = _publisher()
    once.rate_limit(client.client_id, current_app.config.get("IDP_API_RATE_LIMIT"))
    body = json_body(EVENTS_MAX_BODY)
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise MalformedRequest(
            f"Unknown field '{unknown[0]}'; an event has {', '.join(sorted(FIELDS))}",
            field=unknown[0],
        )
    published = routing.publish(
        client,
        event_id=body.get("id"),
        store=body.get("store"),
        kind=body.get("kind"),
        sub=body.get("sub"),
        payload=body.get("payload"),
    )
    answer = jsonify(
        event=published.event.event_id,
        status="replayed" if published.replayed else "accepted",
        emailed=published.emailed,
    )
    answer.status_code = 200 if published.replayed else 202
    return answer
