"""The browser's side of the step-up (``second_factors.step_up``, R19): the form fields it
sends, and the limit on wrong guesses. The account centre's security and profile pages share
them; the owner console's wallet page reads the same fields under its own names and keeps the
wallet's own limit (R15)."""

from __future__ import annotations

from flask import g, request

from idp.errors import AuthenticationFailed, Forbidden
from idp.kv import kv
from idp.services import passkeys, second_factors, throttle
from idp.web import ceremonies
from idp.web.sso import client_ip


def proof(password: str = "password", code: str = "code") -> second_factors.Proof:
    """What the step-up fields of the posted form say; the passkey's ceremony is this
    browser's (``ceremonies``), taken only when the form carries the passkey's answer."""
    form = request.form
    assertion = form.get("assertion") or ""
    return second_factors.Proof(
        password=form.get(password) or "",
        code=(form.get(code) or "")[:40],
        ceremony_id=ceremonies.take(passkeys.STEP_UP) if assertion else "",
        assertion=assertion,
    )


def stepped_up(action, *args):
    """Run a change behind a step-up, counted like sign-in guesses (a stolen session cookie
    must not become a password or code oracle): the second-factor limits of the account."""
    store, ip, key = kv(), client_ip(), throttle.second_factor_key(g.account)
    throttle.check(store, key, ip)
    try:
        result = action(g.account, *args)
    except (Forbidden, AuthenticationFailed) as exc:
        if exc.field in ("password", "code") or isinstance(exc, AuthenticationFailed):
            throttle.record_failure(store, key, ip)
        raise
    throttle.record_success(store, key, ip)
    return result
