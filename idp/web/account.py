"""The account's own settings pages (every signed-in account, main or sub): language and time
zone (issue 13). The account centre (issue 17) grows here."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from idp import i18n
from idp.errors import DomainError
from idp.i18n import _
from idp.models.base import utcnow
from idp.services import inquiries, preferences
from idp.web.sso import current_session, to_sign_in

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
def require_session():
    sso = current_session()
    if sso is None:
        return to_sign_in()
    g.account = sso.account
    return None


@bp.route("/preferences", methods=["GET", "POST"])
def preferences_page():
    account = g.account
    error = field = None
    if request.method == "POST":
        try:
            preferences.set_preferences(
                account,
                language=(request.form.get("language") or "")[:20],
                timezone=(request.form.get("timezone") or "")[:64],
            )
        except DomainError as exc:
            error, field = exc.message, exc.field
        else:
            flash(_("Your language and time zone were saved."), "success")
            return redirect(url_for("account.preferences_page"))
    return render_template(
        "account/preferences.html",
        account=account,
        zones=preferences.COMMON_ZONES,
        company_zone=i18n.company_zone(account.company),
        effective_zone=i18n.zone_of(account),
        now=utcnow(),
        error=error,
        field=field,
        form=request.form,
    ), (400 if error else 200)


@bp.post("/inquiries")
def inquiries_switch():
    """R24: a staff member takes a break from inquiries (or comes back) on their own."""
    account = g.account
    if account.is_main:
        return redirect(url_for("account.preferences_page"))
    on = request.form.get("receives") == "on"
    inquiries.set_own_switch(account, on)
    if on:
        flash(_("You receive customer inquiries again."), "success")
    else:
        flash(_("You receive no customer inquiries until you switch them on again."), "success")
    return redirect(url_for("account.preferences_page"))
