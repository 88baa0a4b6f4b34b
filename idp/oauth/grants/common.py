"""What the grants share: the client authentication methods of the token endpoint, and the one
answer to ``Outcome.CLIENT_CHANGED``."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidClientError

from idp.errors import ClientChanged

CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]


def client_changed(request) -> None:
    """A token statement found the client changed (or disabled) since it authenticated.

    When the client was taken from the process's own copy (``request.process_clients``, set by
    the token endpoint for the grants that record with ``token_store``), the endpoint answers
    the request once more with the client read anew (``idp.web.direct.token``): raise
    ``ClientChanged`` for it. Read anew and changed again, the client is told to try again."""
    if getattr(request, "process_clients", False):
        raise ClientChanged
    raise InvalidClientError(description="The client was changed or disabled; try again")
