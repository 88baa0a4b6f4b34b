"""OAuth 2.0 / OpenID Connect state: clients, signing keys, SSO sessions, authorization codes,
issued tokens, consents, and the back-channel logout outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.accounts import Account
from idp.models.base import UTCDateTime, utcnow
from idp.oauth.crypto import client_secret_matches

CONFIDENTIAL = "confidential"
PUBLIC = "public"
MERCHANT = "merchant"
CONSUMER = "consumer"

# R21: how far an app is trusted with personal information, most trusted first. First-party:
# the provider's and the companies' own seller apps (no consent asked). Verified partner: a
# third party the operator has checked. Third party: any other; both kinds of third party need
# the person's consent.
FIRST_PARTY = "first_party"
VERIFIED_PARTNER = "verified_partner"
THIRD_PARTY = "third_party"
TIERS = (FIRST_PARTY, VERIFIED_PARTNER, THIRD_PARTY)


class Client(db.Model):
    """A relying party. Secrets are stored as a keyed HMAC-SHA256 (they are high-entropy, and
    client authentication is on the hot path: argon2 would cost tens of ms per token)."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    name: Mapped[str] = mapped_column(String(120))
    client_type: Mapped[str] = mapped_column(String(16), default=CONFIDENTIAL)
    app_type: Mapped[str] = mapped_column(String(16), default=MERCHANT)  # R6: consumer apps
    tier: Mapped[str] = mapped_column(String(20), default=FIRST_PARTY)  # one of TIERS (R21)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="openid profile email")
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="ES256")
    # Marketplaces the app serves (e.g. ["shopee-sg"]); empty = every marketplace (a chat console).
    marketplaces: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The app's home page (OIDC Dynamic Client Registration's ``client_uri``): the start page
    # links signed-in people to their apps.
    client_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Clients (by client_id) that may exchange this client's access tokens for their own
    # (RFC 8693); a client may always exchange tokens issued to itself.
    exchangeable_by: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Clients (by client_id) whose tokens this client, a resource server, may introspect
    # (RFC 7662 section 4); a client may always introspect its own tokens.
    resource_server_for: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Issue 16: a company's own API client (its ERP, HR tool, scripts), created by the owner in
    # the console; it acts only within that company. None for the provider's apps.
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Issue 19: a SCIM client's long-lived bearer token for Entra ID or Okta, which cannot run
    # the client credentials grant (``idp.services.api_clients``). Its SHA-256, looked up by
    # this unique index; one token per client, so a replacement ends the old one at once.
    scim_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    scim_token_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the SCIM client last called /scim/v2 with a valid bearer, read or write, to within
    # ``SCIM_LAST_CALL_EVERY`` (``api_clients.note_scim_call``): the console's "last synced".
    scim_last_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Raised by every change (idp.oauth.shared_state): a copy of the client cached in a process
    # is used to issue a token only while the database still has it at this revision.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    @property
    def is_public(self) -> bool:
        return self.client_type == PUBLIC

    def serves(self, marketplace: str | None) -> bool:
        """Whether the app works with a store of ``marketplace``: every one, unless it declared
        the marketplaces it serves (``marketplaces``). Sign-in, token exchange, the events
        intake and inquiry allocation hold it to them."""
        return not self.marketplaces or marketplace in self.marketplaces

    @hybrid_property
    def first_party(self) -> bool:
        """A first-party app needs no consent (``idp.oauth.consents``). Before R21 this was the
        column; setting it still works (True: first-party, False: third-party) for callers that
        know no partners."""
        return self.tier == FIRST_PARTY

    @first_party.inplace.setter
    def _first_party_setter(self, value: bool) -> None:
        self.tier = FIRST_PARTY if value else THIRD_PARTY

    @first_party.inplace.expression
    @classmethod
    def _first_party_expression(cls):
        return cls.tier == FIRST_PARTY

    # Authlib's ClientMixin. Redirect URIs match exactly, character for character.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # redirect_uri is always required (OIDC Core 3.1.2.1)

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return not self.is_public and client_secret_matches(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.disabled:
            return False
        if self.is_public:
            return method == "none" and endpoint in ("token", "revocation")
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.check_grant_type("authorization_code")

    def check_grant_type(self, grant_type: str) -> bool:
        # Issue 16: a company's API client acts for the company alone, never for a person (no
        # code, no refresh, no token exchange), whatever grant types its row came to hold.
        if self.company_id is not None and grant_type != "client_credentials":
            return False
        return grant_type in self.grant_types


class SigningKey(db.Model):
    """A signing key pair. The private part is encrypted under ``IDP_KEY_ENCRYPTION_KEY``. A key
    signs while it is the newest active one, and stays in the JWKS until ``retire_after``."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retire_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SsoSession(db.Model):
    """The server-side SSO session behind the browser cookie. The cookie holds a random token;
    only its SHA-256 is stored, so a database read does not yield usable cookies."""

    __tablename__ = "sso_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)  # the ``sid`` claim
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(40), default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The account centre's sessions page (issue 17): where the session was last used from, and
    # when (written at most every SESSION_SEEN_EVERY); the device cookie's hash it was made on.
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    device_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The store this session works in (R27's switcher); None = the account's default store.
    active_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)

    account: Mapped[Account] = relationship(lazy="joined")

    __table_args__ = (Index("ix_sso_sessions_account_device", "account_id", "device_hash"),)


class SessionClient(db.Model):
    """Which clients received tokens in an SSO session: they get the back-channel logout."""

    __tablename__ = "session_clients"

    session_id: Mapped[int] = mapped_column(ForeignKey("sso_sessions.id"), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)


class AuthorizationCode(db.Model):
    __tablename__ = "authorization_codes"
    # OIDC Core 3.1.2.1: a nonce is checked for replay on every authorization request.
    __table_args__ = (Index("ix_authorization_codes_client_id_nonce", "client_id", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sso_sessions.id"), nullable=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str | None] = mapped_column(String(40), nullable=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    client: Mapped[Client] = relationship(lazy="joined")
    account: Mapped[Account] = relationship(lazy="joined")

    # Authlib's AuthorizationCodeMixin (and OIDC's).
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


class IssuedToken(db.Model):
    """One row per access token (by ``jti``), with its refresh token when one was issued.
    Refresh tokens rotate: each use marks the row ``rotated_at`` and issues a new row in the same
    ``family``; presenting a rotated refresh token revokes the family."""

    __tablename__ = "issued_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), index=True, nullable=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_sessions.id"), index=True, nullable=True
    )
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id"), index=True, nullable=True
    )
    scope: Mapped[str] = mapped_column(Text, default="")
    # The active store the token was issued for (R27); its removal (R10) revokes the token.
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True, nullable=True)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # The client is known already wherever a token is looked up (it authenticated): not joined.
    client: Mapped[Client] = relationship(lazy="select")
    account: Mapped[Account | None] = relationship(lazy="joined")

    # Authlib's TokenMixin, for the refresh token this row carries.
    def check_client(self, client: Client) -> bool:
        return self.client_id == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self) -> bool:
        from idp.models.base import utcnow

        return self.refresh_expires_at is not None and self.refresh_expires_at <= utcnow()


class Consent(db.Model):
    """Scopes an account granted to a third-party client."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("account_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogoutDelivery(db.Model):
    """Outbox of back-channel logout tokens: written in the logout's transaction, POSTed after,
    retried with backoff until delivered or given up."""

    __tablename__ = "logout_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    uri: Mapped[str] = mapped_column(String(500))
    logout_token: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(db.Model):
    """R19: single-use recovery codes, stored as hashes."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutboxMessage(db.Model):
    """Every email and SMS is written here first, in the transaction of what caused it, and sent
    from here: retried with backoff, so nothing is lost while a server is down, and sent once
    (a lease per row keeps several instances from sending it twice)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # "email" or "sms"
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255), default="")
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(40))  # e.g. "activation", "password_changed"
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # RFC 8058: the one-click unsubscribe URL of an email that can be turned off (R22), sent as
    # its List-Unsubscribe header; None for security notices.
    unsubscribe_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class VerificationCode(db.Model):
    """R14: a one-time code sent to a phone or email (6 digits, 10 minutes, 5 attempts)."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # "email" or "phone"
    # "verify": proves the account's own email or phone (R14); "change": proves a new one the
    # account wants instead (R20), which is saved only once the code is typed in.
    purpose: Mapped[str] = mapped_column(String(8), default="verify", server_default="verify")
    destination: Mapped[str] = mapped_column(String(254))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
