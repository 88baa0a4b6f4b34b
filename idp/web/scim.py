"""The SCIM 2.0 service provider (RFC 7644) at ``/scim/v2``, one per company (issue 19).

Every request first admits the caller: a Bearer token of a company's own SCIM client, either the
long-lived SCIM token the console shows (what Entra ID and Okta paste) or an access token got
with the client credentials grant that holds the ``scim`` scope and names this service in its
audience; it acts for its company's main
account and for nothing else (another company's ids are not found, no filter reaches beyond
the company). Each change is made by ``idp.scim.provisioning`` through the console's services,
and every audit entry names the client (``audit.bind_api_caller``).

Users and Groups are filtered, sorted and paged in memory over the company's own rows (a
company has at most its plan's number of sub-accounts, R2): the filter grammar and its
evaluation are scim2-models' (``ScimFilter``), as are ``PATCH`` (``PatchOp``) and attribute
selection. Entra ID's and Okta's non-standard ``PATCH`` forms are rewritten to RFC 7644's first
(``_standard_patch``)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from pydantic import ValidationError
from redis.exceptions import RedisError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    GroupMember,
    GroupMembership,
    ListResponse,
    Manager,
    Meta,
    Patch,
    PatchOp,
    ResourceType,
    ResponseParameters,
    SchemaExtension,
    SCIMException,
    ScimFilter,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import Error as ScimErrorMessage
from sqlalchemy.exc import SQLAlchemyError

from idp.defaults import (
    SCIM_MAX_BULK_OPERATIONS,
    SCIM_MAX_DEPTH,
    SCIM_MAX_PAGE,
    SCIM_MAX_PAYLOAD,
    SCIM_RATE_LIMIT,
)
from idp.errors import (
    BearerError,
    DomainError,
    EditConflict,
    Forbidden,
    InvalidInput,
    LimitReached,
    MalformedRequest,
    NotFound,
    RateLimited,
)
from idp.extensions import db
from idp.models import Account, Client, StaffGroup
from idp.oauth import tokens
from idp.oauth.config import SCIM_SCOPE
from idp.scim import provisioning as prov
from idp.scim.resources import (
    ENTERPRISE_USER,
    RESOURCES,
    Enterprise,
    Seller,
    SellerGroup,
    StaffEmail,
    StaffName,
    StaffPhone,
    StaffUser,
)
from idp.scim.resources import (
    StaffGroup as GroupResource,
)
from idp.services import api_clients, audit, groups
from idp.web.api_v1 import access, once
from idp.web.api_v1.spec import check_storable

log = logging.getLogger(__name__)
bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
MEDIA = "application/scim+json"
PUBLIC = ("scim.service_provider_config", "scim.resource_types", "scim.schemas")


class ScimError(Exception):
    """An RFC 7644 3.12 error: status, ``scimType`` and a ``detail``."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def _as_scim(exc: Exception) -> ScimError:
    if isinstance(exc, ScimError):
        return exc
    if isinstance(exc, SCIMException):
        return ScimError(exc.status, str(exc), exc.scim_type)
    if isinstance(exc, EditConflict):
        return ScimError(412, str(exc.message))
    if isinstance(exc, LimitReached):  # R2: the plan's limit is the request's fault, not a clash
        return ScimError(400, str(exc.message))
    if isinstance(exc, DomainError) and exc.status == 409:
        return ScimError(409, str(exc.message), "uniqueness")  # R3, a taken name
    if isinstance(exc, InvalidInput | MalformedRequest):
        return ScimError(400, str(exc.message), "invalidValue")
    if isinstance(exc, DomainError):
        return ScimError(exc.status, str(exc.message))
    raise exc


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype=MEDIA
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error_body(error: ScimError) -> dict:
    return ScimErrorMessage(
        status=error.status, scim_type=error.scim_type, detail=error.detail
    ).model_dump()


@bp.errorhandler(ScimError)
@bp.errorhandler(DomainError)
@bp.errorhandler(SCIMException)
def scim_error(exc):
    error = _as_scim(exc)
    headers = {}
    if isinstance(exc, BearerError):
        headers["WWW-Authenticate"] = (
            f'Bearer error="{exc.code}"' if exc.challenge_code else "Bearer"
        )
    if isinstance(exc, RateLimited):  # Entra ID and Okta wait this long before they retry
        headers["Retry-After"] = str(exc.retry_after)
    return _json(_error_body(error), error.status, headers)


