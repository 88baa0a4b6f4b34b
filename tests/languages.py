"""Telling English left on a translated page or email: runs of three or more English words."""

from __future__ import annotations

import re

ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,]+[A-Za-z][A-Za-z'’-]*){2,}")
ADDRESSES = re.compile(r"https?://\S+|\S+@\S+")


def english_runs(text: str, names: set[str] = frozenset()) -> set[str]:
    """The runs of English words in ``text``, besides ``names`` (what people named: shown as
    typed) and addresses."""
    text = ADDRESSES.sub(" ", text)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return {run.strip(" ,") for run in ENGLISH_RUN.findall(text)}


def has_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None
