"""The client registry: confidential and public clients, merchant or consumer apps (R6), of a
tier: first-party, verified partner or other third party (R21). Secrets are shown once and
stored as a keyed hash."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlalchemy import select

from idp.defaults import MAX_CLIENT_NAME, MAX_CLIENT_URIS
from idp.errors import Conflict, InvalidInput, NotFound
from idp.extensions import db
from idp.models import Client, Marketplace
from idp.models.base import utcnow
from idp.models.oauth import (
    CONFIDENTIAL,
    CONSUMER,
    FIRST_PARTY,
    MERCHANT,
    PUBLIC,
    THIRD_PARTY,
    TIERS,
)
from idp.oauth.config import SIGNING_ALGS
from idp.oauth.crypto import client_secret_hash
from idp.services import audit
from idp.services.tx import transaction

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANTS = ("authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE)
MAX_URIS = MAX_CLIENT_URIS


def _check_uri(uri: str, field: str, *, allow_http_loopback: bool = True) -> str:
    parts = urlsplit(uri)
    if parts.fragment or not parts.scheme or not parts.netloc or len(uri) > 500:
        raise InvalidInput(f"'{uri[:80]}' is not an absolute URI without a fragment", field=field)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and loopback and allow_http_loopback
    ):
        raise InvalidInput(f"'{uri[:80]}' must use https (http only for loopback)", field=field)
    return uri


def _check_uris(uris, field: str) -> list[str]:
    uris = list(dict.fromkeys(u.strip() for u in uris or [] if u and u.strip()))
    if len(uris) > MAX_URIS:
        raise InvalidInput(f"At most {MAX_URIS} URIs", field=field)
    return [_check_uri(u, field) for u in uris]


def new_client_id() -> str:
    """A random client id (128 bits, URL-safe) that never starts with ``-``: an operator types
    it after ``idp clients set``, where a leading dash would read as an option (about one id
    in 64 did)."""
    client_id = secrets.token_urlsafe(16)
    return "A" + client_id[1:] if client_id.startswith("-") else client_id


@transaction
def create_client(
    name: str,
    *,
    client_type: str = CONFIDENTIAL,
    app_type: str = MERCHANT,
    first_party: bool = True,
    tier: str | None = None,
    redirect_uris=(),
    post_logout_redirect_uris=(),
    backchannel_logout_uri: str | None = None,
    grant_types=("authorization_code", "refresh_token"),
    scope: str = "openid profile email phone offline_access",
    id_token_alg: str = "ES256",
    client_id: str | None = None,
    marketplaces=(),
    client_uri: str | None = None,
    exchangeable_by=(),
    resource_server_for=(),
) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (None for a public client), shown once.
    ``tier`` (R21), else ``first_party``: first-party, or else an unverified third party."""
    tier = tier or (FIRST_PARTY if first_party else THIRD_PARTY)
    _check_tier(tier)
    if not name or not name.strip() or len(name) > MAX_CLIENT_NAME:
        raise InvalidInput(f"A client name has 1 to {MAX_CLIENT_NAME} characters", field="name")
    if client_type not in (CONFIDENTIAL, PUBLIC):
        raise InvalidInput("The client type is confidential or public", field="client_type")
    if app_type not in (MERCHANT, CONSUMER):
        raise InvalidInput("The app type is merchant or consumer", field="app_type")
    grant_types = list(dict.fromkeys(grant_types))
    if unknown := set(grant_types) - set(GRANTS):
        raise InvalidInput(
            f"Unknown grant types: {', '.join(sorted(unknown))}", field="grant_types"
        )
    marketplaces = list(dict.fromkeys(marketplaces or []))
    known = {m.code for m in db.session.query(Marketplace)}
    if unknown_markets := set(marketplaces) - known:
        raise InvalidInput(
            f"Unknown marketplaces: {', '.join(sorted(unknown_markets))}", field="marketplaces"
        )
    if client_type == PUBLIC and (
        "client_credentials" in grant_types or TOKEN_EXCHANGE in grant_types
    ):
        raise InvalidInput(
            "A public client cannot use client_credentials or token exchange", field="grant_types"
        )
    redirect_uris = _check_uris(redirect_uris, "redirect_uris")
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidInput(
            "The authorization code flow needs a redirect URI", field="redirect_uris"
        )
    if id_token_alg not in SIGNING_ALGS:
        raise InvalidInput(
            f"The ID token algorithm is one of {', '.join(SIGNING_ALGS)}", field="id_token_alg"
        )
    if client_id and db.session.query(Client.id).filter_by(client_id=client_id).first():
        raise Conflict(f"The client id '{client_id}' is taken", field="client_id")
    secret = None if client_type == PUBLIC else secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id or new_client_id(),
        secret_hash=client_secret_hash(secret) if secret else None,
        name=name.strip(),
        client_type=client_type,
        app_type=app_type,
        tier=tier,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=_check_uris(
            post_logout_redirect_uris, "post_logout_redirect_uris"
        ),
        backchannel_logout_uri=(
            _check_uri(backchannel_logout_uri, "backchannel_logout_uri")
            if backchannel_logout_uri
            else None
        ),
        grant_types=grant_types,
        scope=" ".join(dict.fromkeys(scope.split())),
        id_token_signed_response_alg=id_token_alg,
        marketplaces=marketplaces,
        client_uri=_check_uri(client_uri, "client_uri") if client_uri else None,
        exchangeable_by=_known_clients(exchangeable_by, "exchangeable_by"),
        resource_server_for=_known_clients(resource_server_for, "resource_server_for"),
    )
    db.session.add(client)
    db.session.flush()
    audit.record(
        None,
        "client.created",
        company_id=None,
        target=client,
        client_id=client.client_id,
        name=client.name,
        client_type=client_type,
        app_type=app_type,
        tier=tier,
    )
    return client, secret


