"""The machine endpoints, answered straight from WSGI (issue 6): token, introspection, revocation,
userinfo and JWKS. Apps and resource servers call them on every request of their own, so they
skip Flask's request cycle, which costs about 0.2 ms a request on one core (routing, the cookie
session, CSRF, Werkzeug's form parser, hooks) and which they do not need: no cookies, no pages.

Each request runs in an application context of its own, as a Flask request does, and goes
through a short pipeline: check the request (method, size, form, NUL bytes), hand it to Authlib
(the same grants and endpoints as before, fed a small ``OAuth2Request``) or to the userinfo and
JWKS answers, render. Errors become OAuth error JSON here, in one place: never a page, never a
stack trace. Request ids, metrics and access logs are the same as for Flask's requests
(``idp.web.ops``)."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from http import HTTPStatus
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.defaults import MAX_PROTOCOL_BODY, MAX_PROTOCOL_FIELDS
from idp.errors import ClientChanged, DomainError, MalformedRequest, TooLarge
from idp.oauth import shared_state
from idp.oauth import userinfo as userinfo_answer
from idp.oauth.keys import keyring
from idp.oauth.server import direct_server, init_oauth2_request, prefetch
from idp.oauth.tokens import bearer_token
from idp.web import answers, ops
from idp.web.errors import NUL_REFUSED, SERVER_ERROR, outage

log = logging.getLogger(__name__)

MAX_BODY, MAX_FIELDS = MAX_PROTOCOL_BODY, MAX_PROTOCOL_FIELDS
FORM = "application/x-www-form-urlencoded"
JSON_HEADERS = [("Content-Type", "application/json")]
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
NOSNIFF = ("X-Content-Type-Options", "nosniff")


class Headers:
    """Case-insensitive reads of a WSGI environ's request headers (all Authlib asks is
    ``get``)."""

    __slots__ = ("environ",)

    def __init__(self, environ: dict) -> None:
        self.environ = environ

    @staticmethod
    def _key(name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key

    def get(self, name: str, default=None):
        return self.environ.get(self._key(name), default)

    def __getitem__(self, name: str):
        return self.environ[self._key(name)]

    def __contains__(self, name: str) -> bool:
        return self._key(name) in self.environ


class FormPayload(OAuth2Payload):
    """The form's parameters: ``data`` holds the first value of each, ``datalist`` all of them
    (Authlib refuses repeated parameters with it)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list] = defaultdict(list)
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class DirectRequest(OAuth2Request):
    """An ``OAuth2Request`` made from the WSGI environ (its URI on the issuer, see
    ``init_oauth2_request``). ``process_clients``: its client may be taken from this process's
    own copy (``DirectServer.authenticate_client``)."""

    def __init__(self, environ: dict, pairs: list[tuple[str, str]]) -> None:
        init_oauth2_request(
            self, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), Headers(environ)
        )
        self.environ = environ
        self.payload = FormPayload(pairs)
        self.process_clients = False
        self.client_copy = False

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return {}


def _body(environ: dict) -> bytes:
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        try:
            size = int(length)
        except ValueError:
            raise MalformedRequest("The Content-Length header is not a number") from None
        if size > MAX_BODY:
            raise TooLarge(f"The request body is over {MAX_BODY} bytes")
        return environ["wsgi.input"].read(size) if size > 0 else b""
    if environ.get("wsgi.input_terminated"):  # chunked: read at most one byte past the limit
        body = environ["wsgi.input"].read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise TooLarge(f"The request body is over {MAX_BODY} bytes")
        return body
    return b""


def _form(environ: dict) -> list[tuple[str, str]]:
    """The form parameters of the body (RFC 6749 3.2: ``application/x-www-form-urlencoded``;
    another kind of body is refused). Bytes that are not UTF-8 become U+FFFD."""
    body = _body(environ)
    if not body:
        return []
    content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if content_type != FORM:
        raise MalformedRequest(f"Send the parameters as {FORM}")
    try:
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:
        raise MalformedRequest(f"The form has more than {MAX_FIELDS} fields") from None
    return pairs


def _refuse_nul(environ: dict, pairs: list[tuple[str, str]]) -> None:
    """No text we store or look up may hold NUL (PostgreSQL refuses it)."""
    query = environ.get("QUERY_STRING", "")
    if (
        "%00" in query
        or "\x00" in query
        or "\x00" in environ.get("HTTP_AUTHORIZATION", "")
        or any("\x00" in key or "\x00" in value for key, value in pairs)
    ):
        raise MalformedRequest(NUL_REFUSED)


def _oauth_request(environ: dict) -> DirectRequest:
    pairs = _form(environ)
    _refuse_nul(environ, pairs)
    return DirectRequest(environ, pairs)


# --- the endpoints: each returns (status, body, headers); body is a dict or bytes ---------------


# Grants that record their token with a statement checking the client's revision
# (idp.oauth.token_store): they may authenticate the client from the process's copy.
PROCESS_CLIENT_GRANTS = frozenset(
    {"client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"}
)


