"""One source for the admin API's routes, the checks of their requests and their description.

Each route is declared once, with ``Registry.route``: its method and path, the pydantic models of
its query, body and answer, and what it promises (an ``ETag``, ``If-Match`` required, an
``Idempotency-Key`` honoured). The same declaration registers the Flask view, validates every
request with those models (a precise ``{"error", "error_description", "field"}`` 400 when it does
not fit) and builds the OpenAPI 3.1 document (``document``): pydantic v2 writes JSON Schema
2020-12, the dialect of OpenAPI 3.1, so the document says exactly what the code checks.

Why not a library: flask-openapi3 wants its own ``OpenAPI`` application class in place of Flask's
and answers validation errors in its own shape; spectree (and flask-smorest, marshmallow-based)
likewise answer with their own 422 bodies and have no place for our ETag, If-Match and
Idempotency-Key contracts. What is needed here is small: a decorator, a parser, a document."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from idp.defaults import API_MAX_BODY
from idp.errors import (
    DomainError,
    EditConflict,
    MalformedRequest,
    PreconditionFailed,
    PreconditionRequired,
    TooLarge,
)
from idp.web import answers


@dataclass
class Answer:
    """What a view answers: a model (None: 204 No Content), its status, the resource's version
    (sent as a strong ``ETag``) and, for a creation, where the new resource is."""

    body: BaseModel | None
    status: int = 200
    etag: str | None = None
    location: str | None = None


class Error(BaseModel):
    """Every refusal: a stable machine code, an English description, and the input at fault."""

    error: str
    error_description: str
    field: str | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # the Flask rule, under the blueprint's prefix
    endpoint: str
    summary: str
    description: str
    tag: str
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    answer: type[BaseModel] | None
    status: int
    etag: bool
    if_match: bool
    idempotent: bool
    owner_token: bool  # the owner's own token only (not a company API client)

    @property
    def path(self) -> str:
        """The OpenAPI path: ``/staff/{ident}`` for ``/staff/<ident>``."""
        return _PARAM.sub(lambda m: "{" + m.group("name") + "}", self.rule)

    def path_parameters(self) -> list[dict]:
        found = []
        for match in _PARAM.finditer(self.rule):
            if match.group("conv") == "int":
                schema = {"type": "integer", "minimum": 0, "maximum": 2147483647}
            else:
                schema = {"type": "string", "minLength": 1, "maxLength": 120}
            found.append(
                {"name": match.group("name"), "in": "path", "required": True, "schema": schema}
            )
        return found


_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
INTEGER_ID = "int(max=2147483647)"  # an id beyond a database integer is simply not found


class Registry:
    """The admin API's operations, in the order they are declared."""

    def __init__(self, blueprint: Blueprint, run: Callable[[Operation, Callable, dict], Response]):
        self.blueprint = blueprint
        self.operations: list[Operation] = []
        self._run = run

    def route(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        tag: str,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        answer: type[BaseModel] | None = None,
        status: int = 200,
        etag: bool = False,
        if_match: bool = False,
        idempotent: bool = False,
        owner_token: bool = False,
    ):
        def decorate(view: Callable) -> Callable:
            operation = Operation(
                method=method.upper(),
                rule=rule,
                endpoint=view.__name__,
                summary=summary,
                description=(view.__doc__ or "").strip(),
                tag=tag,
                query=query,
                body=body,
                answer=answer,
                status=status,
                etag=etag,
                if_match=if_match,
                idempotent=idempotent,
                owner_token=owner_token,
            )
            self.operations.append(operation)

            def endpoint(**path: Any) -> Response:
                return self._run(operation, view, path)

            endpoint.__name__ = view.__name__
            self.blueprint.add_url_rule(
                rule, endpoint=view.__name__, view_func=endpoint, methods=[operation.method]
            )
            return view

        return decorate


# --- reading a request ----------------------------------------------------------------------


