"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0).

Ending a session writes one signed logout token per client that had the session and registered a
``backchannel_logout_uri``, into an outbox, in the same transaction. A background thread POSTs them
after the commit (the user never waits for an app) and retries failures with backoff; several
instances share the work safely through a lease on each row."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from joserfc import jwt
from sqlalchemy import select

from idp.background import Worker, lease_due, record_attempt, worker
from idp.defaults import (
    LOGOUT_LEASE_SECONDS,
    LOGOUT_MAX_ATTEMPTS,
    LOGOUT_MAX_DELAY,
    LOGOUT_POST_TIMEOUT,
)
from idp.extensions import db
from idp.models import Client, LogoutDelivery, SessionClient, SsoSession
from idp.oauth.crypto import random_token
from idp.oauth.keys import keyring

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_ATTEMPTS, LEASE_SECONDS, POST_TIMEOUT = (
    LOGOUT_MAX_ATTEMPTS,
    LOGOUT_LEASE_SECONDS,
    LOGOUT_POST_TIMEOUT,
)


def logout_token(client: Client, session: SsoSession) -> str:
    from idp.oauth.tokens import issuer

    alg = client.id_token_signed_response_alg or "ES256"
    key = keyring().signing_key(alg)
    now = int(time.time())
    claims = {
        "iss": issuer(),
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": random_token(16),
        "sub": session.account.public_id,
        "sid": session.sid,
        "events": {EVENT: {}},
    }
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "logout+jwt"}, claims, key)


def queue_backchannel(sessions: list[SsoSession], *, client_id: int | None = None) -> None:
    """Write the outbox rows (inside the caller's transaction) and wake the sender. With
    ``client_id``, that client alone is told (an app signed out of a session that goes on)."""
    ids = [s.id for s in sessions]
    query = (
        select(SessionClient.session_id, Client)
        .join(Client, Client.id == SessionClient.client_id)
        .where(SessionClient.session_id.in_(ids), Client.backchannel_logout_uri.is_not(None))
    )
    if client_id is not None:
        query = query.where(Client.id == client_id)
    rows = db.session.execute(query).all()
    by_id = {s.id: s for s in sessions}
    for session_id, client in rows:
        db.session.add(
            LogoutDelivery(
                client_id=client.id,
                uri=client.backchannel_logout_uri,
                logout_token=logout_token(client, by_id[session_id]),
            )
        )
    if rows:
        sender().wake_after_commit()


def _post(uri: str, token: str) -> str | None:
    """POST the logout token; None on success (2xx), else a short reason."""
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    request = urllib.request.Request(
        uri, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as response:  # noqa: S310
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return type(exc).__name__


def deliver_due(limit: int = 50) -> int:
    """Deliver what is due; returns how many were delivered. Safe to run on many instances."""
    delivered = 0
    for delivery in lease_due(
        LogoutDelivery, LogoutDelivery.delivered_at, limit=limit, lease_seconds=LEASE_SECONDS
    ):
        error = _post(delivery.uri, delivery.logout_token)
        record_attempt(
            delivery,
            error,
            done="delivered_at",
            max_attempts=MAX_ATTEMPTS,
            max_delay=LOGOUT_MAX_DELAY,
        )
        if error is None:
            delivered += 1
        elif delivery.given_up_at is not None:
            log.warning(
                "back-channel logout to client %s given up after %s attempts",
                delivery.client_id,
                delivery.attempts,
            )
    return delivered


def sender() -> Worker:
    return worker("backchannel-logout", deliver_due)
