"""The admin API's description (OpenAPI 3.1, built from the routes' declarations: ``spec``) and
its reference page, rendered here from that same document with the site's stylesheet."""

from __future__ import annotations

import json

from flask import current_app, jsonify, render_template

from idp.oauth import tokens
from idp.web.api_v1 import bp, registry, spec

TITLE = "Seller ID admin API"
VERSION = "1.0.0"
METHOD_ORDER = ("get", "post", "put", "patch", "delete")
TAGS = {  # the sections of the description, in this order
    "staff": "Sub-accounts: create, edit, disable, hand over, credentials (R2-R5, R16, R18)",
    "stores": "Stores: authorize, de-authorize, operators (R8, R10, R12); assignment is in staff",
    "roles": "Roles: named permission sets",
    "groups": "Staff groups per store (R23)",
    "notifications": "Who is emailed for each kind of event (R25)",
    "inquiries": "Inquiry allocation rules per store and staff member (R24), and teams",
    "audit": "The company's audit log",
    "company": "Two-step verification for staff (R19), language and time zone",
    "wallet": "The wallet password (R15): the owner's own token only",
}


def openapi() -> dict:
    """The document, built once per application (it depends on the code and the issuer)."""
    cached = current_app.extensions.get("idp.api_v1.openapi")
    if cached is None:
        cached = spec.document(
            registry,
            title=TITLE,
            version=VERSION,
            issuer=tokens.issuer(),
            base=tokens.api_audience(),
            tags=TAGS,
        )
        current_app.extensions["idp.api_v1.openapi"] = cached
    return cached


@bp.get("/openapi.json")
def openapi_json():
    response = jsonify(openapi())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _schema_text(schema: dict | None) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) if schema else ""


@bp.get("/docs")
def docs():
    """The reference: each tag's operations, their parameters, body and answers."""
    document = openapi()
    by_tag: dict[str, list[dict]] = {t["name"]: [] for t in document["tags"]}
    for path, methods in document["paths"].items():
        for method in METHOD_ORDER:
            if method in methods:
                operation = methods[method]
                body = operation.get("requestBody", {}).get("content", {})
                by_tag[operation["tags"][0]].append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "operation": operation,
                        "body": _schema_text(body.get("application/json", {}).get("schema")),
                    }
                )
    return render_template(
        "api/docs.html",
        document=document,
        by_tag=by_tag,
        schemas={n: _schema_text(s) for n, s in document["components"]["schemas"].items()},
        base=document["servers"][0]["url"],
        descriptions={t["name"]: t.get("description", "") for t in document["tags"]},
    )
