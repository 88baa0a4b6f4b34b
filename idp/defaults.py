"""Every lifetime and limit of the provider, in one place: the value, its unit, and why.

In the spirit of node-oidc-provider's ``lib/helpers/defaults.js``. Modules import what they use
from here; nothing else defines a TTL or a limit. Settings an operator changes per deployment
(the sub-account plan, proxies, SMTP) are ``IDP_*`` variables (``idp.settings``); these are the
product's rules and the protocol's, changed in code with their tests."""

from __future__ import annotations

from datetime import timedelta

# Row ids are 32-bit integers on every engine (migration 0001): a larger number names no row, and
# PostgreSQL refuses to compare one with an int4 column ("integer out of range", a 500), so a
# number from a request is checked against this before it reaches a query.
MAX_ROW_ID = 2**31 - 1

# --- tokens and sessions (seconds) ----------------------------------------------------------------

# RFC 9068 JWT access tokens: short, because a resource server that does not introspect trusts
# one until it expires (revocation reaches introspection and userinfo at once regardless).
ACCESS_TOKEN_TTL = 900
# ID tokens: read once by the app at sign-in; an hour covers clock skew and slow apps.
ID_TOKEN_TTL = 3600
# Authorization codes: redeemed by the app's back end within seconds; single use (RFC 6749 4.1.2
# recommends at most 10 minutes).
CODE_TTL = 60
# The SSO session a browser signs in with; "online" refresh tokens end with it.
SESSION_TTL = 12 * 3600
# Refresh tokens granted with offline_access: a month of not signing in again.
OFFLINE_REFRESH_TTL = 30 * 24 * 3600
# Old signing keys stay in the JWKS this long after a rotation: longer than any JWT they signed.
KEY_RETIRE_AFTER = max(ACCESS_TOKEN_TTL, ID_TOKEN_TTL) + 300
# A process re-reads which signing keys exist this often (another instance may have rotated).
KEY_REFRESH_SECONDS = 30
# A used nonce is refused for a day (OIDC Core 3.1.2.1 replay); ID tokens live an hour.
NONCE_TTL = 24 * 3600
# A used code's single-use marker outlives the code: were it gone first, the database alone would
# decide (it still does, a round trip later).
CODE_MARKER_TTL = CODE_TTL + 30
# Signatures this process verified lately, remembered (not revocation: that is always read).
VERIFIED_MEMO_SIZE = 20_000
VERIFIED_MEMO_SECONDS = 60

# --- the shared store (seconds) -------------------------------------------------------------------

# A cached client row; any change drops it at once anyway.
CLIENT_CACHE_TTL = 300
# A changed row's cache entry is held (read from the database) this long after the change.
HOLD_TTL = 30
# A client id that does not exist is remembered this long (until one is registered).
UNKNOWN_CLIENT_TTL = 30
# Cached claims and userinfo answers; a change to what they are made of starts a new generation.
CLAIMS_TTL = 300
# How long a claims generation key lives in Redis when nothing renews it.
GENERATION_TTL = 86400
# A disabled client's or account's marker: all of its access tokens have expired by then.
OFF_MARKER_TTL = ACCESS_TOKEN_TTL + 60
# The "markers are complete" sentinel: when it lapses the markers are rebuilt once (harmless).
MARKERS_READY_TTL = 7 * 86400
# The rebuild lock: a rebuilder that died frees it by then.
REBUILD_LOCK_TTL = 30
# A request that meets another's rebuild waits this long, then judges from the database.
REBUILD_WAIT = 3.0
REBUILD_POLL = 0.02
# A cached SSO session row (never past the session's own end).
SESSION_CACHE_TTL = 300
# The sessions page's "last seen" (issue 17) is written at most this often per session: a
# minute's precision is all a person reading it needs, and pages must not write on every request.
SESSION_SEEN_EVERY = 60
# The device cookie that tells a known device from a new one (the "new sign-in" notice, R22):
# two years, so a person's own laptop stays known across many sessions.
DEVICE_COOKIE_AGE = 2 * 365 * 24 * 3600

# --- sign-in protection ---

