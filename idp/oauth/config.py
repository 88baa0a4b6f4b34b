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
    # R25 (issue 18): a downstream app publishes events (client credentials) through the intake
    # API (/api/events), and the company's notification routing emails the right people.
    "events:publish": _l("Publish events about a company's stores, to be emailed to its staff"),
    # Issue 19: SCIM 2.0 provisioning (/scim/v2), for the company's HR system or identity
    # platform. A token with it names the SCIM service in its audience.
    "scim": _l("Keep your company's staff accounts and staff groups in step (SCIM)"),
    # R24: the chat platform's back end (client credentials) asks who answers an inquiry.
    "inquiries:allocate": _l("Allocate a company's customer inquiries to its online staff"),
}
ADMIN_SCOPE = "company:admin"
EVENTS_SCOPE = "events:publish"
ALLOCATE_SCOPE = "inquiries:allocate"
PRESENCE_SCOPE = "chat:read"  # a chat app reports its signed-in staff (R24) with their token
API_PATH = "/api/v1"
SCIM_SCOPE = "scim"
SCIM_PATH = "/scim/v2"
SESSION_COOKIE = "idp_sso"
# A long-lived random id of the browser: a sign-in from a device the account never used is told
# to the account ("new sign-in", R22). Only its hash is stored.
DEVICE_COOKIE = "idp_device"
