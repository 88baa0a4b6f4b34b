"""Lifetimes and protocol constants. One place, so discovery and behaviour cannot disagree."""

from idp.i18n import _l

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
    "openid": _l("Sign you in"),
    "profile": _l("Your name, login name, company, roles and stores"),
    "email": _l("Your email address"),
    "phone": _l("Your phone number"),
    "offline_access": _l("Stay signed in to the app (long-lived refresh token)"),
    "chat:read": _l("Read your conversations with customers"),
    # R14: messaging scopes, never granted to a muted (unverified) sub-account.
    "chat:send": _l("Send chat messages to customers on your behalf"),
    "messages:send": _l("Send messages to customers on your behalf"),
    # R15: for the wallet service (client credentials): check a company's wallet password.
    "wallet:verify": _l("Check wallet passwords for a company's stores"),
}
SESSION_COOKIE = "idp_sso"

# The longest value the authorization endpoint takes for each parameter it stores or echoes
# (into the redirect's Location, the sign-in page's link back). Longer is refused with
# invalid_request (issue 12: a nonce over 255 characters was a 500; a 70 KB state went into the
# Location header). Documented in the README.
AUTHORIZE_PARAM_LIMITS = {
    "state": 1024,
    "nonce": 255,
    "client_id": 64,
    "redirect_uri": 500,
    "scope": 1000,
    "response_type": 40,
    "response_mode": 40,
    "code_challenge": 128,
    "code_challenge_method": 8,
    "prompt": 60,
    "max_age": 12,
    "login_hint": 254,
    "ui_locales": 100,
    "store": 64,
    "claims": 2048,
    "acr_values": 200,
    "display": 20,
    "id_token_hint": 8192,
}