def check_storable(value: Any) -> None:
    """No text we store may hold NUL (PostgreSQL refuses it), nor half a surrogate pair (no
    database can encode it). SCIM checks its bodies here too (``idp.web.scim``)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise MalformedRequest("The request body holds a NUL character")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise MalformedRequest(
                "The request body holds an unpaired surrogate (\\ud800-\\udfff)"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    elif isinstance(value, list):
        for item in value:
            check_storable(item)


def json_body(limit: int = API_MAX_BODY, too_large: type[DomainError] = TooLarge) -> dict:
    """The JSON object sent (``{}`` when nothing was sent), of at most ``limit`` bytes, with no
    NUL and no half surrogate pair in it. The old ``/api`` routes read theirs here too (their
    oversized body stays a 400: ``too_large``)."""
    if (request.content_length or 0) > limit:
        raise too_large(f"The request body is larger than {limit} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise too_large(f"The request body is larger than {limit} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedRequest("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    check_storable(body)
    return body


def parse(model: type[BaseModel], data: dict, where: str) -> BaseModel:
    """``data`` checked by ``model``; the first fault as a 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        location = ".".join(str(part) for part in first["loc"])
        field = str(first["loc"][0]) if first["loc"] else None
        described = (
            f"{where} {location}: {first['msg']}" if location else f"{where}: {first['msg']}"
        )
        raise MalformedRequest(described, field=field) from None


def if_match() -> str | None:
    """The version an edit was made against (``If-Match``, RFC 9110 13.1.1): required (428),
    one strong entity tag; ``*`` asks for no check (any current version)."""
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        raise PreconditionRequired(
            "Send the resource's ETag in If-Match (read it with GET first)", field="If-Match"
        )
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    if tags == ["*"]:
        return None
    if len(tags) != 1 or not re.fullmatch(r'"[0-9a-f]{1,64}"', tags[0]):
        raise PreconditionFailed(
            "If-Match holds one strong ETag as this API sent it", field="If-Match"
        )
    return tags[0][1:-1]


def respond(answer: Answer) -> Response:
    if answer.body is None:
        response = Response(status=204)
    else:
        response = jsonify(answer.body.model_dump(mode="json"))
        response.status_code = answer.status
    if answer.etag:
        response.headers["ETag"] = f'"{answer.etag}"'
    if answer.location:
        response.headers["Location"] = answer.location
    return response


def call(operation: Operation, view: Callable, path: dict, **context: Any) -> Response:
    """Parse, call the view (one service call), answer; a domain error as the API's JSON. A
    stale ``If-Match`` is 412, whatever the service calls its conflict."""
    kwargs = dict(path, **context)
    try:
        if operation.query is not None:
            kwargs["query"] = parse(operation.query, request.args.to_dict(), "Query parameter")
        if operation.body is not None:
            kwargs["body"] = parse(operation.body, json_body(), "Body field")
        if operation.if_match:
            kwargs["expected"] = if_match()
        try:
            return respond(view(**kwargs))
        except EditConflict as exc:
            raise PreconditionFailed(exc.message) from None
    except DomainError as exc:
        return answers.of(exc, answers.Kind.API)


# --- the OpenAPI 3.1 document ------------------------------------------------------------------

ERROR_TEXT = {
    400: "The request does not fit this operation (the field at fault is named)",
    401: "No access token, or one that is invalid, expired, revoked or not for this API",
    403: "The token lacks the company:admin scope, or its holder may not do this (R6)",
    404: "No such object in your company",
    409: "The change conflicts with the current state (a taken name, a limit reached)",
    412: "If-Match names a version that is no longer current: read it again",
    413: "The request body is too large",
    422: "This Idempotency-Key was used with another request",
    428: "If-Match is required: send the ETag read with GET",
    429: "Too many requests: wait Retry-After seconds",
    503: "Briefly unavailable: retry shortly",
}
_STRING = {"schema": {"type": "string"}}


