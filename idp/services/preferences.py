"""An account's own language and time zone (issue 13): the language of its pages (when it has not
chosen on the page itself) and of its emails, and the zone its dates are shown in. Set on the
preferences page, and by the language switcher of every page while signed in."""

from __future__ import annotations

from idp import i18n
from idp.errors import InvalidInput
from idp.i18n import _l
from idp.models import Account
from idp.services import audit
from idp.services.tx import transaction

# Where sellers on our marketplaces work; any other IANA zone is accepted too.
COMMON_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Kuala_Lumpur",
    "Asia/Jakarta",
    "Asia/Bangkok",
    "Asia/Ho_Chi_Minh",
    "Asia/Manila",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)


@transaction
def set_preferences(account: Account, *, language: str, timezone: str) -> Account:
    """``language``: a locale id or tag of an available catalog, or empty to follow the browser
    (emails then follow the company); ``timezone``: an IANA zone, or empty for the company's.
    Audited."""
    locale = i18n.match(language) if language else None
    if language and locale is None:
        raise InvalidInput(_l("Choose one of the languages offered"), field="language")
    zone = (timezone or "").strip()
    if zone and zone not in i18n.zones():
        raise InvalidInput(
            _l("'%(zone)s' is not a time zone (for example Asia/Shanghai)", zone=zone[:60]),
            field="timezone",
        )
    return _save(account, locale, zone or None)


@transaction
def choose_language(account: Account, language: str) -> Account:
    """The language switcher of every page, used signed in: the language becomes the
    account's, as if chosen on the preferences page, so that its emails and its pages on
    other browsers speak it too; its time zone stays. A language it has already changes and
    records nothing."""
    locale = i18n.match(language)
    if locale is None:
        raise InvalidInput(_l("Choose one of the languages offered"), field="language")
    if locale == account.language:
        return account
    return _save(account, locale, account.timezone)


def _save(account: Account, language: str | None, timezone: str | None) -> Account:
    before = {"language": account.language, "timezone": account.timezone}
    account.language, account.timezone = language, timezone
    audit.record(
        account,
        "account.preferences_changed",
        company_id=account.company_id,
        target=account,
        before=before,
        after={"language": account.language, "timezone": account.timezone},
    )
    return account
