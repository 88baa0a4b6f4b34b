"""Languages and time zones of the pages and emails (Flask-Babel, gettext catalogs).

**Catalogs** live in ``idp/translations/<locale>/LC_MESSAGES/messages.po``: English is the source
language (its messages are the msgids) and Simplified Chinese is ``zh_Hans``. A third language is
one more catalog (``pybabel init -l zh_Hant``): it is offered as soon as its ``.po`` exists, and
announced in discovery once it is complete (no message missing or fuzzy). ``ensure_compiled``
compiles a ``.po`` whose ``.mo`` is missing or older, at start (``make run``, ``make test`` and
the container image also compile them).

**The language of a page**, first found in this order: the visitor's explicit choice on the page
(the switcher, kept in the ``idp_lang`` cookie), the ``ui_locales`` of the authorization request
being served (OIDC Core 3.1.2.1), the signed-in account's language, ``Accept-Language``, English.
Tags are matched by language and script: ``zh``, ``zh-CN``, ``zh-Hans`` and ``zh-SG`` are
Simplified Chinese; ``zh-TW`` and ``zh-Hant`` would be Traditional once its catalog exists (until
then Simplified).

**The language of an email** to an account: its own language, else (when the account itself
causes the email from a page, signed in) the language that page asks for, else its company's,
else English (``language_of``). The switcher, used signed in, saves the account's language.

**What is never translated:** protocol answers (OAuth error codes and every JSON
``error_description`` stay English, ``english``), and what people typed (company and sub-names,
nicknames, store names).

**Time zones:** dates and times are shown in the account's time zone, else its company's, else
UTC+8 (``Asia/Shanghai``) for a company whose language is Chinese, else UTC.
"""

from __future__ import annotations

import contextlib
import logging
import math
from contextvars import ContextVar
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.dates import format_time as babel_time
from babel.dates import format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, get_timezone, gettext, lazy_gettext
from werkzeug.exceptions import RequestEntityTooLarge

from idp.defaults import LANG_COOKIE_AGE  # noqa: F401  (the switcher's cookie)

log = logging.getLogger(__name__)

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DEFAULT_LOCALE = "en"
LANG_COOKIE = "idp_lang"
CHINESE_DEFAULT_ZONE = "Asia/Shanghai"  # UTC+8, no daylight saving
NATIVE_NAMES = {"en": "English", "zh_Hans": "简体中文", "zh_Hant": "繁體中文"}

_ = gettext
_l = lazy_gettext


# --- catalogs -------------------------------------------------------------------------------


def catalog_paths() -> dict[str, Path]:
    """The ``.po`` of every translated locale, by locale id."""
    return {
        po.parent.parent.name: po for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
    }


def ensure_compiled() -> None:
    """Compile each ``.po`` whose ``.mo`` is missing or older (a read-only install that shipped
    its ``.mo`` files is left as it is)."""
    for locale, po in catalog_paths().items():
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                catalog = read_po(source, locale=locale)
            with mo.open("wb") as target:
                write_mo(target, catalog)
        except OSError as exc:
            log.warning("could not compile the %s catalog: %s", locale, exc)


def is_complete(po: Path) -> bool:
    """Every message translated, none fuzzy."""
    with po.open("rb") as source:
        catalog = read_po(source)
    messages = [m for m in catalog if m.id]
    return bool(messages) and all(
        not m.fuzzy and (all(m.string) if isinstance(m.string, tuple | list) else bool(m.string))
        for m in messages
    )


def available() -> list[str]:
    """Locales a person can choose: English and every catalog."""
    return current_app.extensions["idp.locales"]


def ui_locales_supported() -> list[str]:
    """Discovery's ``ui_locales_supported``: BCP 47 tags of the complete languages."""
    return current_app.extensions["idp.complete_locales"]


def tag(locale: str) -> str:
    """``zh_Hans`` -> ``zh-Hans``: the BCP 47 form (HTML ``lang``, discovery)."""
    return locale.replace("_", "-")


# --- choosing -------------------------------------------------------------------------------


