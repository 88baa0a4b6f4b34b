"""The owner console (main account only, whatever role a sub-account has: R6): staff, stores,
roles, groups, the company's settings, the audit log, the wallet password and the company's API
clients.

Server-rendered pages that work without JavaScript. A view parses its form, calls one service
and redirects with a confirmation, or re-renders the form with the service's message and what
the owner typed (the service wrote nothing: it runs in one transaction). Every form is
CSRF-protected. Each section is a module of its own; they share this blueprint."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from idp.web.sso import current_session, to_sign_in

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.before_request
def require_owner_session():
    """Signed in (else to the login page and back), and as the main account (R6)."""
    sso = current_session()
    if sso is None:
        return to_sign_in()
    if not sso.account.is_main:
        return render_template("console/forbidden.html", account=sso.account), 403
    g.owner = sso.account
    return None


@bp.get("/")
def index():
    return redirect(url_for("console.staff"))


def owner():
    """The signed-in main account this request acts as."""
    return g.owner


def done(message: str, endpoint: str, **values):
    """Confirm a change in the page it leads to."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def form_text(name: str, limit: int = 300) -> str:
    """A form field, cut at ``limit`` (the services say what is too long)."""
    return (request.form.get(name) or "")[:limit]


def form_list(name: str, limit: int = 600) -> list[str]:
    return [value[:120] for value in request.form.getlist(name)[:limit]]


from idp.web.console import (  # noqa: E402,F401
    api_clients,
    audit,
    company,
    groups,
    inquiries,
    notifications,
    photos,
    roles,
    staff,
    stores,
    wallet,
)
