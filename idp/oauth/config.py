"""Protocol constants: one place, so discovery and behaviour cannot disagree. Lifetimes and limits
are in ``idp.defaults`` (re-exported here for the protocol modules)."""

from idp.defaults import (  # noqa: F401  (lifetimes: see idp.defaults)
    ACCESS_TOKEN_TTL,
    AUTHORIZE_PARAM_LIMITS,
    CODE_TTL,
    ID_TOKEN_TTL,
    KEY_RETIRE_AFTER,
    OFFLINE_REFRESH_TTL,
    SESSION_TTL,
)
from idp.i18n import _l

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
    # Issue 16: the company's admin API (/api/v1), for the owner's own tools and the company's
    # API clients. A token with it names the API in its audience (``tokens.api_audience``).
    "company:admin": _l("Manage your company's staff, stores, roles and audit log"),
    # R24: the chat platform's back end (client credentials) asks who answers an inquiry.
    "inquiries:allocate": _l("Allocate a company's customer inquiries to its online staff"),
}
ADMIN_SCOPE = "company:admin"
ALLOCATE_SCOPE = "inquiries:allocate"
PRESENCE_SCOPE = "chat:read"  # a chat app reports its signed-in staff (R24) with their token
API_PATH = "/api/v1"
SESSION_COOKIE = "idp_sso"
