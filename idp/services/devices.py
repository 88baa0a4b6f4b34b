"""What a person recognises a sign-in by: "Chrome on Windows", "Mobile Safari on iPhone" (the
account centre's sessions page and the "new sign-in" notice, issue 17).

ua-parser reads the user agent: it is the maintained Python port of the uap-core rules that most
analytics tools use, and keeps up with new browsers without our help (a hand-made regex would not).
"""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

from idp.i18n import _


@lru_cache(maxsize=1024)
def _parts(user_agent: str) -> tuple[str | None, str | None, str | None]:
    result = parse(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    device = result.device.family if result.device else None
    if device in ("Other", "Spider", "Mac", "K"):  # uap-core's "no better name"
        device = None
    return browser, system, device


def describe(user_agent: str | None) -> str:
    """A short name for the device behind a user agent, in the current language."""
    browser, system, device = _parts(user_agent or "") if user_agent else (None, None, None)
    if browser in (None, "Other"):
        return _("An unknown browser")
    where = device if device and device not in (system or "") else system
    if where in (None, "Other"):
        return browser
    return _("%(browser)s on %(system)s", browser=browser, system=where)
