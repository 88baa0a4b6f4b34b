"""Domain errors. Services raise them; one place (``idp.web.errors``) renders them.

Each carries a stable machine code (used in API JSON and tests) and a message a person can act on.
The message is a lazy gettext string (``idp.i18n._l``): a page shows it in the page's language,
while JSON answers (protocol endpoints, the API) show it in English (``idp.i18n.english``).
"""

from __future__ import annotations

from datetime import datetime

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask_babel import lazy_ngettext

from idp.i18n import Moment, _l, wait_for


class DomainError(Exception):
    code = "invalid_request"
    status = 400

    def __init__(self, message, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message  # str, or a lazy gettext string
        self.field = field

    def __str__(self) -> str:
        return str(self.message)

    def to_dict(self) -> dict[str, str]:
        from idp.i18n import english

        body = {"error": self.code, "error_description": english(self.message)}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(DomainError):
    """Malformed or out-of-range input (a bad name, an unknown permission, …)."""

    code = "invalid_input"


class NotFound(DomainError):
    """Also raised for objects of another company: a tenant never learns they exist."""

    code = "not_found"
    status = 404


class Forbidden(DomainError):
    """The actor may not do this (R6: main-only capabilities; owner-only operations)."""

    code = "forbidden"
    status = 403


class Conflict(DomainError):
    """Taken names, emails or phones (R1, R3), or a state that does not allow the change."""

    code = "conflict"
    status = 409


class LimitReached(DomainError):
    """A plan limit: sub-accounts (R2), custom roles."""

    code = "limit_reached"
    status = 409


class AuthenticationFailed(DomainError):
    """Wrong login name or password: one message for both, so names cannot be probed."""

    code = "authentication_failed"
    status = 401


class Unavailable(DomainError):
    """A moment's unavailability (shared state being rebuilt): retry shortly."""

    code = "temporarily_unavailable"
    status = 503


# --- sign-in and credentials ---------------------------------------------------------------------


class AccountDisabled(AuthenticationFailed):
    """A departed sub-account (R4) signs in: said plainly, the password being right."""

    code = "account_disabled"
    status = 403


class AccountNotActivated(AuthenticationFailed):
    """R13: an account that was never activated cannot sign in, and says why."""

    code = "account_not_activated"
    status = 403


class Throttled(DomainError):
    """Too many failed sign-ins for this login name, or from this address for it. The message
    depends only on the wait, never on whether the account exists."""

    code = "temporarily_locked"
    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            _l("Too many failed sign-ins. Try again in %(wait)s.", wait=wait_for(self.retry_after))
        )


class StepUpThrottled(DomainError):
    """Too many wrong passwords or codes when setting the wallet password: a stolen sign-in
    session must not become a way to guess the login password."""

    code = "temporarily_locked"
    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            _l(
                "Too many wrong passwords or codes. Try again in %(wait)s.",
                wait=wait_for(self.retry_after),
            )
        )


class EditConflict(Conflict):
    """The record changed since the form (or the API client) read it: nothing is overwritten."""

    code = "edit_conflict"


# --- links and codes ------------------------------------------------------------------------


class LinkRefused(DomainError):
    """A link that does not work (any more). ``reason`` says why: ``invalid`` (not ours, or
    damaged), ``expired``, ``used`` or ``replaced`` (a newer link was sent); ``purpose`` names
    the kind of link; ``account`` is set when the link named one, so that the page can offer a
    new link."""

    code = "link_refused"
    status = 410

    def __init__(self, message, *, purpose: str, reason: str, account=None) -> None:
        super().__init__(message)
        self.purpose = purpose
        self.reason = reason
        self.account = account
        if reason == "invalid":
            self.status = 400


class TooSoon(DomainError):
    """A link was sent to this account less than a minute ago."""

    code = "too_many_requests"
    status = 429


