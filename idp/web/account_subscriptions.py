"""The account centre's "Email subscriptions" page (R22, issue 17 section 4): the notification
emails the account receives, grouped; security notices shown as always on."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from idp.errors import DomainError
from idp.i18n import _
from idp.services import subscriptions
from idp.web.account import bp


@bp.route("/subscriptions", methods=["GET", "POST"], endpoint="subscriptions")
def subscriptions_page():
    account = g.account
    error = None
    if request.method == "POST":
        try:
            changed = subscriptions.set_subscriptions(account, request.form.getlist("kind"))
        except DomainError as exc:
            error = exc.message
        else:
            flash(
                _("Your email subscriptions were saved.")
                if changed
                else _("Nothing changed: you already receive exactly these emails."),
                "success",
            )
            return redirect(url_for("account.subscriptions"))
    return render_template(
        "account/subscriptions.html",
        section="subscriptions",
        account=account,
        sections=subscriptions.sections_for(account),
        error=error,
    ), (400 if error else 200)
