"""Domain errors. Services raise them; one place (``idp.web.errors``) renders them.

Each carries a stable machine code (used in API JSON and tests) and a message a person can act on.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "invalid_request"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.code, "error_description": self.message}
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
