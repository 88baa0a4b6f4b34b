"""R21: who an account's personal information is visible to, and what each app is released.

One rule, here: an account's level (``Account.privacy``) allows some client tiers
(``Client.tier``); a client of a tier the level does not allow gets none of the profile claims
(:data:`PERSONAL_CLAIMS`), in its ID token, from userinfo or in its access token. The claims
that apps need to work (company, account type, roles, permissions, stores, store, groups,
muted, and the login name) are never withheld by the level: first-party apps always get them,
and third parties as their scopes say (``idp.oauth.claims``).

The level is read with the cached claims (``idp.oauth.claims.PROFILE_CLAIMS`` and ``USERINFO``
declare it), so a change is seen by the next token and userinfo answer, with no query of its
own."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from idp.errors import InvalidInput
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Client, Consent
from idp.models.accounts import (
    PRIVACY_ALL_APPS,
    PRIVACY_LEVELS,
    PRIVACY_NO_APP,
    PRIVACY_PARTNER_APPS,
)
from idp.models.oauth import FIRST_PARTY, THIRD_PARTY, TIERS, VERIFIED_PARTNER
from idp.services import audit
from idp.services.tx import transaction

# The profile claims (SPEC R20, R21), each with the claim that qualifies it. ``picture`` is
# named here before its builder exists (issue 17's avatars): whatever adds it is covered.
PERSONAL_CLAIMS = frozenset(
    {
        "name",
        "gender",
        "picture",
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
    }
)

# Which tiers each level releases the profile claims to. "No app" means none at all, the
# company's own apps included: they still get what they need to work.
ALLOWED_TIERS = {
    PRIVACY_ALL_APPS: frozenset(TIERS),
    PRIVACY_PARTNER_APPS: frozenset({FIRST_PARTY, VERIFIED_PARTNER}),
    PRIVACY_NO_APP: frozenset(),
}

# What the account centre and the consent screen call levels and tiers.
LEVEL_LABELS = {
    PRIVACY_ALL_APPS: _l("All apps"),
    PRIVACY_PARTNER_APPS: _l("Verified partner apps only"),
    PRIVACY_NO_APP: _l("No app"),
}
LEVEL_HINTS = {
    PRIVACY_ALL_APPS: _l(
        "Your company's apps, verified partners and other apps you approve may see your "
        "personal information. Apps outside your company still ask you first."
    ),
    PRIVACY_PARTNER_APPS: _l(
        "Only your company's apps and partner apps verified by the operators may see it. Other "
        "apps do not get it, even if you approve them."
    ),
    PRIVACY_NO_APP: _l(
        "No app gets your personal information, not even your company's own apps. They still "
        "see your login name, company, roles and stores, which they need to work."
    ),
}
TIER_LABELS = {
    FIRST_PARTY: _l("Your company's apps"),
    VERIFIED_PARTNER: _l("Verified partner apps"),
    THIRD_PARTY: _l("Other third-party apps"),
}
TIER_HINTS = {
    FIRST_PARTY: _l("Seller centers and consoles run for your company. They never ask you."),
    VERIFIED_PARTNER: _l(
        "Apps of other firms that the operators have checked. They ask for your approval."
    ),
    THIRD_PARTY: _l("Any other app. It asks for your approval."),
}


def allows(level: str, tier: str | None) -> bool:
    """Whether an account at ``level`` releases its profile claims to a client of ``tier``.
    "All apps" releases to any client; otherwise an unknown level or tier (None included)
    releases nothing."""
    return level == PRIVACY_ALL_APPS or tier in ALLOWED_TIERS.get(level, frozenset())


def tier_matters(level: str) -> bool:
    """Whether what ``level`` releases depends on the client's tier (not for "all apps" nor
    "no app"): the hot paths look the tier up only then."""
    return level in ALLOWED_TIERS and 0 < len(ALLOWED_TIERS[level]) < len(TIERS)


def lowest(*tiers: str | None) -> str | None:
    """The least trusted of ``tiers`` (a token meant for one app and held by another is
    released what both may see); None when any is unknown."""
    try:
        return TIERS[max(TIERS.index(tier) for tier in tiers)]
    except ValueError:
        return None


def release(claims: dict, level: str, tier: str | None) -> dict:
    """``claims`` without the profile claims unless ``level`` allows ``tier``."""
    if allows(level, tier):
        return claims
    return {name: value for name, value in claims.items() if name not in PERSONAL_CLAIMS}


def release_text(text: str, level: str, tier: str | None) -> str:
    """:func:`release` on a JSON object's text (the userinfo answer), untouched when all of it
    may go: the hot path parses nothing then."""
    if allows(level, tier):
        return text
    return json.dumps(release(json.loads(text), level, tier), separators=(",", ":"))


# One app's kind, as its consent screen says it.
TIER_NAMES = {
    FIRST_PARTY: _l("Your company's app"),
    VERIFIED_PARTNER: _l("Verified partner"),
    THIRD_PARTY: _l("Third-party app, not verified"),
}


@dataclass(frozen=True)
class Shown:
    """One line of a consent screen: what the app would get, and whether it will (R21)."""

    text: str
    scope: str
    shared: bool = True
    personal: bool = False


def shown_on_consent(level: str, tier: str, scope: str) -> list[Shown]:
    """What a consent screen lists for an app of ``tier`` asking for ``scope``, for an account
    at ``level``: the scopes as the app gets them, the profile claims marked withheld when the
    level keeps them from it (the claims are released as ``release`` says: this only shows
    it)."""
    from idp.oauth.config import SCOPES

    released = allows(level, tier)
    shown: list[Shown] = []
    for name in dict.fromkeys(scope.split()):
        if name == "profile":
            shown.append(
                Shown(_l("Your login name, company, account type, roles and stores"), name)
            )
            shown.append(Shown(_l("Your name, gender and photo"), name, released, True))
        elif name == "email":
            shown.append(Shown(_l("Your email address"), name, released, True))
        elif name == "phone":
            shown.append(Shown(_l("Your mobile number"), name, released, True))
        else:
            shown.append(Shown(SCOPES.get(name, name), name))
    return shown


def apps_of(account: Account) -> list[Client]:
    """The apps the account uses, to show what each gets: those it can open from the start
    page and those it approved, enabled, by name."""
    from idp.oauth.clients import apps_for

    approved = db.session.scalars(
        select(Client)
        .join(Consent, Consent.client_id == Client.id)
        .where(Consent.account_id == account.id, Client.disabled.is_(False))
    ).all()
    found = {app.id: app for app in [*apps_for(account), *approved]}
    return sorted(found.values(), key=lambda app: app.name.casefold())


@transaction
def set_level(account: Account, level: str) -> Account:
    """The account's own choice (the account centre's privacy page). Audited."""
    if level not in PRIVACY_LEVELS:
        raise InvalidInput(_l("Choose one of the levels offered"), field="privacy")
    if level != account.privacy:
        before, account.privacy = account.privacy, level
        audit.record(
            account,
            "account.privacy_changed",
            company_id=account.company_id,
            target=account,
            before=before,
            after=level,
        )
    return account
