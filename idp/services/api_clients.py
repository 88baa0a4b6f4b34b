"""A company's own API clients (issue 16): its ERP, HR tool or scripts, which get tokens with the
client credentials grant (RFC 6749 4.4) and act on the company through the admin API, and only on
that company.

The owner creates them in the console (the secret is shown once), rotates their secret and
revokes them. Such a client is confidential and third party, holds the ``company:admin`` scope
and no grant but client credentials (``Client.check_grant_type`` keeps it so), and names its
company (``Client.company_id``). Revoking disables it: it gets no token any more, and the
``client-off`` marker (``idp.oauth.shared_state``) makes the tokens it holds inactive at once. A
revoked client stays listed, never deleted: the audit log names it. Another company's client is
"not found", as everything of another company is (``authz``).

A SCIM client (issue 19) also holds one long-lived bearer token, because Entra ID's and Okta's
provisioning take a token pasted by the owner and cannot run the client credentials grant. It is
shown once (when the client is made, and when the owner replaces it), kept as its SHA-256 alone
(256 random bits: a fast hash looked up by a unique index is as strong as a slow one, and no
comparison of secrets happens in Python) and found by that hash on each SCIM call. Replacing it
overwrites the hash, so the old token stops at once; revoking the client clears it."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_ngettext
from sqlalchemy import func, select, update

from idp.defaults import (
    MAX_API_CLIENTS,
    MAX_CLIENT_NAME,
    SCIM_LAST_CALL_EVERY,
    SCIM_TOKEN_BYTES,
)
from idp.errors import Conflict, InvalidInput, LimitReached, NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, AuditEvent, Client, Company, IssuedToken
from idp.models.base import utcnow
from idp.models.oauth import CONFIDENTIAL, MERCHANT
from idp.oauth import shared_state
from idp.oauth.clients import new_secret
from idp.oauth.config import ADMIN_SCOPE, SCIM_SCOPE
from idp.oauth.crypto import token_hash
from idp.services import audit
from idp.services.audit import API_ACTOR
from idp.services.authz import require_owner
from idp.services.names import normalize
from idp.services.tx import transaction

GRANT = "client_credentials"
CLIENT_ID_PREFIX = "api_"  # tells an owner (and a log reader) what kind of client it is
# Tells an owner, a secret scanner and our own SCIM endpoint that this bearer is a SCIM token
# and no JWT access token (those begin with "eyJ").
SCIM_TOKEN_PREFIX = "scim_"
SCIM_TOKEN_MAX = 128  # characters; a longer bearer with the prefix is no token of ours
NOT_FOUND = _l("No such API client in your company")
REVOKED = _l("This API client is revoked; create a new one instead")


def check_name(name) -> str:
    """1 to ``MAX_CLIENT_NAME`` characters, trimmed, none of them a control character."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(_l("Give the API client a name"), field="name")
    name = name.strip()
    if len(name) > MAX_CLIENT_NAME:
        raise InvalidInput(
            lazy_ngettext(
                "An API client's name has at most %(num)d character",
                "An API client's name has at most %(num)d characters",
                MAX_CLIENT_NAME,
            ),
            field="name",
        )
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs"} for ch in name):
        raise InvalidInput(
            _l("An API client's name must not contain control or invisible characters"),
            field="name",
        )
    return name


def list_for(actor: Account) -> list[Client]:
    """The company's API clients, in use first, newest first."""
    require_owner(actor)
    return list(
        db.session.scalars(
            select(Client)
            .where(Client.company_id == actor.company_id)
            .order_by(Client.disabled, Client.created_at.desc(), Client.id.desc())
        )
    )


def get(actor: Account, client_id: str) -> Client:
    """One of the company's API clients; another company's (or no such) client is not found."""
    require_owner(actor)
    if not isinstance(client_id, str) or len(client_id) > 64 or "\x00" in client_id:
        raise NotFound(NOT_FOUND)
    client = db.session.scalars(
        select(Client).where(Client.client_id == client_id, Client.company_id == actor.company_id)
    ).one_or_none()
    if client is None:
        raise NotFound(NOT_FOUND)
    return client