@bp.errorhandler(404)
def no_such_endpoint(_exc):
    return _json(_error_body(ScimError(404, "No such SCIM endpoint")), 404)


@bp.errorhandler(405)
def no_such_method(_exc):
    return _json(_error_body(ScimError(405, "This endpoint does not take that method")), 405)


# --- who calls ----------------------------------------------------------------------------


INVALID_BEARER = "The access token is invalid, expired or revoked"


def authenticate() -> Account:
    """Either bearer of a company's SCIM client: the long-lived SCIM token the console showed
    (Entra ID, Okta), or an access token got with the client credentials grant. A wrong,
    replaced or revoked one of either kind is the same 401, so a caller learns nothing from
    which. The company's main account is the services' actor."""
    bearer = tokens.bearer_token(request.headers.get("Authorization"))
    if bearer is None:
        raise BearerError(None, "Send an access token as a Bearer token")
    if api_clients.looks_like_scim_token(bearer):
        client = _client_of_scim_token(bearer)
    else:
        client = _client_of_access_token(bearer)
    caller = access._company_client(client)
    g.scim_client = client
    return caller.actor


def _client_of_scim_token(bearer: str) -> Client:
    client = api_clients.client_of_scim_token(bearer)
    if client is None:
        raise BearerError("invalid_token", INVALID_BEARER)
    return client


def _client_of_access_token(bearer: str) -> Client:
    """A token with the ``scim`` scope and this service in its audience, of a client."""
    found = tokens.active_access_token(bearer)
    if found is None:
        raise BearerError("invalid_token", INVALID_BEARER)
    claims, row = found
    if SCIM_SCOPE not in (row.scope or "").split():
        raise BearerError(
            "insufficient_scope", "SCIM takes a token with the scim scope", 403, scope=SCIM_SCOPE
        )
    aud = claims.get("aud")
    if tokens.scim_audience() not in ([aud] if isinstance(aud, str) else list(aud or [])):
        raise BearerError("invalid_token", "The access token is not meant for SCIM")
    if row.account is not None:
        raise Forbidden("SCIM takes the token of a company API client, not a person's")
    return row.client


@bp.before_request
def admit():
    if request.endpoint in PUBLIC or request.endpoint is None:
        return None
    if request.endpoint == "scim.unknown_endpoint" and request.view_args["_rest"].split("/")[0] in (
        "ServiceProviderConfig",
        "ResourceTypes",
        "Schemas",
    ):
        return None
    actor = authenticate()
    once.rate_limit(
        g.scim_client.client_id, current_app.config.get("IDP_API_RATE_LIMIT") or SCIM_RATE_LIMIT
    )
    g.scim_actor = actor
    g.scim_audit = audit.bind_api_caller(g.scim_client.client_id, own_client=True)
    # Admitted: the console's "last synced" counts this call (ids read now, while loaded).
    g.scim_call = (g.scim_client.id, g.scim_client.client_id)
    return None


@bp.teardown_request
def unbind(_exc):
    binding = g.pop("scim_audit", None)
    if binding is not None:
        audit.unbind_api_caller(binding)


@bp.after_request
def note_call(response):
    """The console's "last synced" (issue 19, item 5): an admitted call (a valid bearer, within
    the rate limit), read or write, answered without a server error, is written after the
    answer, at most once a minute per client, and never at the answer's expense."""
    call = g.pop("scim_call", None)
    if call is None or response.status_code >= 500:
        return response
    client_pk, client_id = call
    try:
        if api_clients.scim_call_due(client_pk):
            db.session.rollback()  # what the call changed is committed: write the note alone
            api_clients.note_scim_call(client_pk)
            db.session.commit()
    except (SQLAlchemyError, RedisError):
        db.session.rollback()
        log.warning("could not note the call of SCIM client %s", client_id, exc_info=True)
    return response


