"""Flask's error handlers: domain errors, HTTP errors, CSRF failures and outages become answers
(``idp.web.answers``: a page for people, JSON for the API and protocol clients). Never a stack
trace."""

from __future__ import annotations

import logging

from flask import Flask, request
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from idp.errors import DomainError
from idp.i18n import _l
from idp.web import answers

log = logging.getLogger(__name__)


def _render(status: int, code: str, message, *, headers=()):
    """JSON in English for programs (protocol answers in RFC 6749's character set), a page in
    the visitor's language for people (``idp.web.answers``)."""
    kind = answers.kind_for(request.path, request.accept_mimetypes)
    return answers.flask(kind, status, code, message, headers=headers)


def _wants_json() -> bool:
    return answers.kind_for(request.path, request.accept_mimetypes) is not answers.Kind.PAGE


def _has_nul(values) -> bool:
    return any("\x00" in value for value in values)


UNAVAILABLE = (503, "temporarily_unavailable", _l("The service is briefly unavailable"))
SERVER_ERROR = (500, "server_error", _l("Something went wrong on our side"))
NUL_REFUSED = _l("The request contains a NUL character")
NOT_UTF8 = _l("The request's address is not valid UTF-8")
CSRF_FAILED = _l(
    "This form has expired or was not sent from this site. Reload the page and try again."
)
# What people are told of an HTTP error (programs get Werkzeug's English description).
HTTP_MESSAGES = {
    400: _l(
        "The request could not be understood. If you sent a form, reload the page and try again."
    ),
    403: _l("You may not open this page."),
    404: _l("There is no page at this address. Check the link, or start from the start page."),
    405: _l("This page cannot be used that way. Reload it and try again."),
    413: _l("What you sent is too large."),
    429: _l("Too many requests. Wait a moment and try again."),
}


def outage(exc: Exception) -> tuple[int, str, str] | None:
    """The answer for a database or shared-store (Redis) outage, logged without secrets; None
    for any other error."""
    if isinstance(exc, OperationalError | InterfaceError):
        log.error("database unavailable: %s", type(exc.orig).__name__ if exc.orig else "unknown")
        return UNAVAILABLE
    if isinstance(exc, RedisError):
        log.error("shared store (Redis) unavailable: %s", type(exc).__name__)
        return UNAVAILABLE
    return None


def http_answer(exc: HTTPException):
    """The answer to an HTTP error (also for a blueprint's own handler of one, for the routes it
    does not answer itself)."""
    status = exc.code or 500
    code = exc.name.lower().replace(" ", "_")
    if not _wants_json():  # a person reads it: in the page's language
        return _render(status, code, HTTP_MESSAGES.get(status, exc.description or ""))
    return _render(status, code, exc.description or "")


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_nul_bytes():
        """No text we store or look up may hold NUL (PostgreSQL refuses it): answer 400 here,
        once, instead of a database error deep inside."""
        try:
            if (
                "\x00" in request.path
                or _has_nul(request.args.values())
                or _has_nul(request.form.values())
                or "\x00" in request.headers.get("Authorization", "")
            ):
                return _render(400, "invalid_request", NUL_REFUSED)
        except UnicodeDecodeError:  # raw bytes in the query string that are no UTF-8
            return _render(400, "invalid_request", NOT_UTF8)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return answers.of(exc, answers.kind_for(request.path, request.accept_mimetypes))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return _render(400, "csrf_failed", CSRF_FAILED)

    app.errorhandler(HTTPException)(http_answer)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(RedisError)
    def unavailable(exc):
        return _render(*outage(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(*SERVER_ERROR)