# At most LOCK_AFTER wrong guesses per login name per THROTTLE_WINDOW, from any addresses: then the
# name is locked for LOCK_SECONDS. A name from one address waits 2**(n - DELAY_AFTER) s (at most
# MAX_DELAY_SECONDS) after its DELAY_AFTER-th failure there.
THROTTLE_WINDOW = 15 * 60
DELAY_AFTER = 3
MAX_DELAY_SECONDS = 60
LOCK_AFTER = 10
LOCK_SECONDS = 15 * 60
# The password step passed, the second factor due: the browser has this long to give the code.
SECOND_FACTOR_PENDING = 300
# A second factor being set up: after this long without a code the set-up counts as abandoned.
ENROLMENT_TTL = 30 * 60
# TOTP (RFC 6238): 30-second steps, one on either side accepted (clock drift). A step's marker
# lives a step longer than the code is accepted.
TOTP_STEP_SECONDS = 30
TOTP_VALID_WINDOW = 1
TOTP_STEP_MARKER_TTL = (2 * TOTP_VALID_WINDOW + 2) * TOTP_STEP_SECONDS
RECOVERY_CODE_COUNT = 10
# A used recovery code stays used in the database; its marker only has to outlive a racing use.
RECOVERY_MARKER_TTL = 3600
# Passkeys (WebAuthn): a ceremony's challenge lives in the shared store this long (seconds), so
# that any instance can finish it, and works once. WebAuthn's recommended ceremony timeout is
# 300 s for user verification (Level 3, 15.1); the browser is told the same in milliseconds.
WEBAUTHN_CHALLENGE_TTL = 300
# A used challenge's single-use marker outlives the challenge itself.
WEBAUTHN_USED_MARKER_TTL = WEBAUTHN_CHALLENGE_TTL + 60
# Passkeys per account: a phone, a laptop, a security key or two, with room to spare; the list
# stays one screen, and the excluded-credentials list sent at each registration stays small.
MAX_PASSKEYS = 20
MAX_PASSKEY_NAME = 60  # characters (the passkeys.name column)
# A credential as the browser sends it (JSON: an attestation with a certificate chain is a few KB).
MAX_WEBAUTHN_RESPONSE = 64 * 1024
# Passwords: a floor for people, a ceiling for the hashing cost of hostile input (characters).
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256
# argon2id at OWASP's (7 MiB, t=5, p=1): as strong as (19 MiB, t=2), a quarter faster to verify.
ARGON2_TIME_COST, ARGON2_MEMORY_KIB = 5, 7 * 1024

# --- emailed links and codes ----------------------------------------------------------------------

ACTIVATION_LINK_TTL = timedelta(hours=72)  # R13
PASSWORD_RESET_LINK_TTL = timedelta(hours=1)  # R17
LINK_RESEND_INTERVAL = timedelta(seconds=60)  # one link a minute per account and purpose
MAX_LINK_TOKEN_LENGTH = 512  # characters: longer is damaged or hostile
VERIFICATION_CODE_DIGITS = 6  # R14
VERIFICATION_CODE_TTL = timedelta(minutes=10)
VERIFICATION_MAX_ATTEMPTS = 5  # per code
VERIFICATION_RESEND_INTERVAL = timedelta(seconds=60)
VERIFICATION_RESEND_WINDOW = timedelta(hours=1)
VERIFICATION_RESEND_PER_WINDOW = 5
# Pages that send email or create accounts: per client address and hour.
PAGE_IP_LIMITS = {"register": 20, "forgot": 20}
PAGE_IP_WINDOW = 3600  # seconds

# --- the wallet (R15) -----------------------------------------------------------------------------

WALLET_MAX_FAILURES = 5  # wrong wallet passwords in a row lock every store's money operations
WALLET_LOCK_SECONDS = 15 * 60

# --- delivery to other servers --------------------------------------------------------------------

OUTBOX_MAX_ATTEMPTS = 10  # email and SMS, with exponential backoff up to 30 minutes
OUTBOX_LEASE_SECONDS = 120  # a row being sent by one instance is not sent by another
OUTBOX_MAX_DELAY = 1800  # seconds between attempts at most
LOGOUT_MAX_ATTEMPTS = 8  # back-channel logout tokens
LOGOUT_LEASE_SECONDS = 60
LOGOUT_MAX_DELAY = 3600  # seconds between attempts at most
LOGOUT_POST_TIMEOUT = 5  # seconds an app's back-channel endpoint has to answer

# --- input bounds ---------------------------------------------------------------------------------

