"""Connected apps (issue 17): the apps an account signed in to (tokens issued to it, SSO sessions
that gave an app tokens) or consented to, and "revoke": the consent goes, and every token the
app holds for the account stops working at once (refresh tokens refused, access tokens inactive
at introspection), whatever session it came from. Only the account's own apps, never another
account's; a company's API clients act for no person and are never listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, or_, select

from idp.errors import NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Client, Consent, IssuedToken, SessionClient, SsoSession
from idp.models.base import utcnow
from idp.oauth import shared_state
from idp.services import audit
from idp.services.tx import transaction


@dataclass(frozen=True)
class ConnectedApp:
    client_id: str
    name: str
    first_party: bool
    home_url: str | None
    last_used: datetime | None  # the newest token it got for the account
    consented_scope: tuple[str, ...]  # what a third-party app was approved for
    consented_at: datetime | None
    live_tokens: int  # access tokens not expired, refresh tokens still usable

    @property
    def has_access(self) -> bool:
        return self.live_tokens > 0 or bool(self.consented_scope)


def _live(now: datetime):
    """A token row whose access token or refresh token still works."""
    return and_(
        IssuedToken.revoked_at.is_(None),
        or_(
            IssuedToken.access_expires_at > now,
            and_(
                IssuedToken.refresh_token_hash.is_not(None),
                IssuedToken.rotated_at.is_(None),
                or_(
                    IssuedToken.refresh_expires_at.is_(None),
                    IssuedToken.refresh_expires_at > now,
                ),
            ),
        ),
    )


def list_apps(account: Account) -> list[ConnectedApp]:
    """The account's apps, most recently used first."""
    now = utcnow()
    used = dict(
        (row.client_id, row)
        for row in db.session.execute(
            select(
                IssuedToken.client_id,
                func.max(IssuedToken.issued_at).label("last_used"),
                func.sum(case((_live(now), 1), else_=0)).label("live"),
            )
            .where(IssuedToken.account_id == account.id)
            .group_by(IssuedToken.client_id)
        )
    )
    in_sessions = set(
        db.session.scalars(
            select(SessionClient.client_id)
            .join(SsoSession, SsoSession.id == SessionClient.session_id)
            .where(SsoSession.account_id == account.id)
        )
    )
    consents = {c.client_id: c for c in db.session.query(Consent).filter_by(account_id=account.id)}
    ids = set(used) | in_sessions | set(consents)
    if not ids:
        return []
    clients = db.session.scalars(
        select(Client).where(Client.id.in_(ids), Client.company_id.is_(None))
    ).all()
    apps = []
    for client in clients:
        usage, consent = used.get(client.id), consents.get(client.id)
        apps.append(
            ConnectedApp(
                client_id=client.client_id,
                name=client.name,
                first_party=client.first_party,
                home_url=client.client_uri,
                last_used=usage.last_used if usage else None,
                consented_scope=tuple(sorted(consent.scope.split())) if consent else (),
                consented_at=consent.granted_at if consent else None,
                live_tokens=int(usage.live or 0) if usage else 0,
            )
        )
    oldest = datetime.min.replace(tzinfo=now.tzinfo)
    apps.sort(key=lambda a: (a.last_used or a.consented_at or oldest, a.name), reverse=True)
    return apps


def _sign_out_of_sessions(account: Account, client: Client) -> None:
    """The app is told by back-channel logout, for each live session of the account it had
    tokens in, and is no longer one of those sessions' apps (the sessions go on)."""
    from idp.oauth import logout

    live = db.session.scalars(
        select(SsoSession)
        .join(SessionClient, SessionClient.session_id == SsoSession.id)
        .where(
            SsoSession.account_id == account.id,
            SsoSession.ended_at.is_(None),
            SessionClient.client_id == client.id,
        )
    ).all()
    if not live:
        return
    logout.queue_backchannel(list(live), client_id=client.id)
    db.session.execute(
        delete(SessionClient)
        .where(
            SessionClient.client_id == client.id,
            SessionClient.session_id.in_([s.id for s in live]),
        )
        .execution_options(synchronize_session=False)
    )


@transaction
def revoke(account: Account, client_id: str) -> int:
    """Take back an app's access to the account: its consent is removed (a third-party app asks
    again), every token it holds for the account is revoked, at once for introspection and
    refresh, and it is told by back-channel logout. A first-party app may sign the person in
    again silently while the SSO session lasts (R26): revoking ends what it holds now.
    Audited. Returns how many tokens ended."""
    client = db.session.scalar(
        select(Client).where(
            Client.client_id == (client_id or "")[:64], Client.company_id.is_(None)
        )
    )
    if client is None or not any(app.client_id == client.client_id for app in list_apps(account)):
        raise NotFound(_l("This app is not connected to your account"))
    removed = db.session.execute(
        delete(Consent)
        .where(Consent.account_id == account.id, Consent.client_id == client.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    ended = shared_state.revoke(
        IssuedToken.account_id == account.id, IssuedToken.client_id == client.id
    )
    _sign_out_of_sessions(account, client)
    audit.record(
        account,
        "account.app_revoked",
        company_id=account.company_id,
        target=account,
        client=client.client_id,
        tokens_ended=ended,
        consent_removed=bool(removed),
    )
    return ended
