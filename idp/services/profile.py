"""An account's own profile (R20, issue 17): its display name (the ``name`` claim) and gender,
changed by the account itself, main or sub. Its email and mobile change through a code sent to
the new address (``verification.send_change_code``); the owner edits staff (R18) through
``accounts.update_sub_account``, which checks gender with ``check_gender`` here, the one rule."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_ngettext

from idp.defaults import MAX_NICKNAME
from idp.errors import InvalidInput
from idp.i18n import _l
from idp.models import Account
from idp.services import audit
from idp.services.tx import transaction

# R20's gender, as OpenID Connect's ``gender`` claim spells it (Core 5.1: "female", "male", or
# another value). "undisclosed" records that the person chose not to say, which no app is told.
FEMALE, MALE, OTHER, UNDISCLOSED = "female", "male", "other", "undisclosed"
GENDERS = (FEMALE, MALE, OTHER, UNDISCLOSED)
GENDER_LABELS = {
    FEMALE: _l("Female"),
    MALE: _l("Male"),
    OTHER: _l("Another gender"),
    UNDISCLOSED: _l("Prefer not to say"),
}


def gender_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a form, with "not set" first."""
    return [("", str(_l("Not set")))] + [(g, str(GENDER_LABELS[g])) for g in GENDERS]


def check_gender(value: str | None) -> str | None:
    """One of ``GENDERS``, or None (empty: not set)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or value.strip() not in GENDERS:
        raise InvalidInput(_l("Choose a gender from the list"), field="gender")
    return value.strip()


def gender_claim(account: Account) -> str | None:
    """What the ``gender`` claim says: nothing for "prefer not to say" or none chosen."""
    return account.gender if account.gender and account.gender != UNDISCLOSED else None


def check_display_name(value: str | None) -> str | None:
    """The display name (the ``nickname`` column, the ``name`` claim): at most ``MAX_NICKNAME``
    characters, no control characters; empty means none (apps then see the login name)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NICKNAME:
        raise InvalidInput(
            lazy_ngettext(
                "Name has at most %(num)d character",
                "Name has at most %(num)d characters",
                MAX_NICKNAME,
            ),
            field="name",
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise InvalidInput(_l("The name contains characters that cannot be shown"), field="name")
    return value.strip() or None


@transaction
def update_profile(account: Account, *, name: str | None, gender: str | None) -> dict:
    """R20: the account's own display name and gender. Audited with what changed (nothing is
    recorded when nothing changed). Returns the changes."""
    name, gender = check_display_name(name), check_gender(gender)
    changes = {}
    if name != account.nickname:
        changes["nickname"] = {"before": account.nickname, "after": name}
        account.nickname = name
    if gender != account.gender:
        changes["gender"] = {"before": account.gender, "after": gender}
        account.gender = gender
    if changes:
        audit.record(
            account,
            "account.profile_changed",
            company_id=account.company_id,
            target=account,
            changes=changes,
        )
    return changes


@dataclass(frozen=True)
class Completeness:
    """How much of R20's profile the account filled in, for the overview."""

    done: int
    total: int
    missing: tuple[str, ...]  # labels of what is missing, translated when shown

    @property
    def complete(self) -> bool:
        return self.done == self.total


def completeness(account: Account) -> Completeness:
    """Name, gender, a verified email, a verified mobile."""
    parts = (
        (_l("name"), bool(account.nickname)),
        (_l("gender"), bool(account.gender)),
        (_l("verified email"), bool(account.email and account.email_verified_at)),
        (_l("verified mobile"), bool(account.phone and account.phone_verified_at)),
    )
    missing = tuple(label for label, present in parts if not present)
    return Completeness(len(parts) - len(missing), len(parts), missing)