def token(environ: dict):
    """RFC 6749 3.2 (and RFC 8693): every grant, by Authlib's grants.

    The client is first taken from the process's own copy (no round trip), for the grants that
    record their token with a statement checking the client is still at that copy's revision.
    When that check fails, or the copy refuses the request (a secret rotated meanwhile), the
    request is answered once more with the client read anew from the shared store."""
    pairs = _form(environ)
    _refuse_nul(environ, pairs)
    request = DirectRequest(environ, pairs)
    request.process_clients = request.form.get("grant_type") in PROCESS_CLIENT_GRANTS
    prefetch("token", request.headers, request.form)
    try:
        return direct_server().create_token_response(request)
    except ClientChanged:  # the process's copy of the client was out of date
        shared_state.forget_prefetched()
        return direct_server().create_token_response(DirectRequest(environ, pairs))


def introspect(environ: dict):
    """RFC 7662, for confidential clients."""
    request = _oauth_request(environ)
    prefetch("introspection", request.headers, request.form)
    return direct_server().create_endpoint_response("introspection", request)


def revoke(environ: dict):
    """RFC 7009."""
    return direct_server().create_endpoint_response("revocation", _oauth_request(environ))


def userinfo(environ: dict):
    """OIDC Core 5.3: claims by the token's scopes, for an active token with ``openid``. The
    token comes in the Authorization header (RFC 6750 2.1)."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization and "\x00" in authorization:
        raise MalformedRequest(NUL_REFUSED)
    _body(environ)  # a POST's body is read (and bounded), never used
    token_value = bearer_token(authorization)
    if token_value is None:
        return answers.bearer("invalid_request", "Send the access token as a Bearer token")
    answer = userinfo_answer.answer(token_value)
    if answer is None:
        return answers.bearer("invalid_token", "The access token is invalid, expired or revoked")
    if answer is userinfo_answer.NOT_A_USER:
        return answers.bearer("invalid_token", "This token does not belong to a user")
    if answer is userinfo_answer.NO_OPENID:
        return answers.bearer("insufficient_scope", "The token lacks the openid scope", 403)
    return 200, answer.encode(), []


def jwks(environ: dict):
    # Short: after ``idp keys rotate`` apps must see the new key soon (they also refetch on an
    # unknown kid).
    return 200, keyring().jwks_json(), [("Cache-Control", "public, max-age=60")]


# path -> (endpoint name for metrics, methods, handler)
ROUTES = {
    "/oauth/token": ("oauth.token", ("POST",), token),
    "/oauth/introspect": ("oauth.introspect", ("POST",), introspect),
    "/oauth/revoke": ("oauth.revoke", ("POST",), revoke),
    "/oauth/userinfo": ("oauth.userinfo", ("GET", "POST"), userinfo),
    "/oauth/jwks": ("oauth.jwks", ("GET", "HEAD"), jwks),
}
NOT_CACHED = {"oauth.jwks"}


def _error_body(status: int, error: str, description) -> tuple[int, dict, list]:
    return answers.wsgi(answers.Kind.PROTOCOL, status, error, description)


class DirectEndpoints:
    """WSGI middleware in front of Flask: the paths of ``ROUTES`` are answered here, every other
    request goes on to ``wsgi_app``."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response):
        route = ROUTES.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        name, methods, handler = route
        method = environ.get("REQUEST_METHOD", "GET")
        with self.app.app_context():
            request_id = ops.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
            if method not in methods:
                status, body, headers = _error_body(
                    405, "invalid_request", f"Use {' or '.join(methods)} at this endpoint"
                )
                headers = [("Allow", ", ".join(methods))]
            else:
                status, body, headers = self._answer(handler, environ)
            ops.observe(
                name,
                method,
                status,
                time.perf_counter() - started,
                request_id=request_id,
                path=environ.get("PATH_INFO", ""),
                client_ip=environ.get("REMOTE_ADDR"),
            )
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode()
        names = {key.lower() for key, _ in headers}
        out = [*JSON_HEADERS, *headers] if "content-type" not in names else list(headers)
        if name not in NOT_CACHED and "cache-control" not in names:
            out.extend(NO_STORE)
        out.append(NOSNIFF)
        out.append(("Content-Length", str(len(body))))
        out.append(("X-Request-ID", request_id))
        start_response(f"{status} {HTTPStatus(status).phrase}", out)
        return [b""] if method == "HEAD" else [body]

    @staticmethod
    def _answer(handler, environ: dict):
        try:
            return handler(environ)
        except DomainError as exc:  # refused before or by the endpoint
            return answers.wsgi(
                answers.Kind.PROTOCOL,
                exc.status,
                exc.code,
                exc.message,
                headers=answers.headers_of(exc),
            )
        except Exception as exc:  # one place: a clear JSON error, never a stack trace
            answer = outage(exc)
            if answer is None:
                log.exception("unhandled error on %s", environ.get("PATH_INFO"))
                answer = SERVER_ERROR
            return _error_body(*answer)


def init_app(app: Flask) -> None:
    app.wsgi_app = DirectEndpoints(app, app.wsgi_app)
    hops = app.extensions["idp.settings"].proxy_hops
    if hops:  # outermost: both layers see the client's address and scheme
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
