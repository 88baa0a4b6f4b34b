"""The browser's side of a passkey ceremony: its id is kept in the signed Flask session (one per
purpose), never sent by the page, so a ceremony is finished only by the browser that began it;
the challenge itself is in the shared store (``idp.services.passkeys``), so any instance can
finish it. The options go to the page's script as JSON."""

from __future__ import annotations

from flask import jsonify, session

from idp.errors import DomainError
from idp.services import passkeys

KEY = "idp_webauthn"


def begin(purpose: str, account=None):
    """Answer the options for a new ceremony, remembering its id for this browser."""
    try:
        if purpose == passkeys.REGISTER:
            ceremony = passkeys.begin_registration(account)
        else:
            ceremony = passkeys.begin_authentication(purpose, account)
    except DomainError as exc:
        return jsonify(error=str(exc.message)), 400
    kept = dict(session.get(KEY) or {})
    kept[purpose] = ceremony.id
    session[KEY] = kept
    response = jsonify(ceremony.options)
    response.headers["Cache-Control"] = "no-store"
    return response


def take(purpose: str) -> str:
    """This browser's ceremony id for ``purpose`` (forgotten: each works once)."""
    kept = dict(session.get(KEY) or {})
    ceremony_id = kept.pop(purpose, "")
    session[KEY] = kept
    return ceremony_id if isinstance(ceremony_id, str) else ""
