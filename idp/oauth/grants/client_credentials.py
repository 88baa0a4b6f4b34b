"""The client credentials grant (RFC 6749 4.4): a token for the client itself."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp import metrics
from idp.oauth import token_store, tokens
from idp.oauth.grants.common import CLIENT_AUTH, client_changed
from idp.oauth.token_store import Outcome


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    def save_token(self, token: dict) -> None:
        """One statement records the token if the client is still as it authenticated."""
        outcome = token_store.record(tokens.token_row(token, self.request), self.request.client)
        if outcome is Outcome.CLIENT_CHANGED:
            client_changed(self.request)
        metrics.TOKENS.labels(self.GRANT_TYPE).inc()
