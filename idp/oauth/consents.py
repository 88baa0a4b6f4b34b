"""Consent to third-party apps: one rule for the authorization endpoint and token exchange.

A first-party app (the company's own seller centers, registered by the operator) needs no
consent. A third-party app gets tokens for an account only for scopes the account approved for
it; approving more later widens what was approved."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.models import Account, Client, Consent
from idp.models.base import utcnow


def _approved(account_id: int, client: Client) -> Consent | None:
    return (
        db.session.query(Consent)
        .filter_by(account_id=account_id, client_id=client.id)
        .one_or_none()
    )


def is_needed(client: Client, account_id: int, scope: str) -> bool:
    """Whether the account must approve ``scope`` for ``client`` before it gets tokens."""
    if client.first_party:
        return False
    consent = _approved(account_id, client)
    return consent is None or not set(scope.split()) <= set(consent.scope.split())


def covers(sub: str, client: Client, scope: str) -> bool:
    """``is_needed``'s negation for an account named by its ``sub`` (token exchange)."""
    if client.first_party:
        return True
    account_id = db.session.scalar(select(Account.id).where(Account.public_id == sub))
    return account_id is not None and not is_needed(client, account_id, scope)


def save(client: Client, account_id: int, scope: str) -> None:
    """Record the account's approval of ``scope`` for ``client``; commits."""
    consent = _approved(account_id, client)
    if consent is None:
        db.session.add(Consent(account_id=account_id, client_id=client.id, scope=scope))
    else:
        consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scope.split())))
        consent.granted_at = utcnow()
    db.session.commit()
