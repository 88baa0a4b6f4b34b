"""How every refusal and error is answered, in one place. There are three kinds of answer:

- **page**, for people: the error page (or a page of the caller's), in the visitor's language;
- **API**, for programs calling the JSON API: ``{"error", "error_description"}`` in English
  (``field`` when one input is at fault);
- **protocol**, for OAuth and OpenID Connect clients: the same JSON with the RFC's error codes and
  an ``error_description`` in RFC 6749's character set (``idp.oauth.error_text``), never cached,
  with a ``WWW-Authenticate`` challenge for bearer-token errors (RFC 6750 3).

Flask's error handlers (``idp.web.errors``), the API blueprint, the authorization endpoint's
error page and the machine endpoints answered straight from WSGI (``idp.web.direct``) all go
through here; none builds an error body of its own."""

from __future__ import annotations

from enum import Enum

from flask import jsonify, make_response, render_template

from idp import clock
from idp.errors import BearerError, DomainError
from idp.i18n import english
from idp.oauth.error_text import safe_description


class Kind(Enum):
    PAGE = "page"
    API = "api"
    PROTOCOL = "protocol"


PROTOCOL_PATHS = ("/oauth/", "/.well-known/")
API_PATHS = ("/api/",)
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def kind_for(path: str, accept_mimetypes=None) -> Kind:
    """The kind of answer a request expects: by its path, else by its ``Accept`` header."""
    if path.startswith(PROTOCOL_PATHS):
        return Kind.PROTOCOL
    if path.startswith(API_PATHS):
        return Kind.API
    if accept_mimetypes is not None:
        best = accept_mimetypes.best_match(["application/json", "text/html"])
        if best == "application/json":
            return Kind.API
    return Kind.PAGE


def body(kind: Kind, code: str, message, field: str | None = None) -> dict:
    """The JSON body of an API or protocol error."""
    if kind is Kind.PROTOCOL:
        return {"error": code, "error_description": safe_description(message)}
    answer = {"error": code, "error_description": english(message)}
    if field:
        answer["field"] = field
    return answer


def challenge(error: str | None, description, scope: str | None = None) -> str:
    """RFC 6750 3: the ``WWW-Authenticate`` header of a bearer-token refusal. No error code when
    the request carried no token at all."""
    params = ['realm="idp"']
    if error:
        params.append(f'error="{error}"')
        params.append(f'error_description="{safe_description(description)}"')
    if scope:
        params.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(params)


def headers_of(exc: DomainError) -> list[tuple[str, str]]:
    """What an error says beside its body: a bearer challenge, how long to wait."""
    headers = []
    if isinstance(exc, BearerError):
        headers.append(("WWW-Authenticate", challenge(exc.challenge_code, exc.message, exc.scope)))
    retry_after = getattr(exc, "retry_after", None)
    until = getattr(exc, "until", None)
    if retry_after is None and until is not None:
        retry_after = max(1, int((until - clock.now()).total_seconds()))
    if retry_after is not None:
        headers.append(("Retry-After", str(int(retry_after))))
    return headers


def wsgi(kind: Kind, status: int, code: str, message, *, field=None, headers=()):
    """``(status, body, headers)`` for the machine endpoints (``idp.web.direct``)."""
    extra = list(headers) + (NO_STORE if kind is Kind.PROTOCOL else [])
    return status, body(kind, code, message, field), extra


def bearer(error: str | None, description, status: int = 401, *, scope: str | None = None):
    """A bearer-token refusal (RFC 6750 3.1) for the machine endpoints (userinfo)."""
    status, answer, headers = wsgi(Kind.PROTOCOL, status, error or "invalid_request", description)
    return status, answer, [("WWW-Authenticate", challenge(error, description, scope)), *headers]


def flask(
    kind: Kind,
    status: int,
    code: str,
    message,
    *,
    field: str | None = None,
    headers=(),
    template: str = "error.html",
    **context,
):
    """A Flask response: the page (``template``, in the visitor's language) or the JSON."""
    if kind is Kind.PAGE:
        page = render_template(template, status=status, code=code, message=message, **context)
        response = make_response(page, status)
    else:
        response = jsonify(body(kind, code, message, field))
        response.status_code = status
        if kind is Kind.PROTOCOL:
            response.headers.extend(NO_STORE)
    response.headers.extend(list(headers))
    return response


def of(exc: DomainError, kind: Kind):
    """A domain error as a Flask response of ``kind``."""
    return flask(kind, exc.status, exc.code, exc.message, field=exc.field, headers=headers_of(exc))