def match(requested: str | None) -> str | None:
    """The available locale for a language tag (BCP 47 or POSIX), or None."""
    if not requested or len(requested) > 35:
        return None
    try:
        wanted = Locale.parse(requested.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    locales = available()
    if wanted.language == "zh":
        script = wanted.script or ("Hant" if wanted.territory in ("TW", "HK", "MO") else "Hans")
        for candidate in (f"zh_{script}", "zh_Hans", "zh_Hant"):
            if candidate in locales:
                return candidate
        return None
    return wanted.language if wanted.language in locales else None


def first_match(tags: str | None) -> str | None:
    """The first available locale of a space-separated list (``ui_locales``)."""
    for requested in (tags or "").split()[:10]:
        if found := match(requested):
            return found
    return None


def _requested_ui_locales() -> str | None:
    """``ui_locales`` of the authorization request this page serves: a parameter of its own, or
    of the request it will go back to (the sign-in page's ``next``)."""
    try:
        direct = request.values.get("ui_locales")
        back = request.values.get("next") or ""
    except UnicodeDecodeError:  # a query string that is no UTF-8 (refused with a 400 anyway)
        return None
    except RequestEntityTooLarge:  # a body over the limit: its answer (413) is being rendered
        return None
    if direct:
        return direct[:100]
    if "ui_locales=" in back:
        values = parse_qs(urlsplit(back[:4096]).query).get("ui_locales")
        return values[0][:100] if values else None
    return None


def _account_language() -> str | None:
    from idp.web.sso import viewer_account

    account = viewer_account()
    return account.language if account is not None else None


def select_locale() -> str:
    """Flask-Babel's locale selector (see the module's docstring for the order)."""
    if not has_request_context():
        return DEFAULT_LOCALE
    return _asked_locale(_account_language()) or DEFAULT_LOCALE


def _asked_locale(account_language: str | None) -> str | None:
    """The page's language as this request asks for it, or None when nothing does."""
    chosen = (
        match(request.cookies.get(LANG_COOKIE))
        or first_match(_requested_ui_locales())
        or match(account_language)
    )
    if chosen:
        return chosen
    # Accept-Language, best first, each matched by language and script (zh-CN, zh-SG, zh-TW).
    for requested, quality in request.accept_languages:
        if quality > 0 and (found := match(requested)):
            return found
    return None


def _page_language_of(account) -> str | None:
    """For an email to an account that saved no language: the language its own page asks for
    (the switcher's cookie, the app's ``ui_locales``, the browser's), when the account itself,
    signed in, is making this request (it asked for a code, added a factor). None for an email
    someone else or the system causes: their page says nothing of the recipient."""
    if account is None or getattr(account, "id", None) is None or not has_request_context():
        return None
    from idp.web.sso import viewer_account

    viewer = viewer_account()
    if viewer is None or viewer.id != account.id:
        return None
    return _asked_locale(None)


# --- time zones -----------------------------------------------------------------------------

_ZONES: frozenset[str] | None = None


def zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def company_zone(company) -> str:
    """A company's time zone: its own, else UTC+8 for a Chinese-speaking company, else UTC."""
    if company is None:
        return "UTC"
    if company.timezone:
        return company.timezone
    return CHINESE_DEFAULT_ZONE if (company.language or "").startswith("zh") else "UTC"


def zone_of(account) -> str:
    """The IANA time zone an account's dates are shown in: its own, else its company's."""
    if account is None:
        return "UTC"
    return account.timezone or company_zone(account.company)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def select_timezone() -> str:
    """Flask-Babel's time zone selector: the signed-in account's zone."""
    if not has_request_context():
        return "UTC"
    from idp.web.sso import viewer_account

    return zone_of(viewer_account())


# --- formatting -----------------------------------------------------------------------------


def when(moment: datetime | None, zone: str | None = None, fmt: str = "medium") -> str:
    """A date and time for people: in the locale's format, in ``zone`` (default: the viewer's),
    with the zone's offset so that nobody has to guess."""
    if moment is None:
        return ""
    if isinstance(moment, str):  # already formatted by its caller
        return moment
    tzinfo = _zone(zone) if zone else get_timezone()
    if fmt == "time":  # the time alone (a moment later today)
        text = babel_time(moment, "short", tzinfo=tzinfo, locale=get_locale())
    else:
        text = babel_datetime(moment, fmt, tzinfo=tzinfo, locale=get_locale())
    offset = moment.astimezone(tzinfo).strftime("%z")
    return f"{text} (UTC{offset[:3]}:{offset[3:]})" if offset != "+0000" else f"{text} (UTC)"


def day(moment: datetime | None, zone: str | None = None) -> str:
    """A date alone, in the locale's format and the zone's calendar."""
    if moment is None:
        return ""
    tzinfo = _zone(zone) if zone else get_timezone()
    return babel_date(moment.astimezone(tzinfo).date(), "medium", locale=get_locale())


class Moment:
    """A date and time inside a message, formatted where the message is shown: in that page's
    language and the viewer's time zone (UTC for programs)."""

    def __init__(self, moment: datetime, fmt: str = "medium") -> None:
        self.moment, self.fmt = moment, fmt

    def __str__(self) -> str:
        if _for_programs.get():  # a JSON answer: one unambiguous form, in UTC
            return f"{self.moment.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M:%S} UTC"
        return when(self.moment, fmt=self.fmt)

    def __repr__(self) -> str:
        return f"Moment({self.moment.isoformat()})"


# A wait shows in the largest unit of which it is at least 1.5 (Babel's ``threshold``).
_UNITS = (86400, 3600, 60)
_THRESHOLD = 1.5


def wait_for(seconds: float) -> Duration:
    """How long until a retry (``45 seconds``, ``3 minutes``), in the language of wherever it is
    shown: a placeholder value of a message. Rounded up in the unit it is shown in, so that it
    never reads shorter than the real wait (54 minutes 10 seconds reads ``55 minutes``)."""
    seconds = max(1, math.ceil(seconds))
    for unit in _UNITS:
        if seconds >= _THRESHOLD * unit:
            return Duration(math.ceil(seconds / unit) * unit)
    return Duration(seconds)


class Duration:
    """A wait (``Try again in …``) formatted in the language of wherever it is shown."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, int(seconds))

    def __str__(self) -> str:
        return format_timedelta(
            timedelta(seconds=self.seconds),
            threshold=1.5,
            locale=get_locale() or DEFAULT_LOCALE,
            format="long",
        )

    def __repr__(self) -> str:
        return f"Duration({self.seconds})"


_for_programs: ContextVar[bool] = ContextVar("idp_for_programs", default=False)


def english(text) -> str:
    """``text`` (a lazy message) in English: for protocol answers and JSON error bodies (dates
    in it as ``2026-12-02 10:15:00 UTC``)."""
    token = _for_programs.set(True)
    try:
        with force_locale(DEFAULT_LOCALE):
            return str(text)
    finally:
        _for_programs.reset(token)


@contextlib.contextmanager
def language_of(account=None, locale: str | None = None):
    """The language of an email (or text) to ``account``, the one rule of the README: ``locale``
    when the caller names one, else the account's own (its preferences, or the switcher used
    signed in), else the language of the page the account is reading when it causes the email
    itself, else its company's, else English."""
    company = getattr(account, "company", None)
    chosen = (
        (match(locale) if locale else None)
        or match(getattr(account, "language", None))
        or _page_language_of(account)
        or match(getattr(company, "language", None))
        or DEFAULT_LOCALE
    )
    with force_locale(chosen):
        yield chosen


# --- the app --------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    ensure_compiled()
    locales = [DEFAULT_LOCALE, *catalog_paths()]
    app.extensions["idp.locales"] = locales
    app.extensions["idp.complete_locales"] = [
        tag(locale)
        for locale in locales
        if locale == DEFAULT_LOCALE or is_complete(catalog_paths()[locale])
    ]
    Babel(
        app,
        default_locale=DEFAULT_LOCALE,
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=select_locale,
        timezone_selector=select_timezone,
    )
    app.jinja_env.globals.update(
        locale_tag=lambda: tag(str(get_locale())),
        locale_choices=lambda: [(locale, NATIVE_NAMES.get(locale, locale)) for locale in locales],
        current_locale=lambda: str(get_locale()),
        LANG_COOKIE=LANG_COOKIE,
    )
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["day"] = day
