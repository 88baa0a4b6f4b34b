"""R14: the page where a muted sub-account verifies its email or phone with a one-time code.

Sign-in sends a muted account here (``signin._start_session``) with the page it was going to as
``next``. It may verify now or choose "later": it stays muted, and this browser session is not
asked again on its way (a new sign-in asks again). Opened without ``next`` (by hand, from a link)
the page is always shown."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from idp.errors import DomainError
from idp.models import Account
from idp.services import verification
from idp.web.sso import current_session, safe_next, to_sign_in

bp = Blueprint("verify", __name__, template_folder="../../templates")

SKIPPED = "idp_verify_skipped"  # in the signed Flask session: the SSO session that chose "later"


def _page(account: Account, next_url: str, *, error: str | None = None, status: int = 200):
    return render_template(
        "verify/start.html",
        account=account,
        next=next_url,
        destinations=verification.destinations(account),
        pending=verification.pending_code(account),
        error=error,
    ), status


@bp.before_request
def require_session():
    """Every step needs the SSO session: without one, sign in and come back here."""
    g.sso = current_session()
    if g.sso is None:
        back = url_for("verify.start", next=safe_next(request.values.get("next")))
        return to_sign_in(back)
    return None


@bp.get("/verify")
def start():
    sso = g.sso
    next_url = safe_next(request.args.get("next"))
    account = sso.account
    if not account.is_muted:
        return redirect(next_url)
    if "next" in request.args and session.get(SKIPPED) == sso.sid:
        return redirect(next_url)
    return _page(account, next_url)


@bp.get("/verify/later")
def later():
    """Continue muted. Only a marker in this browser's session is written, so a plain link will
    do (no form, no CSRF token needed)."""
    sso = g.sso
    session[SKIPPED] = sso.sid
    return redirect(safe_next(request.args.get("next")))


@bp.post("/verify/send")
def send():
    sso = g.sso
    next_url = safe_next(request.form.get("next"))
    account = sso.account
    if not account.is_muted:
        return redirect(next_url)
    session.pop(SKIPPED, None)  # asking for a code: no longer skipping
    try:
        verification.send_code(account, (request.form.get("channel") or "")[:16])
    except DomainError as exc:
        return _page(account, next_url, error=exc.message, status=exc.status)
    return redirect(url_for("verify.start", next=next_url))


@bp.post("/verify")
def check():
    sso = g.sso
    next_url = safe_next(request.form.get("next"))
    account = sso.account
    if not account.is_muted:
        return redirect(next_url)
    try:
        verification.verify_code(account, request.form.get("code") or "")
    except DomainError as exc:
        return _page(account, next_url, error=exc.message, status=exc.status)
    session.pop(SKIPPED, None)
    return redirect(next_url)