@transaction
def create(actor: Account, name: str, *, scim: bool = False) -> tuple[Client, str]:
    """A new API client of the actor's company, and its secret, to be shown once. A SCIM client
    (``scim``, issue 19) holds the ``scim`` scope alone: it provisions staff at ``/scim/v2``
    and cannot call the admin API; any other holds ``company:admin`` alone. At most
    ``MAX_API_CLIENTS`` in use at once; names differ among those in use (so that the owner can
    tell them apart in the list and the log). A SCIM client made here has no SCIM token yet
    (``create_scim`` makes one with it; ``replace_scim_token`` later)."""
    return _create(actor, name, scim=scim)


@transaction
def create_scim(actor: Account, name: str) -> tuple[Client, str, str]:
    """A new SCIM client, its secret and its SCIM token, in one transaction: the console shows
    both ways in once, the token for Entra ID and Okta, the secret for a tool that runs the
    client credentials grant."""
    client, secret = _create(actor, name, scim=True)
    return client, secret, _new_scim_token(client)


def _create(actor: Account, name: str, *, scim: bool) -> tuple[Client, str]:
    require_owner(actor)
    name = check_name(name)
    # Concurrent creations queue on the company row (PostgreSQL), so the limit holds.
    db.session.execute(select(Company.id).where(Company.id == actor.company_id).with_for_update())
    in_use = db.session.scalars(
        select(Client.name).where(Client.company_id == actor.company_id, Client.disabled.is_(False))
    ).all()
    if len(in_use) >= MAX_API_CLIENTS:
        raise LimitReached(
            lazy_ngettext(
                "A company has at most %(num)d API client in use; revoke one you no longer need",
                "A company has at most %(num)d API clients in use; revoke one you no longer need",
                MAX_API_CLIENTS,
            )
        )
    if normalize(name) in {normalize(taken) for taken in in_use}:
        raise Conflict(
            _l("An API client named '%(name)s' is in use already", name=name), field="name"
        )
    client = Client(
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(16),
        name=name,
        client_type=CONFIDENTIAL,
        app_type=MERCHANT,
        first_party=False,
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=[GRANT],
        scope=SCIM_SCOPE if scim else ADMIN_SCOPE,
        marketplaces=[],
        exchangeable_by=[],
        resource_server_for=[],
        company_id=actor.company_id,
    )
    secret = new_secret(client)
    db.session.add(client)
    db.session.flush()
    audit.record(
        actor,
        "api_client.created",
        company_id=actor.company_id,
        client_id=client.client_id,
        name=client.name,
        **({"scope": client.scope} if scim else {}),
    )
    return client, secret


@dataclass(frozen=True)
class Synced:
    """A SCIM client's "last synced" on the console (issue 19, item 5): its last call with a
    valid bearer, read or write (a change is a call too), and its last change, audited."""

    last_call: datetime
    last_change: datetime | None

    @property
    def change_apart(self) -> bool:
        """Whether the last change is worth a line of its own: calls are noted to within
        ``SCIM_LAST_CALL_EVERY``, so a change within that of the last call is that call."""
        return self.last_change is not None and self.last_call - self.last_change >= timedelta(
            seconds=SCIM_LAST_CALL_EVERY
        )


def last_synced(actor: Account, clients: list[Client]) -> dict[str, Synced]:
    """By client id, when each client last called and last changed something (its newest
    audit entry other than a read, which names it as ``api:<client id>``). A client that
    only read (a platform's connection test, a sync with nothing to change) has called."""
    require_owner(actor)
    names = [API_ACTOR + c.client_id for c in clients]
    if not names:
        return {}
    rows = db.session.execute(
        select(AuditEvent.actor, func.max(AuditEvent.created_at))
        .where(
            AuditEvent.company_id == actor.company_id,
            AuditEvent.actor.in_(names),
            AuditEvent.action != "api.read",
        )
        .group_by(AuditEvent.actor)
    ).all()
    changed = {name[len(API_ACTOR) :]: moment for name, moment in rows}
    synced = {}
    for client in clients:
        change = changed.get(client.client_id)
        moments = [m for m in (client.scim_last_call_at, change) if m is not None]
        if moments:
            synced[client.client_id] = Synced(last_call=max(moments), last_change=change)
    return synced


