"""Lifetimes and protocol constants. One place, so discovery and behaviour cannot disagree."""

ACCESS_TOKEN_TTL = 900  # seconds; RFC 9068 JWT access tokens
ID_TOKEN_TTL = 3600
CODE_TTL = 60  # authorization codes: short-lived and single-use
SESSION_TTL = 12 * 3600  # SSO session; "online" refresh tokens die with it
OFFLINE_REFRESH_TTL = 30 * 24 * 3600  # refresh tokens granted with offline_access
# Old signing keys stay in the JWKS this long after rotation: longer than any JWT we sign lives.
KEY_RETIRE_AFTER = max(ACCESS_TOKEN_TTL, ID_TOKEN_TTL) + 300

SIGNING_ALGS = ("ES256", "RS256")
DEFAULT_ALG = "ES256"

SCOPES = {
    "openid": "Sign you in",
    "profile": "Your name, login name, company, roles and stores",
    "email": "Your email address",
    "phone": "Your phone number",
    "offline_access": "Stay signed in to the app (long-lived refresh token)",
}
SESSION_COOKIE = "idp_sso"
