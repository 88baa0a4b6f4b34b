"""The account centre's privacy page (issue 17, R21): who the account's personal information is
visible to. The rule itself is ``idp.services.privacy``; this page parses, calls it, and shows
what each kind of app gets under the chosen level."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from idp.errors import DomainError
from idp.i18n import _
from idp.models.accounts import PRIVACY_LEVELS
from idp.models.oauth import TIERS
from idp.services import privacy
from idp.web.account import bp


@bp.route("/privacy", methods=["GET", "POST"], endpoint="privacy")
def privacy_page():
    account = g.account
    error = None
    if request.method == "POST":
        try:
            privacy.set_level(account, (request.form.get("privacy") or "")[:20])
        except DomainError as exc:
            error = exc.message
        else:
            flash(
                _("Your privacy setting was saved. Apps get it from their next request."),
                "success",
            )
            return redirect(url_for("account.privacy"))
    level = account.privacy
    return render_template(
        "account/privacy.html",
        section="privacy",
        account=account,
        levels=[(lv, privacy.LEVEL_LABELS[lv], privacy.LEVEL_HINTS[lv]) for lv in PRIVACY_LEVELS],
        level=level,
        tiers=[
            (tier, privacy.TIER_LABELS[tier], privacy.TIER_HINTS[tier], privacy.allows(level, tier))
            for tier in TIERS
        ],
        apps=[(app, privacy.allows(level, app.tier)) for app in privacy.apps_of(account)],
        tier_labels=privacy.TIER_LABELS,
        error=error,
    ), (400 if error else 200)
