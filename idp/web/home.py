"""The start page. Signed out, it is the sign-in page; signed in, it shows the person their apps,
their stores and their account. It never lists companies, and says nothing of how the provider
runs (issue 12: it showed the backend, the demo passwords and the registered companies to
anyone)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from idp.i18n import LANG_COOKIE, LANG_COOKIE_AGE, NATIVE_NAMES, _, match, zone_of
from idp.oauth import clients
from idp.oauth.store_context import choose
from idp.services import preferences, privacy, second_factors
from idp.web.display_names import marketplace_name
from idp.web.sso import current_session, safe_next, viewer_account

log = logging.getLogger(__name__)
bp = Blueprint("home", __name__)
# Where a switch may come from to change the account's language (Fetch Metadata): one of our
# pages, the address bar or a bookmark (``none``), or a browser that does not say (None).
OUR_OWN = (None, "same-origin", "none")


@bp.get("/")
def index():
    sso = current_session()
    if sso is None:
        return redirect(url_for("signin.login"))
    account = sso.account
    by_marketplace: dict[str, list] = {}
    for store in account.stores:
        by_marketplace.setdefault(marketplace_name(store.marketplace), []).append(store)
    return render_template(
        "home/index.html",
        account=account,
        apps=clients.apps_for(account),
        tier_names=privacy.TIER_NAMES,  # R21: apps outside the company say so
        active=choose(account, None, current_id=sso.active_store_id),
        by_marketplace=by_marketplace,
        second_factor=second_factors.has_any(account),  # an app or a passkey (R19)
        language_name=(
            NATIVE_NAMES.get(account.language, account.language)
            if account.language
            else _("your browser's")
        ),
        zone=zone_of(account),
    )


@bp.get("/language")
def choose_language():
    """The language switcher of every page: the choice is kept in a cookie (a year) and wins
    over everything else (``idp.i18n.select_locale``); back to the page it was made on.
    Signed in, it becomes the account's language too (its emails follow it), unless another
    site sent the browser here: a link elsewhere may set this browser's cookie, not the
    account's language."""
    back = redirect(safe_next(request.args.get("next")))
    locale = match(request.args.get("to"))
    if locale is None:
        back.delete_cookie(LANG_COOKIE, path="/")
        return back
    account = viewer_account()  # None too when sessions cannot be read: the cookie still works
    if account is not None and request.headers.get("Sec-Fetch-Site") in OUR_OWN:
        try:
            preferences.choose_language(account, locale)
        except SQLAlchemyError:  # the page's language changes anyway; the saved one next time
            log.warning("could not save the language of account %s", account.id, exc_info=True)
    back.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=LANG_COOKIE_AGE,
        path="/",
        secure=current_app.extensions["idp.settings"].secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    return back