class UploadLimited(DomainError):
    """Too many photos sent by one account within the window (R20's uploads are decoded, which
    costs CPU); ``retry_after`` is in seconds, and the message says when."""

    code = "too_many_requests"
    status = 429

    def __init__(self, limit: int, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            _l(
                "You sent %(num)d photos within an hour, the most allowed. You can send "
                "another in %(wait)s.",
                num=limit,
                wait=wait_for(self.retry_after),
            ),
            field="photo",
        )


class CodeRefused(DomainError):
    """The code is wrong, expired, used up or replaced; the message says which and what next."""

    code = "invalid_code"
    status = 400


class ResendLimited(DomainError):
    """Too many codes asked for; ``retry_after`` is in seconds, and the message says when."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message, retry_after: int) -> None:
        super().__init__(message, field="channel")
        self.retry_after = retry_after


# --- stores and the wallet ------------------------------------------------------------------------


class StoreRefused(DomainError):
    """A store the account does not hold, or that the app does not serve (R26, R27)."""

    code = "access_denied"
    status = 403


class WalletLocked(DomainError):
    """R15: too many wrong wallet passwords; every check is refused until ``until``."""

    code = "wallet_locked"
    status = 423

    def __init__(self, until: datetime, failures: int) -> None:
        self.until = until
        super().__init__(
            lazy_ngettext(
                "The wallet is locked after %(num)d wrong wallet password until %(until)s",
                "The wallet is locked after %(num)d wrong wallet passwords until %(until)s",
                failures,
                until=Moment(until),
            )
        )


class WalletNotSet(Conflict):
    """The company's main account has not set a wallet password yet."""

    code = "wallet_not_set"


# --- the JSON API and bearer tokens -------------------------------------------------------------


class MalformedRequest(DomainError):
    """A request body that is not what the endpoint takes (not JSON, too large, wrong shape)."""

    code = "invalid_request"


class TooLarge(DomainError):
    """A request body over the endpoint's limit."""

    code = "invalid_request"
    status = 413


class BearerError(DomainError):
    """RFC 6750 3.1: the token is missing (no error code in the challenge), invalid or expired
    (401), or not good for this resource (403, ``insufficient_scope``). Answered with a
    ``WWW-Authenticate`` challenge (``idp.web.answers``)."""

    def __init__(self, code: str | None, message, status: int = 401, *, scope=None) -> None:
        super().__init__(message)
        self.challenge_code = code
        self.code = code or "invalid_request"
        self.status = status
        self.scope = scope


# --- the token endpoint -------------------------------------------------------------------------


class ClientChanged(Exception):
    """Internal: the client a token request authenticated with (a copy kept in the process) was
    changed or disabled before the token was recorded. The token endpoint answers the request
    once more with the client read anew; never shown to anyone."""


class InvalidTargetError(OAuth2Error):
    """RFC 8693 2.2.2: token exchange cannot issue a token for the named ``audience`` or
    ``resource``. An Authlib protocol error (Authlib renders it as OAuth error JSON)."""

    error = "invalid_target"


# --- the admin API (issue 16) -------------------------------------------------------------------


class PreconditionRequired(DomainError):
    """RFC 6585 3: a change to one resource must say which version it was made against
    (``If-Match``), so that it cannot overwrite a change it never saw."""

    code = "precondition_required"
    status = 428


class PreconditionFailed(DomainError):
    """RFC 9110 13.1.1: ``If-Match`` names a version that is no longer the current one."""

    code = "precondition_failed"
    status = 412


class IdempotencyKeyReused(DomainError):
    """An ``Idempotency-Key`` sent again with another request: it cannot be its replay."""

    code = "idempotency_key_reused"
    status = 422


class IdempotencyInProgress(DomainError):
    """The first request with this ``Idempotency-Key`` is still being answered."""

    code = "idempotency_in_progress"
    status = 409


class RateLimited(DomainError):
    """Too many admin API calls by one client within the window; ``retry_after`` in seconds."""

    code = "rate_limited"
    status = 429

    def __init__(self, message, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
