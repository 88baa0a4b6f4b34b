"""R1: login names. ``company`` or ``company:sub``; Unicode; compared after NFKC and case folding
(so a full-width colon ``：`` typed on a Chinese keyboard works like ``:``); the original spelling
is kept for display."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_ngettext

from idp.defaults import MAX_NAME_LENGTH
from idp.errors import InvalidInput
from idp.i18n import _l

RESERVED_SUB_NAMES = frozenset({"main"})
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize(text: str) -> str:
    """The comparison key of a name: NFKC, case folded, NFKC again (folding can denormalize)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _company_name_problem(problem: str, length: int = 0):
    """What is wrong with a company name, as one whole sentence."""
    if problem == "required":
        return _l("Company name is required")
    if problem == "white_space":
        return _l("Company name must not start or end with white space")
    if problem == "too_long":
        return lazy_ngettext(
            "Company name is %(num)d character long; the most is %(most)d",
            "Company name is %(num)d characters long; the most is %(most)d",
            length,
            most=MAX_NAME_LENGTH,
        )
    if problem == "invisible":
        return _l("Company name must not contain control or invisible characters")
    if problem == "colon":
        return _l("Company name must not contain a colon (':' or '：')")
    return _l("Company name must not be all digits")


def _sub_name_problem(problem: str, length: int = 0):
    """What is wrong with a sub-account name, as one whole sentence."""
    if problem == "required":
        return _l("Sub-account name is required")
    if problem == "white_space":
        return _l("Sub-account name must not start or end with white space")
    if problem == "too_long":
        return lazy_ngettext(
            "Sub-account name is %(num)d character long; the most is %(most)d",
            "Sub-account name is %(num)d characters long; the most is %(most)d",
            length,
            most=MAX_NAME_LENGTH,
        )
    if problem == "invisible":
        return _l("Sub-account name must not contain control or invisible characters")
    if problem == "colon":
        return _l("Sub-account name must not contain a colon (':' or '：')")
    return _l("Sub-account name must not be all digits")


def _check_name(value: str, problem_of, field: str) -> str:
    """``problem_of(problem, length)`` says what is wrong, for the kind of name checked."""
    if not isinstance(value, str) or value == "":
        raise InvalidInput(problem_of("required"), field=field)
    if value != value.strip():
        raise InvalidInput(problem_of("white_space"), field=field)
    display = unicodedata.normalize("NFKC", value)
    if len(display) > MAX_NAME_LENGTH:
        raise InvalidInput(problem_of("too_long", len(display)), field=field)
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in display):
        raise InvalidInput(problem_of("invisible"), field=field)
    if ":" in display:
        raise InvalidInput(problem_of("colon"), field=field)
    if display.isdigit():
        raise InvalidInput(problem_of("all_digits"), field=field)
    return value


def validate_company_name(value: str) -> str:
    return _check_name(value, _company_name_problem, "company_name")


def validate_sub_name(value: str) -> str:
    _check_name(value, _sub_name_problem, "name")
    if normalize(value) in RESERVED_SUB_NAMES:
        raise InvalidInput(
            _l("'%(name)s' is reserved for the main account", name=value), field="name"
        )
    return value


@dataclass(frozen=True)
class LoginName:
    company_key: str
    sub_key: str | None  # None for the main account


def parse_login_name(text: str) -> LoginName:
    """Split ``acme:alice`` / ``ACME：Alice`` into normalized keys. Raises InvalidInput."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(_l("Enter your login name"), field="login")
    if len(text) > 2 * MAX_NAME_LENGTH + 10:
        raise InvalidInput(_l("That login name is too long"), field="login")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs"} for ch in text):
        raise InvalidInput(_l("A login name has no control characters"), field="login")
    key = normalize(text.strip())
    company, sep, sub = key.partition(":")
    if not company or (sep and not sub) or ":" in sub:
        raise InvalidInput(
            _l("A login name is the company name, or company:name for staff"), field="login"
        )
    return LoginName(company_key=company, sub_key=sub if sep else None)


def is_email(value: str) -> bool:
    """Whether ``value`` (stripped) is taken as an email address: one ``@``, a dot in the
    domain, no spaces. Reserved domains (``.local``, ``.test``, ``.internal``) are company
    addresses too, so no stricter check (SCIM's schema uses this one)."""
    value = value.strip()
    return len(value) <= 254 and _EMAIL.match(value) is not None


def normalize_email(value: str | None) -> tuple[str | None, str | None]:
    """(display, key) for an email, or (None, None) when empty. R3 compares keys."""
    if value is None or not value.strip():
        return None, None
    value = value.strip()
    if not is_email(value):
        raise InvalidInput(
            _l("'%(email)s' is not an email address", email=value[:60]), field="email"
        )
    return value, normalize(value)


def normalize_phone(value: str | None) -> tuple[str | None, str | None]:
    """(display, key) for a phone number; the key keeps a leading + and the digits only."""
    if value is None or not value.strip():
        return None, None
    value = unicodedata.normalize("NFKC", value.strip())
    if not re.fullmatch(r"\+?[0-9][0-9 ()\-.]{4,30}", value):
        raise InvalidInput(
            _l(
                "'%(phone)s' is not a phone number (digits, optionally +country code)",
                phone=value[:40],
            ),
            field="phone",
        )
    digits = re.sub(r"\D", "", value)
    if not 6 <= len(digits) <= 15:
        raise InvalidInput(_l("A phone number has 6 to 15 digits"), field="phone")
    return value, ("+" if value.startswith("+") else "") + digits


def typed_code(code: str) -> str:
    """A one-time code as typed: full-width digits (CJK keyboards) made plain, and spaces or
    dashes in the middle dropped (TOTP, recovery and verification codes)."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", code))
