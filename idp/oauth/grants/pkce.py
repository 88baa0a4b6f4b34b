"""PKCE (RFC 7636) for the authorization code grant."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge

S256_ONLY = "'code_challenge_method' must be S256 ('plain' is refused)"


class S256Only(CodeChallenge):
    """PKCE with S256 only; required for public clients (``plain`` is refused: RFC 7636 7.2,
    and OAuth 2.0 Security BCP 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        request = grant.request
        challenge = request.payload.data.get("code_challenge")
        method = request.payload.data.get("code_challenge_method")
        if (challenge and not method) or (method and method != "S256"):
            raise InvalidRequestError(S256_ONLY)
        if request.client.is_public and not challenge:
            raise InvalidRequestError("Public clients must use PKCE with S256 ('code_challenge')")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.row.code_challenge_method
