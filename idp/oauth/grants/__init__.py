"""The grants of the token endpoint, one module per grant as in Authlib (``rfc6749/grants``):
authorization code with PKCE and OpenID Connect, refresh token (rotating, with reuse
detection), client credentials, and token exchange (RFC 8693). Authlib runs each protocol;
these modules are its storage hooks. Each hook that writes calls one ``token_store`` statement
and branches on the ``token_store.Outcome`` it returns."""

from idp.oauth.grants.authorization_code import AuthorizationCodeGrant
from idp.oauth.grants.client_credentials import ClientCredentialsGrant
from idp.oauth.grants.openid import OpenIDConnect, nonce_key
from idp.oauth.grants.pkce import S256Only
from idp.oauth.grants.refresh_token import RefreshTokenGrant
from idp.oauth.grants.token_exchange import TokenExchangeGrant

__all__ = [
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "OpenIDConnect",
    "RefreshTokenGrant",
    "S256Only",
    "TokenExchangeGrant",
    "nonce_key",
]
