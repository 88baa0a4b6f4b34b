"""The admin API (``/api/v1``, issue 16): every job of the owner console for the company's own
tools (ERP, HR system, scripts), through the same service functions as the console.

Every route but the description (``/openapi.json``) and its reference page (``/docs``) first
admits the caller (``access.authenticate``: the owner's token with ``company:admin`` and this
API in its audience, or a company API client's), counts the call against the client's rate limit
(``once.rate_limit``), and names the caller in every audit entry written meanwhile
(``audit.bind_api_caller``). Then the route's declaration (``spec.Registry.route``) checks the
request with its pydantic models, calls the view (one service call) and answers JSON. Answers are
never cached (``no-store``): they carry passwords shown once and security state."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from idp.errors import DomainError
from idp.services import audit
from idp.web import answers
from idp.web.api_v1 import access, once, spec

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
PUBLIC = ("api_v1.openapi_json", "api_v1.docs")


def _run(operation: spec.Operation, view, path: dict):
    caller: access.Caller = g.api_caller
    if operation.owner_token:
        access.require_owner_token(caller)

    def answer():
        response = spec.call(operation, view, path, caller=caller)
        if operation.method == "GET" and response.status_code == 200:
            audit.record_read(caller.actor, operation.endpoint)  # one entry per call
        return response

    if operation.idempotent:
        return once.once(f"{caller.client.client_id}:{caller.actor.public_id}", answer)
    return answer()


registry = spec.Registry(bp, _run)


@bp.errorhandler(DomainError)
def api_error(exc: DomainError):
    return answers.of(exc, answers.Kind.API)


@bp.before_request
def admit():
    if request.endpoint in PUBLIC:
        return None
    caller = access.authenticate()
    once.rate_limit(caller.rate_key, current_app.config.get("IDP_API_RATE_LIMIT"))
    g.api_caller = caller
    g.api_audit = audit.bind_api_caller(
        caller.client.client_id, jti=caller.jti, own_client=not caller.is_owner
    )
    return None


@bp.teardown_request
def unbind(_exc):
    binding = g.pop("api_audit", None)
    if binding is not None:
        audit.unbind_api_caller(binding)


@bp.after_request
def no_store(response):
    if request.endpoint not in PUBLIC:
        response.headers["Cache-Control"] = "no-store"
    return response


from idp.web.api_v1 import (  # noqa: E402,F401
    company,
    docs,
    inquiries,
    notifications,
    roles,
    staff,
    stores,
)
