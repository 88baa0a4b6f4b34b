"""The client credentials grant (RFC 6749 4.4): a token for the client itself."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp import metrics
from idp.oauth import token_store, tokens
from idp.oauth.grants.common import CLIENT_AUTH, client_changed
from idp.oauth.token_store import Outcome


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    def generate_token(self, user=None, scope=None, **kwargs) -> dict:
        """RFC 6749 3.3: a request that omits ``scope`` gets the server's default. For a
        company's API client (issue 16) that is its registered scope, ``company:admin``, so
        that ``curl -u id:secret …/oauth/token -d grant_type=client_credentials`` is all a
        script needs; the provider's own clients keep getting an empty scope, as before."""
        if not scope and self.request.client.company_id is not None:
            scope = self.request.client.scope
        return super().generate_token(user=user, scope=scope, **kwargs)

    def save_token(self, token: dict) -> None:
        """One statement records the token if the client is still as it authenticated."""
        outcome = token_store.record(tokens.token_row(token, self.request), self.request.client)
        if outcome is Outcome.CLIENT_CHANGED:
            client_changed(self.request)
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()