def scim_call_due(client_pk: int) -> bool:
    """Whether the client's last call is due to be written: not written in the last
    ``SCIM_LAST_CALL_EVERY`` (a marker in the shared store, claimed by the caller that gets
    True), so a first sync's burst of calls costs one write a minute."""
    return kv().set(f"scim-call:{client_pk}", "1", SCIM_LAST_CALL_EVERY, only_if_absent=True)


def note_scim_call(client_pk: int) -> None:
    """Write that the client (by its row id) called now (the console's "last synced"). Caller
    commits; called when ``scim_call_due``. Sent on the session's connection, past the ORM's
    listeners: this column is bookkeeping that no token or cached copy of the client depends
    on, so it raises no revision and drops no cached client (``idp.oauth.shared_state``),
    which every other change to a client does."""
    db.session.connection().execute(
        update(Client.__table__)
        .where(Client.__table__.c.id == client_pk)
        .values(scim_last_call_at=utcnow())
    )


def is_scim(client: Client) -> bool:
    return SCIM_SCOPE in (client.scope or "").split()


def _new_scim_token(client: Client) -> str:
    """A new SCIM token for ``client`` (in the caller's transaction), to be shown once; it
    replaces the one the client had."""
    token = SCIM_TOKEN_PREFIX + secrets.token_urlsafe(SCIM_TOKEN_BYTES)
    client.scim_token_hash = token_hash(token)
    client.scim_token_created_at = utcnow()
    return token


def looks_like_scim_token(bearer: str) -> bool:
    """The SCIM endpoint's switch between the two kinds of bearer it takes."""
    return bearer.startswith(SCIM_TOKEN_PREFIX)


def client_of_scim_token(bearer: str) -> Client | None:
    """The SCIM client that holds this token, while it may call: in use (revoking ends the token
    at once, even before the hash is cleared), a company's, holding the ``scim`` scope. None for
    any other bearer: a wrong, replaced or revoked token is refused alike."""
    if not looks_like_scim_token(bearer) or len(bearer) > SCIM_TOKEN_MAX:
        return None
    client = db.session.scalars(
        select(Client).where(Client.scim_token_hash == token_hash(bearer))
    ).one_or_none()
    if client is None or client.disabled or client.company_id is None or not is_scim(client):
        return None
    return client


@transaction
def replace_scim_token(actor: Account, client_id: str) -> tuple[Client, str]:
    """A new SCIM token, shown once; the old one stops working with this write (one token per
    client). For a token that leaked, or an identity platform set up again."""
    client = get(actor, client_id)
    if client.disabled:
        raise Conflict(REVOKED)
    if not is_scim(client):
        raise Conflict(_l("Only a SCIM client has a SCIM token"))
    token = _new_scim_token(client)
    audit.record(
        actor,
        "api_client.scim_token_replaced",
        company_id=actor.company_id,
        client_id=client.client_id,
        name=client.name,
    )
    return client, token


@transaction
def revoke(actor: Account, client_id: str) -> Client:
    """Disable the client: the token endpoint refuses it (``invalid_client``), its tokens are
    inactive at once, and so is its SCIM token (its hash is cleared too). Revoking is for good
    (a new client is made in a moment); revoking a revoked client changes nothing and records
    nothing."""
    client = get(actor, client_id)
    if not client.disabled:
        client.disabled = True
        client.scim_token_hash = None  # a revoked client's token is no secret worth keeping
        audit.record(
            actor,
            "api_client.revoked",
            company_id=actor.company_id,
            client_id=client.client_id,
            name=client.name,
        )
    return client


@transaction
def rotate_secret(actor: Account, client_id: str) -> tuple[Client, str]:
    """A new secret, shown once. The old secret stops working at once, and so do the tokens got
    with it: a rotation is most often for a secret that leaked, and a script gets a new token
    with the new secret in one request."""
    client = get(actor, client_id)
    if client.disabled:
        raise Conflict(REVOKED)
    secret = new_secret(client)
    client.secret_rotated_at = utcnow()
    ended = shared_state.revoke(IssuedToken.client_id == client.id)
    audit.record(
        actor,
        "api_client.secret_rotated",
        company_id=actor.company_id,
        client_id=client.client_id,
        name=client.name,
        tokens_ended=ended,
    )
    return client, secret
