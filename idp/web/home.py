"""The start page. Signed out, it is the sign-in page; signed in, it shows the person their apps,
their stores and their account. It never lists companies, and says nothing of how the provider
runs (issue 12: it showed the backend, the demo passwords and the registered companies to
anyone)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from idp.oauth import clients
from idp.oauth.store_context import choose
from idp.services import totp
from idp.web.sso import current_session

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    sso = current_session()
    if sso is None:
        return redirect(url_for("signin.login"))
    account = sso.account
    by_marketplace: dict[str, list] = {}
    for store in account.stores:
        by_marketplace.setdefault(store.marketplace.name, []).append(store)
    return render_template(
        "home/index.html",
        account=account,
        apps=clients.apps_for(account),
        active=choose(account, None, current_id=sso.active_store_id),
        by_marketplace=by_marketplace,
        second_factor=totp.is_enrolled(account),
    )