# The machine endpoints: token and introspection requests are a few hundred bytes.
MAX_PROTOCOL_BODY = 64 * 1024
MAX_PROTOCOL_FIELDS = 50
# Pages and the JSON API (avatars, issue 17, are the largest thing anyone sends).
MAX_CONTENT_LENGTH = 4 * 1024 * 1024
# An error description echoes parameters of any length (characters).
MAX_ERROR_DESCRIPTION = 300
# A "next" longer than this is dropped: never echoed into a Location (characters).
MAX_NEXT = 4096
# A form field longer than this is cut; the services say what is wrong with it (characters).
MAX_FORM_FIELD = 300
MAX_CLAIMS_REQUEST = 2048  # the OIDC claims parameter (characters)
# The longest value the authorization endpoint takes for each parameter it stores or echoes (into
# the redirect's Location, the sign-in page's link back). Longer is refused with invalid_request.
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
    "claims": MAX_CLAIMS_REQUEST,
    "acr_values": 200,
    "display": 20,
    "id_token_hint": 8192,
}
MAX_CLIENT_URIS = 20  # redirect and logout URIs per client
MAX_CLIENT_NAME = 120  # characters: the clients.name column

# --- the company's data ---------------------------------------------------------------------------

MAX_NAME_LENGTH = 30  # company and sub-names (R1), characters
MAX_NICKNAME = 60  # characters
MAX_NOTES = 1000  # characters
MAX_CUSTOM_ROLES = 30  # per company
MAX_BATCH = 500  # sub-accounts in one batch store assignment (R11)
MAX_LISTED_STAFF = 2000  # the console's staff list at once
AUDIT_PAGE_SIZE = 50  # entries per page of the console's log
AUDIT_EXPORT_BATCH = 1000  # rows per query of the exports: memory stays flat whatever the total
PLAN_LIMITS = {"standard": 99, "basic": 5}  # R2: sub-accounts per plan
# Issue 16: a company's own API clients (an ERP, an HR tool, a few scripts) in use at once; each
# holds a company:admin secret, so a company that needs more should be sharing them less, and a
# list this long is one screen to review. Revoked clients do not count.
MAX_API_CLIENTS = 20

# --- avatars (R20, issue 17) ---------------------------------------------------------------------

# R20: an avatar is a JPEG of at most 3 MB (bytes, 3 × 2**20), counted while it is read.
AVATAR_MAX_BYTES = 3 * 1024 * 1024
# The upload form's request may be this much larger than the photo (multipart boundaries and
# headers, the CSRF token): the route's body limit, so a larger body is never read at all.
AVATAR_FORM_OVERHEAD = 64 * 1024
# Pixels (width × height) beyond which a JPEG is a decompression bomb: a few kilobytes that
# would decode to gigabytes. 50 MP covers the largest phone and camera photos (8160 × 6120).
# Pillow's own check (Image.MAX_IMAGE_PIXELS, 89 MP) is set to this while decoding.
AVATAR_MAX_PIXELS = 50_000_000
# A side longer than this (pixels) is no photo of a person (a strip, a panorama, a crafted
# header); a side shorter than the minimum is too small to show at the smallest size.
AVATAR_MAX_SIDE = 8_192
AVATAR_MIN_SIDE = 32
# The square copies stored and served (pixels): the profile card and apps' headers (512), the
# console's lists and apps' lists (128). The first is the default size of the ``picture`` URL.
AVATAR_SIZES = (512, 128)
AVATAR_JPEG_QUALITY = 85  # the copies: a 512 px photo is about 40 KB
# How long browsers and proxies keep a served avatar (seconds). A photo's URL never changes its
# content (a new photo gets a new id); a replaced one stops being served, and caches let it go
# within the hour.
AVATAR_CACHE_SECONDS = 3600
AVATAR_REASON_MAX = 300  # characters of a rejection's reason, shown to the person and emailed
AVATAR_QUEUE_MAX = 200  # photos on the owner's review page at once (oldest first)
# Photos one account may send per window (an hour, seconds), counted in the shared store before
# Pillow decodes anything: decoding costs CPU, and a script with one session must not keep the
# instances busy. Ten covers trying a few photos and crops; every attempt counts, refused or not.
AVATAR_UPLOADS_PER_WINDOW = 10
AVATAR_UPLOAD_WINDOW = 3600

# --- cookies (seconds) ----------------------------------------------------------------------------

