"""Domain errors. Services raise them; one place (``idp.web.errors``) renders them.

Each carries a stable machine code (used in API JSON and tests) and a message a person can act on.
The message is a lazy gettext string (``idp.i18n._l``): a page shows it in the page's language,
while JSON answers (protocol endpoints, the API) show it in English (``idp.i18n.english``).
"""

from __future__ import annotations


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
