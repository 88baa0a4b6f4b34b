"""The Authlib authorization servers, their grants and the RFC 7009 / RFC 7662 endpoints.

Two servers with the same grants: Flask's integration for the authorization endpoint (pages,
redirects), and ``DirectServer`` for the machine endpoints that ``idp.web.direct`` answers straight
from WSGI (token, introspection, revocation: issue 6)."""

from __future__ import annotations

import base64
from urllib.parse import unquote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import AuthorizationServer as ProtocolServer
from authlib.oauth2.rfc6749 import ClientAuthentication, OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection
from flask import Flask, current_app

from idp.errors import ClientChanged
from idp.extensions import db
from idp.models import Client, IssuedToken
from idp.models.base import utcnow
from idp.oauth import error_text, shared_state, tokens
from idp.oauth.claims import profile, profile_key
from idp.oauth.clients import may_introspect
from idp.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDConnect,
    RefreshTokenGrant,
    S256Only,
    TokenExchangeGrant,
)
from idp.oauth.tokens import TokenGenerator
from idp.services import privacy


def query_client(client_id: str) -> Client | None:
    if not isinstance(client_id, str) or len(client_id) > 64 or "\x00" in client_id:
        return None
    client = shared_state.cached_client(client_id)
    return None if client is None or client.disabled else client


def _find_token(token: str, hint: str | None) -> IssuedToken | None:
    """An access token (by its verified ``jti``) or a refresh token (by its hash)."""
    if hint != "refresh_token":
        claims = tokens.decode_access_token(token)
        if claims is not None:
            return db.session.query(IssuedToken).filter_by(jti=claims["jti"]).one_or_none()
    return tokens.find_refresh_token(token)


class RevocationEndpoint(_Revocation):
    """RFC 7009. Revoking a refresh token also revokes the access tokens of its family."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string, token_type_hint):
        return _find_token(token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request) -> None:
        if token.refresh_token_hash and request.form.get("token_type_hint") != "access_token":
            tokens.revoke_family(token.family)
        else:
            token.revoked_at = token.revoked_at or utcnow()
        db.session.commit()


def _client_id(headers, form) -> str | None:
    scheme, _, credentials = (headers.get("Authorization") or "").partition(" ")
    client_id = None
    if scheme.lower() == "basic":
        try:
            client_id = unquote(base64.b64decode(credentials).decode().partition(":")[0])
        except (ValueError, UnicodeDecodeError):
            return None
    client_id = client_id or form.get("client_id")
    return client_id if isinstance(client_id, str) and len(client_id) <= 64 else None


def prefetch(endpoint: str, headers, form) -> None:
    """Read what this request will ask the shared store for, in one round trip, before Authlib
    asks for each: the client, and for introspection the token's revocation markers, for token
    exchange the subject token's markers and the account's claims for the store it wants. The
    values are only hints of this request's (``shared_state.prefetch``); Authlib still
    authenticates the client and the grants still judge."""
    client_id = _client_id(headers, form)
    if client_id is None:
        return
    keys = [shared_state.client_key(client_id)]
    if endpoint == "introspection":
        claims = tokens.decode_access_token(form.get("token", ""))
        if claims is not None:
            keys += shared_state.state_keys(claims)
            if claims.get("account_type"):  # R21: the level now and the token's client's tier
                store = claims.get("store")
                keys += [shared_state.GENERATION, profile_key(claims["sub"], store)]
                keys.append(shared_state.client_key(str(claims.get("client_id") or "")))
    elif form.get("grant_type") == TokenExchangeGrant.GRANT_TYPE:
        claims = tokens.decode_access_token(form.get("subject_token", ""))
        if claims is not None and claims.get("account_type"):
            store = (form.get("store") or "")[:64]
            keys += shared_state.state_keys(claims)
            keys += [shared_state.GENERATION, profile_key(claims["sub"], store)]
    if len(keys) > 1:
        shared_state.prefetch(keys)


class LiveAccessToken:
    """An access token found active without a database row: its verified claims, and the tier
    of the client asking about it (R21: what it may read of them)."""

    def __init__(self, claims: dict, caller_tier: str | None = None) -> None:
        self.claims = claims
        self.caller_tier = caller_tier

    def is_expired(self) -> bool:
        return False  # the signature check refused an expired one

    def is_revoked(self) -> bool:
        return False  # the shared revocation markers refused a revoked one


class IntrospectionEndpoint(_Introspection):
    """RFC 7662, for confidential clients (resource servers). ``active: false`` at once for a
    revoked token, a revoked family, a logged-out session or a disabled account (R5)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        if token_type_hint != "refresh_token":
            claims, _ = tokens.live_claims(token_string)
            if claims is not None:  # no SQL: the signature, then the shared revocation markers
                return LiveAccessToken(claims)
        row = tokens.find_refresh_token(token_string)
        if row is None or row.revoked_at or row.rotated_at or row.is_expired():
            return None
        if row.account is None or not row.account.is_active:
            return None
        return row

    def authenticate_token(self, request, client):
        token = super().authenticate_token(request, client)
        if isinstance(token, LiveAccessToken):
            return LiveAccessToken(token.claims, caller_tier=client.tier)
        return token

    def check_permission(self, token, client, request) -> bool:
        """RFC 7662 section 4: another company's app, a partner or the wallet service learns
        nothing of a token that is not theirs to check (``clients.may_introspect``). A refresh
        token is described only to the client it was issued to: no resource server holds one."""
        if isinstance(token, LiveAccessToken):
            claims = token.claims
            return may_introspect(client, claims.get("client_id"), claims.get("aud"))
        return not client.is_public and token.client.client_id == client.client_id

    def introspect_token(self, token: IssuedToken | LiveAccessToken) -> dict:
        if isinstance(token, LiveAccessToken):  # its verified claims, as RFC 7662 suggests
            body = {**_released(token), "active": True, "token_type": "Bearer"}
            if "preferred_username" in body:
                body["username"] = body["preferred_username"]
            return body
        return {  # a refresh token
            "active": True,
            "client_id": token.client.client_id,
            "token_type": "refresh_token",
            "scope": token.scope,
            "exp": int(token.refresh_expires_at.timestamp()),
            "iat": int(token.issued_at.timestamp()),
            "iss": tokens.issuer(),
            "sub": token.account.public_id,
            "username": token.account.login_name,
        }


