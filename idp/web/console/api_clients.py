"""The company's API clients (issue 16): list, create (the secret shown once, with the request
that gets a token), rotate the secret (shown once too) and revoke. A SCIM client (issue 19) is
shown with its SCIM endpoint and its SCIM token once, when it is made and when the owner asks
for a new token. The rules are in ``idp.services.api_clients``."""

from __future__ import annotations

from flask import render_template

from idp.defaults import ACCESS_TOKEN_TTL, MAX_API_CLIENTS, MAX_CLIENT_NAME
from idp.errors import DomainError, NotFound
from idp.i18n import _
from idp.oauth import tokens
from idp.services import api_clients
from idp.web.console import bp, done, form_text, owner
from idp.web.headers import never_cached


def _list_page(*, error=None, field=None, status: int = 200, typed: str = "", kind: str = "admin"):
    actor = owner()
    every = api_clients.list_for(actor)
    return render_template(
        "console/api_clients.html",
        owner=actor,
        clients=every,
        kind=kind,
        scim_ids={c.client_id for c in every if api_clients.is_scim(c)},
        synced=api_clients.last_synced(actor, every),
        scim_url=tokens.scim_audience(),
        in_use=sum(1 for client in every if not client.disabled),
        limit=MAX_API_CLIENTS,
        name_limit=MAX_CLIENT_NAME,
        typed=typed,
        token_endpoint=tokens.issuer() + "/oauth/token",
        api=tokens.api_audience(),
        error=error,
        field=field,
        section="api_clients",
    ), status


def _secret_shown(client, secret: str, *, created: bool, scim_token: str | None = None):
    return never_cached(
        render_template(
            "console/api_client_secret.html",
            owner=owner(),
            client=client,
            secret=secret,
            scim_token=scim_token,
            created=created,
            token_endpoint=tokens.issuer() + "/oauth/token",
            api=tokens.api_audience(),
            scim=api_clients.is_scim(client),
            scim_url=tokens.scim_audience(),
            ttl_minutes=ACCESS_TOKEN_TTL // 60,
            section="api_clients",
        )
    )


@bp.get("/api-clients", endpoint="api_clients")
def api_clients_page():
    return _list_page()


@bp.post("/api-clients")
def api_client_create():
    name = form_text("name", MAX_CLIENT_NAME + 1)
    kind = "scim" if form_text("kind", 10) == "scim" else "admin"
    try:
        if kind == "scim":
            client, secret, scim_token = api_clients.create_scim(owner(), name)
        else:
            client, secret = api_clients.create(owner(), name)
            scim_token = None
    except DomainError as exc:
        return _list_page(
            error=exc.message, field=exc.field, status=exc.status, typed=name, kind=kind
        )
    return _secret_shown(client, secret, created=True, scim_token=scim_token)


@bp.post("/api-clients/<client_id>/rotate")
def api_client_rotate(client_id: str):
    try:
        client, secret = api_clients.rotate_secret(owner(), client_id)
    except NotFound:
        raise  # another company's, or none: the not-found page
    except DomainError as exc:  # revoked already
        return _list_page(error=exc.message, status=exc.status)
    return _secret_shown(client, secret, created=False)


@bp.post("/api-clients/<client_id>/scim-token")
def api_client_scim_token(client_id: str):
    """A new SCIM token, shown once; the old one stopped working."""
    try:
        client, token = api_clients.replace_scim_token(owner(), client_id)
    except NotFound:
        raise  # another company's, or none: the not-found page
    except DomainError as exc:  # revoked, or no SCIM client
        return _list_page(error=exc.message, status=exc.status)
    return never_cached(
        render_template(
            "console/scim_token.html",
            owner=owner(),
            client=client,
            scim_token=token,
            scim_url=tokens.scim_audience(),
            section="api_clients",
        )
    )


@bp.post("/api-clients/<client_id>/revoke")
def api_client_revoke(client_id: str):
    client = api_clients.revoke(owner(), client_id)  # another company's: 404
    return done(
        _(
            "%(name)s is revoked: it can get no token any more, and the tokens it held stopped "
            "working.",
            name=client.name,
        ),
        "console.api_clients",
    )
