"""The account centre's sessions page (issue 17): where the account is signed in, and signing
out one of those sessions or all the others. Each ends the session, every token it gave and
tells its apps (back-channel logout), as R5 does for a whole account."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import ngettext

from idp.errors import DomainError
from idp.i18n import _
from idp.oauth import sessions as sso_sessions
from idp.web.account import bp


@bp.get("/sessions", endpoint="sessions")
def sessions_page():
    return _page()


def _page(error: str | None = None, status: int = 200):
    return render_template(
        "account/sessions.html",
        section="sessions",
        account=g.account,
        rows=(rows := sso_sessions.active_for(g.account)),
        apps=sso_sessions.apps_of(rows),
        current_sid=g.sso_session.sid,
        error=error,
    ), status


@bp.post("/sessions/end")
def end_session():
    sid = (request.form.get("sid") or "")[:64]
    if sid == g.sso_session.sid:
        return _page(_("To end the session you are using, sign out."), 400)
    try:
        sso_sessions.sign_out_one(g.account, sid)
    except DomainError as exc:
        return _page(exc.message, 404 if exc.status == 404 else 400)
    flash(_("That session was signed out, and its apps were told."), "success")
    return redirect(url_for("account.sessions"))


@bp.post("/sessions/end-others")
def end_other_sessions():
    ended = sso_sessions.sign_out_others(g.account, g.sso_session.sid)
    if ended:
        flash(
            ngettext(
                "%(num)d other session was signed out, and its apps were told.",
                "%(num)d other sessions were signed out, and their apps were told.",
                ended,
            ),
            "success",
        )
    else:
        flash(_("You are signed in nowhere else."), "success")
    return redirect(url_for("account.sessions"))
