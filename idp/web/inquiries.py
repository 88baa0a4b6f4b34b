"""R24's machine endpoints, for the chat platform:

- ``POST /api/inquiries/presence`` (heartbeat) and ``DELETE /api/inquiries/presence`` (sign-out):
  a chat app reports that the staff member whose access token it sends is online in it, at
  sign-in and then as a heartbeat (``IDP_PRESENCE_TTL``, 90 s by default). The token must carry
  ``chat:read``: the chat app's own scope, not any app's token.
- ``POST /api/inquiries/allocate`` ``{"store", "inquiry_id", "group"?}``: the chat platform's
  back end, with its client credentials token and the ``inquiries:allocate`` scope, asks who
  answers an inquiry (``services.inquiries.allocate``).

Errors are ``{"error", "error_description"}`` with their status, as ``/api``'s
(``answers.Kind.API``); token errors add ``WWW-Authenticate`` (RFC 6750 3)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from idp.errors import BearerError, DomainError, MalformedRequest
from idp.models import Client, IssuedToken
from idp.oauth import shared_state, tokens
from idp.oauth.config import ALLOCATE_SCOPE, PRESENCE_SCOPE
from idp.services import inquiries, presence
from idp.web import answers
from idp.web.api import bearer_row
from idp.web.api_v1.spec import json_body

bp = Blueprint("inquiries_api", __name__, url_prefix="/api/inquiries")

MAX_BODY = 2048  # bytes: a store id, an inquiry id and a group name


@bp.errorhandler(DomainError)
def api_error(exc: DomainError):
    return answers.of(exc, answers.Kind.API)


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _person(scope: str) -> IssuedToken:
    """A staff member's active Bearer token with ``scope`` (the chat app's)."""
    row = bearer_row()
    if row.account is None:
        raise BearerError(
            "invalid_token", "Presence is reported with the staff member's own token", 401
        )
    if scope not in (row.scope or "").split():
        raise BearerError(
            "insufficient_scope", f"The token lacks the {scope} scope", 403, scope=scope
        )
    return row


@bp.post("/presence")
def heartbeat():
    """The member is online in the chat app until the heartbeat lapses."""
    row = _person(PRESENCE_SCOPE)
    seconds = presence.heartbeat(row.account_id, row.client.client_id)
    return jsonify(online=True, expires_in=seconds)


@bp.delete("/presence")
def sign_out():
    row = _person(PRESENCE_SCOPE)
    presence.go_offline([row.account_id])
    return jsonify(online=False)


def _platform() -> Client:
    """The chat platform's own token (client credentials) with ``inquiries:allocate``, checked
    with no SQL (``tokens.live_claims``: signature, expiry, revocation of the token and its
    client); returns the client, whose company (None: a provider app, for every company) and
    marketplaces bound what it may allocate."""
    token = tokens.bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise BearerError(None, "Send an access token as a Bearer token")
    claims, _ = tokens.live_claims(token)
    client = None
    if claims is not None:  # a company id never changes; a revoked client's token is not live
        client_id = claims["client_id"]
        client = shared_state.process_copy(client_id) or shared_state.cached_client(client_id)
    if claims is None or client is None:
        raise BearerError("invalid_token", "The access token is invalid, expired or revoked")
    if claims.get("sub") != claims["client_id"]:
        raise BearerError(
            "insufficient_scope",
            "Allocation takes the chat platform's client credentials token, not a person's",
            403,
            scope=ALLOCATE_SCOPE,
        )
    if ALLOCATE_SCOPE not in (claims.get("scope") or "").split():
        raise BearerError(
            "insufficient_scope",
            f"The token lacks the {ALLOCATE_SCOPE} scope",
            403,
            scope=ALLOCATE_SCOPE,
        )
    return client


@bp.post("/allocate")
def allocate():
    """R24: ``{"store": "st_…", "inquiry_id": "…", "group": "Pre-sale"?}`` → the member chosen
    (``sub``, ``login_name``), or the main account with a ``reason``."""
    client = _platform()
    body = json_body(MAX_BODY, too_large=MalformedRequest)
    found = inquiries.allocate(client, body.get("store"), body.get("inquiry_id"), body.get("group"))
    return jsonify(
        store=found.store.public_id,
        inquiry_id=found.inquiry_id,
        sub=found.sub,
        login_name=found.login_name,
        account_type=found.account_type,
        reason=found.reason,
        kept=found.kept,
    )