def _check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise InvalidInput(f"The tier is one of {', '.join(TIERS)}", field="tier")
    return tier


def _known_clients(client_ids, field: str) -> list[str]:
    client_ids = list(dict.fromkeys(c.strip() for c in client_ids or [] if c and c.strip()))
    if len(client_ids) > MAX_URIS:
        raise InvalidInput(f"At most {MAX_URIS} clients", field=field)
    known = set(
        db.session.scalars(select(Client.client_id).where(Client.client_id.in_(client_ids)))
    )
    if unknown := [c for c in client_ids if c not in known]:
        raise InvalidInput(f"Unknown clients: {', '.join(unknown)}", field=field)
    return client_ids


@transaction
def set_relations(
    client: Client,
    *,
    client_uri: str | None = None,
    exchangeable_by=None,
    resource_server_for=None,
    tier: str | None = None,
) -> Client:
    """Change what the start page links to (``client_uri``, "" to remove it), which clients may
    exchange this client's tokens, whose tokens this client may introspect, and its tier (R21:
    what accounts' privacy levels release to it, from its next token and userinfo answer on).
    ``None`` leaves a setting as it is. Audited."""
    if tier is not None:
        if client.company_id is not None and tier != THIRD_PARTY:
            raise InvalidInput(
                "A company's own API client stays a third party: it acts for its company only",
                field="tier",
            )
        client.tier = _check_tier(tier)
    if client_uri is not None:
        client.client_uri = _check_uri(client_uri, "client_uri") if client_uri else None
    if exchangeable_by is not None:
        client.exchangeable_by = _known_clients(exchangeable_by, "exchangeable_by")
    if resource_server_for is not None:
        client.resource_server_for = _known_clients(resource_server_for, "resource_server_for")
    audit.record(
        None,
        "client.changed",
        company_id=None,
        client_id=client.client_id,
        client_uri=client.client_uri,
        exchangeable_by=client.exchangeable_by,
        resource_server_for=client.resource_server_for,
        tier=client.tier,
    )
    return client


def may_introspect(resource_server: Client, token_client_id: str | None, audience) -> bool:
    """RFC 7662 section 4: a token is described only to the client it was issued to, to a
    client in its audience, or to a resource server registered for the token's client. Any
    other caller is told ``active: false``, as for a token that does not exist."""
    if resource_server.is_public or not token_client_id:
        return False
    audiences = audience if isinstance(audience, list) else [audience]
    return (
        resource_server.client_id == token_client_id
        or resource_server.client_id in audiences
        or token_client_id in (resource_server.resource_server_for or [])
    )


def may_exchange(client: Client, subject_client: Client | None) -> bool:
    """RFC 8693: a client exchanges the tokens issued to itself, and another client's only when
    that client allows it (``exchangeable_by``)."""
    if subject_client is None:
        return False
    return subject_client.client_id == client.client_id or client.client_id in (
        subject_client.exchangeable_by or []
    )


def apps_for(account) -> list[Client]:
    """The apps a signed-in account can open from the start page: enabled, with a home page,
    open to its kind of account (R6: no buyer apps for staff), and serving a marketplace it holds
    a store in (an app that names no marketplace serves every one)."""
    from idp.services.authz import may_use_app

    held = {store.marketplace_code for store in account.stores}
    apps = db.session.scalars(
        select(Client)
        .where(Client.client_uri.is_not(None), Client.disabled.is_(False))
        .order_by(Client.name)
    ).all()
    return [
        app
        for app in apps
        if may_use_app(account.kind, app)
        and (not app.marketplaces or held.intersection(app.marketplaces))
    ]


def get_client(client_id: str) -> Client:
    client = db.session.query(Client).filter_by(client_id=client_id).one_or_none()
    if client is None:
        raise NotFound(f"No client '{client_id}'")
    return client


def list_clients() -> list[Client]:
    return db.session.query(Client).order_by(Client.id).all()


def new_secret(client: Client) -> str:
    """Give a confidential client a new secret (in the caller's transaction) and return it, to
    be shown once: only its keyed hash is kept, and an old secret stops working at once."""
    secret = secrets.token_urlsafe(32)
    client.secret_hash = client_secret_hash(secret)
    return secret


@transaction
def rotate_secret(client: Client) -> str:
    """A new secret, shown once; the old one stops working at once."""
    if client.is_public:
        raise InvalidInput("A public client has no secret")
    secret = new_secret(client)
    client.secret_rotated_at = utcnow()
    audit.record(None, "client.secret_rotated", company_id=None, client_id=client.client_id)
    return secret


@transaction
def set_disabled(client: Client, disabled: bool) -> Client:
    """Disable a client (it cannot authenticate; its tokens are inactive everywhere at once,
    through ``client-off`` markers) or enable it again. Audited."""
    if client.disabled != disabled:
        client.disabled = disabled
        audit.record(
            None,
            "client.disabled" if disabled else "client.enabled",
            company_id=None,
            client_id=client.client_id,
        )
    return client
