"""OAuth 2.0 Token Exchange (RFC 8693), for switching store (R27) and for delegation.

An app presents the account's access token (``subject_token``) and the store it wants, and
gets an access token for that store, for the same account and SSO session, with no password.
Only clients granted this grant type may exchange. Everything is judged from the verified
subject token and the account's current claims (the shared store); the statement that records
the new token checks again that the store is still held.

- ``audience`` (a client id) or ``resource`` (an absolute URI under an app's home page, RFC 8707)
  name the app the token is for: its ``aud``. An app other than the caller must let the caller
  exchange for it (its ``exchangeable_by``), or the answer is ``invalid_target``.
- ``actor_token`` (an access token issued to the caller) makes the new token say who acts for
  the account: an ``act`` claim (RFC 8693 4.1), nested when the actor token had one.
- When the subject token holds ``offline_access`` (and the new token keeps it, for the caller
  itself, with no actor), the answer carries a refresh token of a new family that keeps the
  store: an app switched to another store in one browser tab stays there across refreshes,
  while another tab's tokens, of the same SSO session, work in another store."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from sqlalchemy import select

from idp import metrics
from idp.errors import InvalidTargetError, StoreRefused
from idp.extensions import db
from idp.models import Client
from idp.oauth import consents, shared_state, store_context, token_store, tokens
from idp.oauth.claims import profile
from idp.oauth.clients import may_exchange
from idp.oauth.grants.common import CLIENT_AUTH, client_changed
from idp.oauth.token_store import Outcome
from idp.oauth.tokens import Principal
from idp.services import authz

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
OFFLINE = "offline_access"


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client is not allowed to exchange tokens")
        form = self.request.form
        subject = _subject(form, client)
        target = _target(self.request.payload.datalist, client)
        actor = _actor(form, client, subject)
        wanted = (form.get("store") or "")[:64]
        if not wanted:
            raise InvalidRequestError("Name the store to switch to ('store')")
        found = profile(subject["sub"], wanted)
        if found is None:
            raise InvalidGrantError("The subject token's account is disabled")
        claims = found.claims
        for app in {client.client_id: client, target.client_id: target}.values():
            if not authz.may_use_app(claims["account_type"], app):
                raise AccessDeniedError(authz.CONSUMER_REFUSED)
        try:
            store_context.check_held(claims, target, wanted)
        except StoreRefused as exc:
            raise AccessDeniedError(exc.message) from None
        granted = str(subject.get("scope") or "").split()
        scope = form.get("scope") or " ".join(granted)
        if not set(scope.split()) <= set(granted):
            raise InvalidScopeError("The scope cannot be wider than the subject token's")
        for app in {client.client_id: client, target.client_id: target}.values():
            if not app.first_party and not consents.covers(
                subject["sub"], app, app.get_allowed_scope(scope)
            ):
                raise AccessDeniedError(
                    "The account has not approved this app; send the person through sign-in first"
                )
        self._scope = scope
        self._refresh = (
            OFFLINE in scope.split()
            and target is client
            and actor is None
            and client.check_grant_type("refresh_token")
        )
        self.request.client = client
        self.request.user = Principal(
            sub=subject["sub"],
            account_id=0,  # not needed: the statement finds the account by ``sub``
            sid=subject.get("sid"),
            auth_time=_from_epoch(subject.get("auth_time")),
            amr=subject.get("amr") or [],
            acr=subject.get("acr"),
            store=wanted,
            offline=self._refresh,
            audience=target.client_id,
            actor=actor,
            tier=target.tier,  # R21: the token tells its holder and its audience
            _profile=found,
        )

    def create_token_response(self):
        token = self.generate_token(
            user=self.request.user, scope=self._scope, include_refresh_token=self._refresh
        )
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def save_token(self, token: dict) -> None:
        user: Principal = self.request.user
        outcome = token_store.record_exchanged(
            tokens.token_row(token, self.request),
            self.request.client,
            sub=user.sub,
            sid=user.sid,
            store=user.store,
        )
        if outcome is Outcome.CLIENT_CHANGED:
            client_changed(self.request)
        if outcome is Outcome.STORE_NOT_HELD:  # taken away or de-authorized meanwhile (R10)
            raise AccessDeniedError(store_context.not_held(user.store))  # English (error_text)
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()


def _subject(form, client: Client) -> dict:
    """The verified, live claims of the subject token, if this client may exchange it."""
    if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"'subject_token_type' must be {ACCESS_TOKEN_TYPE}")
    requested_type = form.get("requested_token_type")
    if requested_type and requested_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError("Only access tokens can be requested")
    if not form.get("subject_token"):
        raise InvalidRequestError("Missing 'subject_token'")
    subject, _ = tokens.live_claims(form["subject_token"])
    if subject is None:
        raise InvalidGrantError(
            "The subject token is invalid, expired or revoked, or its account is disabled"
        )
    if not subject.get("account_type"):
        raise InvalidGrantError("The subject token does not belong to an account")
    if subject.get("client_id") != client.client_id and not may_exchange(
        client, shared_state.cached_client(str(subject.get("client_id")))
    ):
        raise InvalidGrantError(
            "The subject token was issued to another app, which does not let this app "
            "exchange its tokens"
        )
    return subject


def _target(datalist, client: Client) -> Client:
    """The app named by ``audience`` or ``resource`` (the caller itself when neither is)."""
    audiences, resources = datalist.get("audience", []), datalist.get("resource", [])
    if len(audiences) > 1 or len(resources) > 1:
        raise InvalidTargetError("Name one app: one 'audience' or one 'resource'")
    named = []
    if audiences:
        app = shared_state.cached_client(audiences[0][:64])
        if app is None or app.disabled:
            raise InvalidTargetError("No app is registered with this 'audience'")
        named.append(app)
    if resources:
        app = _app_at(resources[0])
        if app is None:
            raise InvalidTargetError("No app is registered at this 'resource'")
        named.append(app)
    if len({app.client_id for app in named}) > 1:
        raise InvalidTargetError("'audience' and 'resource' name different apps")
    if not named or named[0].client_id == client.client_id:
        return client
    if not may_exchange(client, named[0]):
        raise InvalidTargetError("This app may not get tokens for the app named")
    return named[0]


def _app_at(resource: str) -> Client | None:
    """RFC 8707 2: an absolute URI without a fragment, under an enabled app's home page
    (``client_uri``), same scheme, host and port."""
    if len(resource) > 500:
        return None
    try:
        wanted = urlsplit(resource)
        wanted.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return None
    if not (wanted.scheme and wanted.netloc) or wanted.fragment:
        return None
    apps = db.session.scalars(
        select(Client).where(Client.client_uri.is_not(None), Client.disabled.is_(False))
    ).all()
    for app in apps:
        home = urlsplit(app.client_uri)
        if (home.scheme, home.netloc.lower()) == (wanted.scheme, wanted.netloc.lower()) and (
            wanted.path.startswith(home.path.rstrip("/") + "/") or wanted.path == home.path
        ):
            return app
    return None


def _actor(form, client: Client, subject: dict) -> dict | None:
    """The ``act`` claim (RFC 8693 4.1) of a live ``actor_token`` issued to this client."""
    token, token_type = form.get("actor_token"), form.get("actor_token_type")
    if not token:
        if token_type:
            raise InvalidRequestError("'actor_token_type' was sent without 'actor_token'")
        return None
    if token_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"'actor_token_type' must be {ACCESS_TOKEN_TYPE}")
    actor, _ = tokens.live_claims(token)
    if actor is None:
        raise InvalidGrantError("The actor token is invalid, expired or revoked")
    if actor.get("client_id") != client.client_id:
        raise InvalidGrantError("The actor token was issued to another app")
    company = actor.get("company")
    if isinstance(company, dict) and company.get("id") != (subject.get("company") or {}).get("id"):
        raise InvalidGrantError("The actor belongs to another company")
    act = {"sub": actor["sub"], "client_id": actor["client_id"]}
    if isinstance(actor.get("act"), dict):
        act["act"] = actor["act"]  # a chain of delegation: the earlier actors, nested
    return act


def _from_epoch(value) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None