LANG_COOKIE_AGE = 365 * 86400
HSTS_MAX_AGE = 365 * 86400

# --- the admin API (issue 16) ---------------------------------------------------------------------

# Calls per client (or per owner token's client) and window: a company's ERP syncing staff makes a
# few per second at most; more is a loop gone wrong, and it must not slow the other companies.
API_RATE_LIMIT = 600
API_RATE_WINDOW = 60  # seconds (a fixed window in the shared store; 429 says how long is left)
# An Idempotency-Key's first answer is replayed for a day (a client retrying after a network
# failure does so within minutes; Stripe's and the IETF draft's common choice is 24 h).
IDEMPOTENCY_TTL = 24 * 3600
# The first use of a key holds it while it is answered; a worker that died frees it by then.
IDEMPOTENCY_LOCK_TTL = 60
IDEMPOTENCY_KEY_MAX = 255  # characters of an Idempotency-Key
API_PAGE_SIZE = 50  # items per page of the admin API's lists by default
API_MAX_PAGE_SIZE = 200  # and at most
API_MAX_BODY = 64 * 1024  # bytes: a batch of 500 staff ids and 50 stores is about 30 KB

# --- notification routing and the events intake (R25, issue 18) -----------------------------------

# An event's payload, as compact JSON: what an email shows (a product, an order, a short reason),
# not a document; a larger one is an app sending what it should link to, and every byte of it is
# copied into each recipient's email.
EVENT_PAYLOAD_MAX = 2048  # bytes
EVENT_PAYLOAD_FIELDS = 20  # top-level fields shown in an email
EVENT_ID_MAX = 128  # characters of an app's event id (a UUID is 36)
# Named recipients of one kind: a kind that needs more people is a staff group's job (R23).
MAX_ROUTE_ACCOUNTS = 20
EVENTS_MAX_BODY = 8 * 1024  # bytes of an intake request: the payload and a few short fields

# --- SCIM 2.0 provisioning (issue 19) ------------------------------------------------------
SCIM_MAX_PAGE = 200  # resources per list page (RFC 7644 3.4.2.4 lets us cap ``count``)
SCIM_MAX_BULK_OPERATIONS = 100  # one HR sync of a department at once; each is a transaction
SCIM_MAX_PAYLOAD = 1024 * 1024  # bytes: 100 operations of a user each fit well within it
# A SCIM resource nests three levels (a user, its extension, a name's parts); a bulk request's
# four more. Deeper JSON is refused before anything walks it (a recursion would end in a 500).
SCIM_MAX_DEPTH = 32
# Calls per client and minute: an identity platform's first sync of a company sends a burst (a
# GET and a POST or PATCH per person and group), well past the admin API's 600.
SCIM_RATE_LIMIT = 3000
# Random bytes of a SCIM client's long-lived bearer token (256 bits, base64url after "scim_"):
# Entra ID and Okta keep it for months, so it must not be guessable in that time or ever.
SCIM_TOKEN_BYTES = 32
# The console's "last call" of a SCIM client is written at most this often per client (seconds):
# a minute's precision tells an owner the platform is connected, and a first sync's burst of
# thousands of calls costs one UPDATE a minute, not one per call.
SCIM_LAST_CALL_EVERY = 60
# --- inquiry allocation (R24, issue 18) -----------------------------------------------------------

# A chat app's heartbeat keeps a member online this long (IDP_PRESENCE_TTL overrides it, seconds):
# three missed 30-second heartbeats, so one lost request never takes a member out of the rotation.
PRESENCE_TTL = 90
# An inquiry's answer is kept this long: a customer who writes again within the week reaches the
# same person while they stay eligible (a longer conversation is the chat platform's own memory).
INQUIRY_STICKY_TTL = 7 * 86400
# The rotation's state per store and group; renewed by every allocation.
ROTATION_TTL = 30 * 86400
# Per-staff allocation counts per day are kept this long; the console shows the last week.
ALLOCATION_COUNT_DAYS = 35
ALLOCATION_DAYS_SHOWN = 7
# A sub-account's weight: 1 (the default) to 10; a heavier one is a rule gone wrong.
MAX_INQUIRY_WEIGHT = 10
# An inquiry id is the chat platform's (a UUID, a conversation id): characters.
MAX_INQUIRY_ID = 128