def _released(token: LiveAccessToken) -> dict:
    """R21: the token's claims, without the profile claims unless the account's level as it is
    now allows both the token's client and the client asking. The token carries what its own
    client was released when it was issued; a resource server of a lower tier, or a level
    lowered since, withholds them (``idp.services.privacy``)."""
    claims = token.claims
    if not claims.get("account_type"):  # client credentials: no account, no profile claims
        return claims
    found = profile(claims["sub"], claims.get("store"))
    level = found.privacy if found else None
    if level is not None and not privacy.tier_matters(level):  # all apps, or none: no tier
        return privacy.release(claims, level, None)
    token_client = shared_state.cached_client(str(claims.get("client_id") or ""))
    tier = privacy.lowest(token_client.tier if token_client else None, token.caller_tier)
    return privacy.release(claims, level, tier)


def init_oauth2_request(request: OAuth2Request, method: str, path: str, headers) -> None:
    """``OAuth2Request.__init__`` with the URI on the issuer, the provider's public address.

    Authlib refuses a request whose URI is not https (or loopback). Behind a TLS-terminating
    proxy the URI the server sees says ``http://`` even so, and the transport is a fact of the
    deployment, checked once at start: production refuses an issuer that is not https
    (``idp.settings``). So Authlib's check is given the issuer when it is https, a loopback
    address otherwise (development and tests), and the request keeps the issuer's URI."""
    uri = tokens.issuer() + path
    OAuth2Request.__init__(
        request, method, uri if uri.startswith("https://") else "http://localhost/", headers=headers
    )
    request.uri = uri


class PagesServer(AuthorizationServer):
    """Flask's integration, for the authorization endpoint, with URIs on the issuer."""

    def create_oauth2_request(self, request) -> OAuth2Request:
        return IssuerRequest()


class IssuerRequest(FlaskOAuth2Request):
    def __init__(self) -> None:
        from flask import request

        init_oauth2_request(self, request.method, request.full_path, request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class DirectServer(ProtocolServer):
    """Authlib's server for requests that ``idp.web.direct`` has already parsed into an
    ``OAuth2Request``; responses are ``(status, body, headers)`` for it to render."""

    def __init__(self) -> None:
        super().__init__()
        self._auth_methods: dict = {}

    def query_client(self, client_id: str) -> Client | None:
        return query_client(client_id)

    def register_client_auth_method(self, method, func) -> None:
        super().register_client_auth_method(method, func)
        self._auth_methods[method] = func

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's client authentication, except for a token request that may use this
        process's own copy of its client (``request.process_clients``: the grants that record
        with a statement checking the client's revision): the copy, with no round trip, when
        there is one (``request.client_copy`` then says so)."""
        if not getattr(request, "process_clients", False):
            return super().authenticate_client(request, methods, endpoint)

        def from_copy(client_id: str) -> Client | None:
            copy = shared_state.process_copy(client_id) if isinstance(client_id, str) else None
            if copy is None or copy.disabled:
                return query_client(client_id)
            request.client_copy = True
            return copy

        auth = ClientAuthentication(from_copy)
        for method, func in self._auth_methods.items():
            auth.register(method, func)
        return auth(request, methods, endpoint)

    def handle_error_response(self, request, error):
        """A refusal judged on a copy of the client may come from the copy being older than a
        change (a rotated secret, a grant type or scope added): ``ClientChanged``, and the
        token endpoint asks again with the client read anew (``idp.web.direct.token``)."""
        if getattr(request, "client_copy", False):
            raise ClientChanged from error
        return super().handle_error_response(request, error)

    def save_token(self, token: dict, request) -> None:
        tokens.save_token(token, request)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs) -> None:
        """No signals: nothing here listens to Authlib's."""


def client_secret_basic(query_client, request) -> Client | None:
    """RFC 6749 2.3.1, as Authlib's method, except that credentials which are not base64 of
    UTF-8 text (``Basic //46/w==``) are no client: ``invalid_client``, not a 500 (Authlib lets
    the ``UnicodeDecodeError`` out; issue 12)."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:  # UnicodeDecodeError, or a header that is not ASCII
        return None


def _register(server) -> None:
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_token_generator("default", TokenGenerator())
    server.register_grant(AuthorizationCodeGrant, [S256Only(required=True), OpenIDConnect()])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(TokenExchangeGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)


def init_app(app: Flask) -> None:
    """Servers per app (each app may have its own database)."""
    error_text.install()
    pages = PagesServer()
    pages.init_app(app, query_client=query_client, save_token=tokens.save_token)
    _register(pages)
    direct = DirectServer()
    _register(direct)
    app.extensions["idp.oauth_server"] = pages
    app.extensions["idp.direct_server"] = direct


def authorization_server() -> AuthorizationServer:
    """The server of the authorization endpoint (Flask pages)."""
    return current_app.extensions["idp.oauth_server"]


def direct_server() -> DirectServer:
    """The server of the token, introspection and revocation endpoints."""
    return current_app.extensions["idp.direct_server"]
