"""RFC 8058 one-click unsubscribe (R22): ``/unsubscribe/<token>``, the URL every email that can be
turned off carries in its ``List-Unsubscribe`` header and its body.

It works without signing in: the signed token is the proof (``idp.services.subscriptions``).
GET only shows what the link stops and a button, so that a mail scanner that follows links
unsubscribes no one; POST unsubscribes. The POST takes no CSRF token: a mail program sends it on
its own (RFC 8058 section 3.2, without cookies), and a forged request would need the token
anyway. Using a link twice answers the same and changes nothing more."""

from __future__ import annotations

from flask import Blueprint, render_template

from idp.errors import LinkRefused
from idp.extensions import csrf
from idp.i18n import _
from idp.services import subscriptions

bp = Blueprint("unsubscribe", __name__)


def _page(template: str, found: subscriptions.Unsubscription, token: str, status: int = 200):
    return render_template(
        template,
        label=found.label,
        address=subscriptions.masked_email(found.account.email) or _("your address"),
        done=found.done,
        token=token,
    ), status


def _refused(exc: LinkRefused):
    return render_template("unsubscribe/refused.html", message=exc.message), exc.status


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    try:
        found = subscriptions.read_token(token)
    except LinkRefused as exc:
        return _refused(exc)
    return _page("unsubscribe/confirm.html", found, token)


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def one_click(token: str):
    try:
        found = subscriptions.unsubscribe(token)
    except LinkRefused as exc:
        return _refused(exc)
    return _page("unsubscribe/done.html", found, token)