@bp.after_request
def no_store(response):
    """Never cached. An error the app answered before this blueprint's handlers ran (a NUL or
    bytes that are no UTF-8 in the address, refused for every route) is given SCIM's error
    form too (RFC 7644 3.12)."""
    if response.status_code >= 400 and response.mimetype != MEDIA:
        detail = "The request could not be understood"
        if response.is_json:
            body = response.get_json(silent=True) or {}
            detail = str(body.get("error_description") or body.get("message") or detail)
        response = _json(_error_body(ScimError(response.status_code, detail)), response.status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def base_url() -> str:
    return tokens.scim_audience()


# --- representations ----------------------------------------------------------------------


def _etag(version: str) -> str:
    return f'W/"{version}"'


def _kind(profile, contact: str) -> str:
    """The type the HR system gave the email or phone; ``work`` when it gave none."""
    return (getattr(profile, f"{contact}_type") if profile else None) or "work"


def _primary(profile, contact: str) -> bool:
    """As the HR system said; ``true`` when it said nothing (the one value is the primary)."""
    said = getattr(profile, f"{contact}_primary") if profile else None
    return True if said is None else said


def user_resource(account: Account) -> StaffUser:
    profile = prov.profile_of(account)
    version = prov.version_of(account)
    name = None
    if profile and (profile.given_name or profile.family_name or profile.formatted_name):
        name = StaffName(
            given_name=profile.given_name,
            family_name=profile.family_name,
            formatted=profile.formatted_name,
        )
    user = StaffUser(
        id=account.public_id,
        external_id=profile.external_id if profile else None,
        user_name=account.name,
        display_name=account.nickname,
        name=name,
        active=account.is_active,
        emails=(
            [
                StaffEmail(
                    value=account.email,
                    type=_kind(profile, "email"),
                    primary=_primary(profile, "email"),
                )
            ]
            if account.email
            else None
        ),
        phone_numbers=(
            [
                StaffPhone(
                    value=account.phone,
                    type=_kind(profile, "phone"),
                    primary=_primary(profile, "phone"),
                )
            ]
            if account.phone
            else None
        ),
        groups=[
            GroupMembership(
                value=prov.group_id(group),
                ref=f"{base_url()}/Groups/{prov.group_id(group)}",
                display=f"{group.store.public_id}/{group.name}",
            )
            for group in groups.groups_of(account)
        ]
        or None,
        meta=Meta(
            resource_type="User",
            created=account.created_at,
            last_modified=account.updated_at,
            location=f"{base_url()}/Users/{account.public_id}",
            version=_etag(version),
        ),
    )
    manager = db.session.get(Account, account.manager_id) if account.manager_id else None
    if manager is not None or (profile and (profile.employee_number or profile.department)):
        user[Enterprise] = Enterprise(
            employee_number=profile.employee_number if profile else None,
            department=profile.department if profile else None,
            manager=(
                Manager(
                    value=manager.public_id,
                    ref=f"{base_url()}/Users/{manager.public_id}",
                    display_name=manager.login_name,
                )
                if manager is not None
                else None
            ),
        )
    user[Seller] = Seller(
        roles=[r.name for r in account.roles] or None,
        stores=[s.public_id for s in account.stores],
        default_store=account.default_store.public_id if account.default_store else None,
        must_change_password=account.must_change_password,
    )
    return user


def group_resource(group: StaffGroup) -> GroupResource:
    ident = prov.group_id(group)
    resource = GroupResource(
        id=ident,
        external_id=group.external_id,
        display_name=group.name,
        members=[
            GroupMember(value=a.public_id, ref=f"{base_url()}/Users/{a.public_id}", display=a.name)
            for a in sorted(group.members, key=lambda a: a.id)
        ]
        or None,
        meta=Meta(
            resource_type="Group",
            created=group.created_at,
            last_modified=group.created_at,
            location=f"{base_url()}/Groups/{ident}",
            version=_etag(prov.version_of_group(group)),
        ),
    )
    resource[SellerGroup] = SellerGroup(store=group.store.public_id)
    return resource


def _arg(name: str) -> str | None:
    """A query parameter, or the same field of a ``POST /.search`` body (RFC 7644 3.4.3)."""
    searched = g.get("scim_search")
    if searched is not None:
        value = searched.get(name)
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return None if value is None else str(value)
    return request.args.get(name)


def _attribute_list(name: str) -> list[str] | None:
    value = _arg(name)
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _dump(resource, context: Context = Context.RESOURCE_QUERY_RESPONSE) -> dict:
    """RFC 7644 3.9: ``attributes`` or ``excludedAttributes`` select what is returned."""
    try:
        selected = ResponseParameters.model_validate(
            {
                "attributes": _attribute_list("attributes"),
                "excludedAttributes": _attribute_list("excludedAttributes"),
            }
        )
        return resource.model_dump(scim_ctx=context, response_parameters=selected)
    except (ValueError, SCIMException) as exc:
        raise ScimError(400, f"attributes: {exc}", "invalidPath") from None


def _one(resource, status: int = 200, context=Context.RESOURCE_QUERY_RESPONSE) -> Response:
    headers = {"ETag": resource.meta.version, "Location": resource.meta.location}
    return _json(_dump(resource, context), status, headers)


# --- requests -----------------------------------------------------------------------------


def _depth(value) -> int:
    """How deep JSON nests, counted without recursion (the body may be anything)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def _body() -> dict:
    if (request.content_length or 0) > SCIM_MAX_PAYLOAD:
        raise ScimError(413, f"The request body is larger than {SCIM_MAX_PAYLOAD} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > SCIM_MAX_PAYLOAD:
        raise ScimError(413, f"The request body is larger than {SCIM_MAX_PAYLOAD} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ScimError(400, "The request body is not valid JSON", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "The request body must be a JSON object", "invalidSyntax")
    if _depth(body) > SCIM_MAX_DEPTH:
        raise ScimError(
            400, f"The request body nests deeper than {SCIM_MAX_DEPTH} levels", "invalidSyntax"
        )
    try:
        check_storable(body)
    except MalformedRequest as exc:
        raise ScimError(400, str(exc), "invalidValue") from None
    return body


def _parse(model, body: dict, context: Context):
    try:
        return model.model_validate(body, scim_ctx=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        scim_type = "invalidValue"
        if first.get("type", "").startswith("scim_"):
            scim_type = first["type"][5:]
        raise ScimError(
            400, f"{where}: {first['msg']}" if where else first["msg"], scim_type
        ) from None
    except SCIMException as exc:
        raise ScimError(exc.status, str(exc), exc.scim_type) from None


def _if_match(headers) -> str | None:
    """``If-Match`` (RFC 7644 3.14): the version a write is made against; ``*`` or none: no
    check."""
    value = (headers.get("If-Match") or "").strip()
    if not value or value == "*":
        return None
    match = re.fullmatch(r'(?:W/)?"([0-9a-f]{1,64})"', value)  # versions.fingerprint
    if match is None:
        raise ScimError(400, "If-Match takes an ETag this service gave", "invalidValue")
    return match.group(1)


def _user_payload(body: dict) -> dict:
    """Entra ID sends ``"active": "False"``; pydantic reads such strings as booleans already.
    The main account's name is never a user name here. A ``manager`` given by its id alone
    (Entra ID and Okta send no ``$ref``, which RFC 7643 4.3 marks required) gets its ref."""
    enterprise = body.get(ENTERPRISE_USER) if isinstance(body, dict) else None
    if isinstance(enterprise, dict) and "manager" in enterprise:
        body = {**body, ENTERPRISE_USER: {**enterprise, "manager": _manager(enterprise["manager"])}}
    return body


def _manager(value):
    """A manager as its id (a string) or ``{"value": id}``, with its ``$ref`` filled in."""
    if isinstance(value, str):
        value = {"value": value}
    if isinstance(value, dict) and isinstance(value.get("value"), str) and "$ref" not in value:
        value = {**value, "$ref": f"{base_url()}/Users/{value['value'][:64]}"}
    return value


def _standard_patch(body: dict) -> dict:
    """RFC 7644 3.5.2 from what Entra ID and Okta send: operation names in any case
    (``Replace``), ``remove`` of ``members`` with the members to remove as a value (Entra ID)
    rewritten to ``members[value eq "…"]``, and booleans sent as strings."""
    operations = []
    sent = body.get("Operations")
    if sent is not None and not isinstance(sent, list):
        raise ScimError(400, "Operations is a list of operations", "invalidSyntax")
    for operation in sent or []:
        if not isinstance(operation, dict):
            raise ScimError(400, "Each operation is a JSON object", "invalidSyntax")
        operation = dict(operation)
        op = str(operation.get("op", "")).lower()
        operation["op"] = op
        path = operation.get("path")
        value = operation.get("value")
        if op == "remove" and isinstance(path, str) and path.lower() == "members" and value:
            for member in value if isinstance(value, list) else [value]:
                ident = member.get("value") if isinstance(member, dict) else None
                if not isinstance(ident, str):
                    raise ScimError(400, "members to remove are given by value", "invalidValue")
                operations.append(
                    {"op": "remove", "path": f"members[value eq {ScimFilter.quote(ident)}]"}
                )
            continue
        if (
            isinstance(path, str)
            and path.lower().endswith(":manager")
            and op in ("add", "replace")
            and isinstance(value, str | dict)
        ):
            operation["value"] = _manager(value)  # Entra ID: the manager's id, bare
        if (
            isinstance(value, str)
            and value.lower() in ("true", "false")
            and isinstance(path, str)
            and path.lower().endswith(("active", "mustchangepassword"))
        ):
            operation["value"] = value.lower() == "true"
        operations.append(operation)
    return {**body, "Operations": operations}


def _page(items: list, build: Callable, model) -> Response:
    filter_text = _arg("filter")
    start = _int_arg("startIndex", 1)
    count = _int_arg("count", SCIM_MAX_PAGE)
    resources = [build(item) for item in items]
    if filter_text:
        try:
            bound = ScimFilter[model](filter_text)
        except (ValueError, SCIMException) as exc:
            raise ScimError(400, f"filter: {exc}", "invalidFilter") from None
        try:
            resources = [r for r in resources if bound.match(r)]
        except (ValueError, TypeError, SCIMException) as exc:
            raise ScimError(400, f"filter: {exc}", "invalidFilter") from None
    sort_by = _arg("sortBy")
    if sort_by:
        descending = (_arg("sortOrder") or "ascending").lower() == "descending"
        resources.sort(key=lambda r: _sort_key(r, sort_by), reverse=descending)
    total = len(resources)
    start = max(start, 1)
    count = max(0, min(count, SCIM_MAX_PAGE))
    page = resources[start - 1 : start - 1 + count]
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": [_dump(r) for r in page],
        }
    )


def _int_arg(name: str, default: int) -> int:
    value = _arg(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ScimError(400, f"{name} takes a number", "invalidValue") from None


def _is_primary(value) -> bool:
    """A multi-valued attribute's primary value; plain strings (the seller extension's roles,
    ``schemas``) have none."""
    return isinstance(value, dict) and bool(value.get("primary"))


def _sort_key(resource, path: str):
    """RFC 7644 3.4.2.3: by the attribute's value (a multi-valued one by its primary value),
    case-insensitively; resources without it sort last."""
    node: Any = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    for part in re.split(r"(?<=[a-zA-Z0-9]):(?=[a-zA-Z]+$)|\.", path):
        if isinstance(node, list):
            node = next((v for v in node if _is_primary(v)), node[0] if node else None)
        if not isinstance(node, dict):
            node = None
            break
        node = next((v for k, v in node.items() if k.lower() == part.lower()), None)
    if isinstance(node, list):
        node = next((v for v in node if _is_primary(v)), node[0] if node else None)
        node = node.get("value") if isinstance(node, dict) else node
    if node is None:
        return (1, "")
    return (0, str(node).casefold())


# --- Users --------------------------------------------------------------------------------


def _actor() -> Account:
    return g.scim_actor


@bp.get("/Users")
def list_users():
    return _page(prov.staff(_actor()), user_resource, StaffUser)


def _searched(items: list, build: Callable, model) -> Response:
    body = _body()
    if "urn:ietf:params:scim:api:messages:2.0:SearchRequest" not in (body.get("schemas") or []):
        raise ScimError(400, "A search request names the SearchRequest schema", "invalidSyntax")
    g.scim_search = body
    return _page(items, build, model)


@bp.post("/Users/.search")
def search_users():
    return _searched(prov.staff(_actor()), user_resource, StaffUser)


@bp.post("/Groups/.search")
def search_groups():
    return _searched(prov.list_groups(_actor()), group_resource, GroupResource)


@bp.post("/.search")
def search_all():
    """RFC 7644 3.4.3 at the root: users, then groups, each judged by its own schema."""
    body = _body()
    if "urn:ietf:params:scim:api:messages:2.0:SearchRequest" not in (body.get("schemas") or []):
        raise ScimError(400, "A search request names the SearchRequest schema", "invalidSyntax")
    g.scim_search = {**body, "startIndex": 1, "count": SCIM_MAX_PAGE}
    found = []
    for items, build, model in (
        (prov.staff(_actor()), user_resource, StaffUser),
        (prov.list_groups(_actor()), group_resource, GroupResource),
    ):
        try:
            found.extend(_page(items, build, model).get_json()["Resources"])
        except ScimError:
            continue  # an attribute the other resource type lacks: none of it matches
    g.scim_search = body
    start = max(_int_arg("startIndex", 1), 1)
    count = max(0, min(_int_arg("count", SCIM_MAX_PAGE), SCIM_MAX_PAGE))
    page = found[start - 1 : start - 1 + count]
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(found),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
    )


@bp.post("/Users")
def create_user():
    return _create_user(_body())


def _create_user(body: dict) -> Response:
    user = _parse(StaffUser, _user_payload(body), Context.RESOURCE_CREATION_REQUEST)
    account = prov.create_user(_actor(), user)
    return _one(user_resource(account), 201, Context.RESOURCE_CREATION_RESPONSE)


@bp.get("/Users/<ident>")
def get_user(ident: str):
    return _one(user_resource(prov.get_user(_actor(), ident)))


@bp.put("/Users/<ident>")
def replace_user(ident: str):
    return _replace_user(ident, _body(), request.headers)


def _replace_user(ident: str, body: dict, headers) -> Response:
    account = prov.get_user(_actor(), ident)
    user = _parse(StaffUser, _user_payload(body), Context.RESOURCE_REPLACEMENT_REQUEST)
    prov.replace_user(_actor(), account, user, _if_match(headers))
    return _one(user_resource(account), 200, Context.RESOURCE_REPLACEMENT_RESPONSE)


@bp.patch("/Users/<ident>")
def patch_user(ident: str):
    return _patch_user(ident, _body(), request.headers)


def _patch_user(ident: str, body: dict, headers) -> Response:
    """The operations are applied to the account as read with its row locked, and the result
    written through ``replace_user`` against that very version: a console edit made meanwhile
    is never overwritten, and one made after waits for this one."""
    actor = _actor()
    account = prov.get_user(actor, ident)
    patch = _parse(PatchOp[StaffUser], _standard_patch(body), Context.RESOURCE_PATCH_REQUEST)
    expected = _if_match(headers)
    from idp.services import versions

    versions.lock(account)
    current_version = prov.version_of(account)
    if expected is not None and expected != current_version:
        raise ScimError(412, "The user was changed since you read it")
    user = user_resource(account)
    try:
        patch.patch(user)
    except SCIMException as exc:
        raise ScimError(exc.status, str(exc), exc.scim_type) from None
    if user[Seller] is not None and user[Seller].roles is None:
        user[Seller].roles = []  # removed by the patch: no role left (an absent one is none)
    prov.replace_user(actor, account, user, current_version)
    return _one(user_resource(account))


@bp.delete("/Users/<ident>")
def delete_user(ident: str):
    return _delete_user(ident, request.headers)


def _delete_user(ident: str, headers) -> Response:
    """R4: never deleted; disabled (departed), its sessions and tokens end at once (R5). A
    later ``GET`` answers the departed account with ``active: false``."""
    account = prov.get_user(_actor(), ident)
    prov.deactivate(_actor(), account, _if_match(headers))
    return Response(status=204)


# --- Groups (R23) -------------------------------------------------------------------------


@bp.get("/Groups")
def list_groups():
    return _page(prov.list_groups(_actor()), group_resource, GroupResource)


def _member_ids(resource: GroupResource) -> list[str]:
    return [m.value for m in (resource.members or []) if m.value]


@bp.post("/Groups")
def create_group():
    return _create_group(_body())


def _create_group(body: dict) -> Response:
    resource = _parse(GroupResource, body, Context.RESOURCE_CREATION_REQUEST)
    group = prov.create_group(
        _actor(), resource.display_name or "", resource.external_id, _member_ids(resource)
    )
    return _one(group_resource(group), 201, Context.RESOURCE_CREATION_RESPONSE)


@bp.get("/Groups/<ident>")
def get_group(ident: str):
    return _one(group_resource(prov.get_group(_actor(), ident)))


@bp.put("/Groups/<ident>")
def replace_group(ident: str):
    return _replace_group(ident, _body(), request.headers)


def _replace_group(ident: str, body: dict, headers) -> Response:
    group = prov.get_group(_actor(), ident)
    resource = _parse(GroupResource, body, Context.RESOURCE_REPLACEMENT_REQUEST)
    prov.replace_group(
        _actor(),
        group,
        resource.display_name or "",
        resource.external_id,
        _member_ids(resource),
        _if_match(headers),
    )
    return _one(group_resource(group), 200, Context.RESOURCE_REPLACEMENT_RESPONSE)


@bp.patch("/Groups/<ident>")
def patch_group(ident: str):
    return _patch_group(ident, _body(), request.headers)


def _patch_group(ident: str, body: dict, headers) -> Response:
    actor = _actor()
    group = prov.get_group(actor, ident)
    patch = _parse(PatchOp[GroupResource], _standard_patch(body), Context.RESOURCE_PATCH_REQUEST)
    from idp.services import versions

    versions.lock(group)
    current_version = prov.version_of_group(group)
    expected = _if_match(headers)
    if expected is not None and expected != current_version:
        raise ScimError(412, "The group was changed since you read it")
    resource = group_resource(group)
    try:
        patch.patch(resource)
    except SCIMException as exc:
        raise ScimError(exc.status, str(exc), exc.scim_type) from None
    prov.replace_group(
        actor,
        group,
        resource.display_name or group.name,
        resource.external_id,
        _member_ids(resource),
        current_version,
    )
    return _one(group_resource(group))


@bp.delete("/Groups/<ident>")
def delete_group(ident: str):
    return _delete_group(ident, request.headers)


def _delete_group(ident: str, headers) -> Response:
    group = prov.get_group(_actor(), ident)
    prov.delete_group(_actor(), group, _if_match(headers))
    return Response(status=204)


# --- Bulk (RFC 7644 3.7) ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern
    handlers: dict[str, Callable]


ROUTES = (
    Route(re.compile(r"/Users"), {"POST": lambda m, b, h: _create_user(b)}),
    Route(
        re.compile(r"/Users/([^/]+)"),
        {
            "PUT": lambda m, b, h: _replace_user(m.group(1), b, h),
            "PATCH": lambda m, b, h: _patch_user(m.group(1), b, h),
            "DELETE": lambda m, b, h: _delete_user(m.group(1), h),
        },
    ),
    Route(re.compile(r"/Groups"), {"POST": lambda m, b, h: _create_group(b)}),
    Route(
        re.compile(r"/Groups/([^/]+)"),
        {
            "PUT": lambda m, b, h: _replace_group(m.group(1), b, h),
            "PATCH": lambda m, b, h: _patch_group(m.group(1), b, h),
            "DELETE": lambda m, b, h: _delete_group(m.group(1), h),
        },
    ),
)


def _with_bulk_ids(value, created: dict[str, str]):
    """``bulkId:<id>`` in a later operation names what an earlier one created."""
    if isinstance(value, str):
        if value.startswith("bulkId:"):
            found = created.get(value[7:])
            if found is None:
                raise ScimError(409, f"No earlier operation created {value}", "invalidValue")
            return found
        return value
    if isinstance(value, list):
        return [_with_bulk_ids(v, created) for v in value]
    if isinstance(value, dict):
        return {k: _with_bulk_ids(v, created) for k, v in value.items()}
    return value


@bp.post("/Bulk")
def bulk():
    """Each operation is a transaction of its own, run in order; with ``failOnErrors`` the rest
    is skipped once that many have failed (RFC 7644 3.7.3)."""
    body = _body()
    operations = body.get("Operations")
    if not isinstance(operations, list):
        raise ScimError(400, "Bulk takes a list of Operations", "invalidSyntax")
    if len(operations) > SCIM_MAX_BULK_OPERATIONS:
        raise ScimError(413, f"At most {SCIM_MAX_BULK_OPERATIONS} operations in one request")
    fail_on = body.get("failOnErrors")
    if fail_on is not None and (not isinstance(fail_on, int) or fail_on < 1):
        raise ScimError(400, "failOnErrors takes a positive number", "invalidValue")
    created: dict[str, str] = {}
    answers, failures = [], 0
    for operation in operations:
        if fail_on is not None and failures >= fail_on:
            break
        answer = _bulk_one(operation, created)
        answers.append(answer)
        if int(answer["status"]) >= 400:
            failures += 1
    return _json(
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"], "Operations": answers}
    )


def _bulk_one(operation, created: dict[str, str]) -> dict:
    if not isinstance(operation, dict):
        return {"status": "400", "response": _error_body(ScimError(400, "Not an operation"))}
    method = str(operation.get("method", "")).upper()
    path = str(operation.get("path", ""))
    bulk_id = operation.get("bulkId")
    answer: dict = {"method": method}
    if bulk_id:
        answer["bulkId"] = bulk_id
    try:
        version = operation.get("version")
        if version is not None and not isinstance(version, str):
            raise ScimError(
                400, "An operation's version is an ETag this service gave", "invalidValue"
            )
        headers = {"If-Match": version} if version else {}
        path = _with_bulk_ids(path.replace("bulkId:", "bulkId:", 1), created)
        path = re.sub(
            r"bulkId:([^/]+)", lambda m: _with_bulk_ids("bulkId:" + m.group(1), created), path
        )
        data = operation.get("data")
        if data is not None and not isinstance(data, dict):
            raise ScimError(400, "An operation's data is a JSON object", "invalidSyntax")
        data = _with_bulk_ids(data or {}, created)
        if method == "POST" and not bulk_id:
            raise ScimError(400, "A POST in a bulk request needs a bulkId", "invalidValue")
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match and method in route.handlers:
                response = route.handlers[method](match, data, headers)
                break
        else:
            raise ScimError(400, f"No such bulk operation: {method} {path}", "invalidPath")
    except (ScimError, DomainError, SCIMException) as exc:
        error = _as_scim(exc)
        answer.update(status=str(error.status), response=_error_body(error))
        return answer
    answer["status"] = str(response.status_code)
    if response.headers.get("Location"):
        answer["location"] = response.headers["Location"]
        answer["version"] = response.headers.get("ETag")
        if method == "POST" and bulk_id:
            created[str(bulk_id)] = response.headers["Location"].rsplit("/", 1)[-1]
    return answer


# --- discovery (RFC 7644 4) -----------------------------------------------------------------


def service_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(
            supported=True,
            max_operations=SCIM_MAX_BULK_OPERATIONS,
            max_payload_size=SCIM_MAX_PAYLOAD,
        ),
        filter=Filter(supported=True, max_results=SCIM_MAX_PAGE),
        change_password=ChangePassword(supported=True),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="OAuth Bearer Token",
                description=(
                    "The SCIM token the owner's console shows for a SCIM client, or a client "
                    "credentials access token of that client (scope scim)"
                ),
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig",
            location=f"{base_url()}/ServiceProviderConfig",
        ),
    )


def resource_types() -> list[ResourceType]:
    return [
        ResourceType(
            id="User",
            name="User",
            description="A staff sub-account",
            endpoint="/Users",
            schema_=StaffUser.__schema__,
            schema_extensions=[
                SchemaExtension(schema_=Enterprise.__schema__, required=False),
                SchemaExtension(schema_=Seller.__schema__, required=False),
            ],
            meta=Meta(resource_type="ResourceType", location=f"{base_url()}/ResourceTypes/User"),
        ),
        ResourceType(
            id="Group",
            name="Group",
            description="A staff group of one store (R23)",
            endpoint="/Groups",
            schema_=GroupResource.__schema__,
            schema_extensions=[SchemaExtension(schema_=SellerGroup.__schema__, required=False)],
            meta=Meta(resource_type="ResourceType", location=f"{base_url()}/ResourceTypes/Group"),
        ),
    ]


def schemas() -> list:
    found = []
    for model in (*RESOURCES, Enterprise, Seller, SellerGroup):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base_url()}/Schemas/{schema.id}")
        found.append(schema)
    return found


def _listed(items: list) -> Response:
    dumped = [i.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for i in items]
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(dumped),
            "startIndex": 1,
            "itemsPerPage": len(dumped),
            "Resources": dumped,
        }
    )


@bp.get("/ServiceProviderConfig", endpoint="service_provider_config")
def service_provider_config():
    return _json(service_config().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/ResourceTypes", endpoint="resource_types")
@bp.get("/ResourceTypes/<ident>", endpoint="resource_types")
def resource_types_view(ident: str | None = None):
    if ident is None:
        return _listed(resource_types())
    for item in resource_types():
        if item.id == ident:
            return _json(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise ScimError(404, "No such resource type")


@bp.get("/Schemas", endpoint="schemas")
@bp.get("/Schemas/<ident>", endpoint="schemas")
def schemas_view(ident: str | None = None):
    if ident is None:
        return _listed(schemas())
    for item in schemas():
        if item.id == ident:
            return _json(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise ScimError(404, "No such schema")


_ = (ListResponse, NotFound)  # the library's names for what these routes answer


@bp.route("/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown_endpoint(_rest: str):
    """RFC 7644 3.12: an unknown endpoint is a 404 in SCIM's error form too; a write to the
    read-only discovery endpoints is a 405 (RFC 7644 4)."""
    if _rest.split("/", 1)[0] in ("ServiceProviderConfig", "ResourceTypes", "Schemas"):
        raise ScimError(405, "The discovery endpoints are read only")
    raise ScimError(404, "No such SCIM endpoint")
