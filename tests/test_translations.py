"""Issue 13: every message of the code and the templates is in the Simplified Chinese catalog,
translated and not fuzzy; the catalogs compile; placeholders survive translation. The messages
are extracted as ``make messages`` does (``pybabel extract`` over ``idp/`` and ``templates/``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from idp.i18n import TRANSLATIONS

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
}
METHODS = [
    ("idp/**.py", "python"),
    ("templates/**.html", "jinja2"),
    ("templates/**.txt", "jinja2"),
]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{\{\s*(\w+)\s*\}\}")


def extracted() -> dict[str, tuple[str, ...]]:
    """msgid -> plural forms (one for a singular message), as pybabel extracts them."""
    found: dict[str, tuple[str, ...]] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS
    ):
        forms = message if isinstance(message, tuple) else (message,)
        if forms[0]:
            found[forms[0]] = forms
    return found


def catalog(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=locale)


def test_there_are_messages_to_translate():
    messages = extracted()
    assert len(messages) > 300  # the pages, emails and service messages, not an empty walk
    assert "Sign in to your seller account" in messages


def test_every_message_is_translated_into_simplified_chinese_and_none_is_fuzzy():
    zh = catalog("zh_Hans")
    problems = []
    for msgid in extracted():
        entry = zh.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif not all(entry.string) if isinstance(entry.string, tuple) else not entry.string:
            problems.append(f"untranslated: {msgid!r}")
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all; make messages)"


def test_translations_keep_every_placeholder():
    """A translation that drops or renames ``%(name)s`` breaks the page (KeyError) or loses what
    people typed."""
    zh = catalog("zh_Hans")
    broken = []
    for message in zh:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = {name for pair in PLACEHOLDER.findall(ids[-1]) for name in pair if name}
        for string in strings:
            got = {name for pair in PLACEHOLDER.findall(string) for name in pair if name}
            if got != wanted:
                broken.append(f"{ids[0]!r}: {sorted(wanted)} != {sorted(got)}")
    assert broken == []


@pytest.mark.parametrize("locale", ["zh_Hans"])
def test_catalog_compiles(locale, tmp_path):
    from babel.messages.mofile import write_mo

    with (tmp_path / "messages.mo").open("wb") as target:
        write_mo(target, catalog(locale))
    assert (tmp_path / "messages.mo").stat().st_size > 1000