def _error_statuses(op: Operation) -> list[int]:
    statuses = [400, 401, 403, 404, 409, 429, 503]
    if op.body is not None:
        statuses.append(413)
    if op.if_match:
        statuses += [412, 428]
    if op.idempotent:
        statuses.append(422)
    return sorted(set(statuses))


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        branches = prop.pop("anyOf", None)
        if branches:  # ``X | None``: a query parameter is absent, never null
            kept = [b for b in branches if b.get("type") != "null"]
            prop = {**(kept[0] if len(kept) == 1 else {"anyOf": kept}), **prop}
            if prop.get("default", ...) is None:
                prop.pop("default")
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def document(
    registry: Registry,
    *,
    title: str,
    version: str,
    issuer: str,
    base: str,
    tags: dict[str, str] | None = None,
) -> dict:
    """The OpenAPI 3.1 description of every operation in ``registry``; ``tags``: the sections'
    order and descriptions."""
    wanted: list[tuple[type[BaseModel], str]] = [(Error, "serialization")]
    for op in registry.operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.answer is not None:
            wanted.append((op.answer, "serialization"))
    wanted = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})
    error_ref = refs[(Error, "serialization")]

    paths: dict[str, dict] = {}
    for op in registry.operations:
        parameters = op.path_parameters()
        if op.query is not None:
            parameters += _query_parameters(op.query)
        if op.if_match:
            parameters.append(
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": True,
                    "description": "The ETag read with GET (or * for any version)",
                    "schema": {"type": "string", "maxLength": 70},
                }
            )
        if op.idempotent:
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "A key of the caller's choosing: the same request sent again "
                    "with it (within 24 hours) gets the first answer and creates nothing more",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                }
            )
        success: dict = {"description": op.summary}
        if op.answer is not None:
            success["content"] = {
                "application/json": {"schema": refs[(op.answer, "serialization")]}
            }
        headers = {}
        if op.etag:
            headers["ETag"] = {"description": "The resource's version, for If-Match", **_STRING}
        if op.status == 201:
            headers["Location"] = {"description": "Where the new resource is", **_STRING}
        if op.idempotent:
            headers["Idempotent-Replayed"] = {
                "description": "true when this is the stored answer of an earlier request",
                **_STRING,
            }
        if headers:
            success["headers"] = headers
        responses: dict[str, dict] = {str(op.status): success}
        for status in _error_statuses(op):
            answer: dict = {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": error_ref}},
            }
            if status == 401:
                answer["headers"] = {"WWW-Authenticate": {"description": "RFC 6750", **_STRING}}
            if status == 429:
                answer["headers"] = {"Retry-After": {"description": "Seconds", **_STRING}}
            responses[str(status)] = answer
        operation: dict = {
            "operationId": op.endpoint,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if op.description:
            operation["description"] = op.description
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        if op.owner_token:
            operation["security"] = [{"owner_token": []}]
        paths.setdefault(op.path, {})[op.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": title,
            "version": version,
            "description": "Every job of the owner console, for the company's own tools.",
        },
        "servers": [{"url": base}],
        "security": [{"owner_token": []}, {"company_client": ["company:admin"]}],
        "tags": [
            {"name": tag, "description": (tags or {}).get(tag, "")}
            for tag in sorted(
                dict.fromkeys(op.tag for op in registry.operations),
                key=lambda tag: list(tags or {}).index(tag) if tag in (tags or {}) else 99,
            )
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "owner_token": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The owner's (main account's) access token with the "
                    "company:admin scope, from a first-party app (authorization code flow)",
                },
                "company_client": {
                    "type": "oauth2",
                    "description": "A company API client, created by the owner in the console",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": issuer + "/oauth/token",
                            "scopes": {
                                "company:admin": "Manage the company's staff, stores, "
                                "roles and groups, and read its audit log"
                            },
                        }
                    },
                },
            },
        },
    }
