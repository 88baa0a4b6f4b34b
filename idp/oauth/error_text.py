"""Protocol error descriptions that RFC 6749 allows, made in one place.

RFC 6749 4.1.2.1 and 5.2: ``error_description`` holds only %x20-21 / %x23-5B / %x5D-7E (printable
ASCII without ``"`` and ``\\``). Authlib's ``OAuth2Error`` refuses anything else by raising
``ValueError``, and many of its errors echo a request parameter (``response_type=%09``, a
``redirect_uri`` holding ``"``, ``store=é``): that became a 500 with a logged traceback (issue 12).
So every ``OAuth2Error``, ours and Authlib's, gets its description through ``safe_description``,
as does every error JSON of the protocol endpoints: forbidden characters become ``?`` (``"`` a
``'``), and an echoed value cannot make it longer than ``MAX_DESCRIPTION``."""

from __future__ import annotations

from authlib.oauth2.base import OAuth2Error

from idp.defaults import MAX_ERROR_DESCRIPTION
from idp.i18n import english

MAX_DESCRIPTION = MAX_ERROR_DESCRIPTION


def _allowed(char: str) -> bool:
    code = ord(char)
    return 0x20 <= code <= 0x7E and char not in '"\\'


def safe_description(text: str | None) -> str | None:
    """``text`` in RFC 6749's error character set, at most ``MAX_DESCRIPTION`` long."""
    if not text:
        return text
    text = english(text)  # a lazy message of a service, in English whatever the page's language
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 3] + "..."
    if all(_allowed(char) for char in text):
        return text
    return "".join(
        char if _allowed(char) else ("'" if char == '"' else "/" if char == "\\" else "?")
        for char in text
    )


_authlib_init = OAuth2Error.__init__


def _init(self, description=None, *args, **kwargs) -> None:
    _authlib_init(self, safe_description(description), *args, **kwargs)


def install() -> None:
    """Make every ``OAuth2Error`` sanitize its description (once per process)."""
    if OAuth2Error.__init__ is not _init:
        OAuth2Error.__init__ = _init
