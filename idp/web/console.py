"""Owner console pages: staff credentials (R16), the wallet password (R15); main only (R6).

Every page needs a signed-in SSO session; a sub-account is shown a 403 page, whatever its role.
Forms are CSRF-protected (Flask-WTF). Bad input re-renders the form with the message, and the
service wrote nothing (it runs in one transaction)."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import ngettext

from idp.errors import DomainError
from idp.i18n import _, _l
from idp.oauth import sessions
from idp.services import accounts, stores, totp, wallet
from idp.web.sso import current_session, to_sign_in

bp = Blueprint("console", __name__, url_prefix="/console")

OWNER_ONLY = _l("Only the company's main account can do this.")


@bp.before_request
def require_owner_session():
    """Signed in (else to the login page and back), and as the main account (R6)."""
    sso = current_session()
    if sso is None:
        return to_sign_in()
    if not sso.account.is_main:
        return render_template("console/forbidden.html", account=sso.account), 403
    g.owner = sso.account


@bp.get("/")
def index():
    return redirect(url_for("console.staff"))


# --- R16: staff credentials -----------------------------------------------------------------


def _staff_page(*, error: str | None = None, status: int = 200):
    search = (request.args.get("search") or "")[:100] or None
    return render_template(
        "console/staff.html",
        owner=g.owner,
        active=accounts.list_staff(g.owner, search=search),
        departed=accounts.list_staff(g.owner, departed=True, search=search),
        search=search or "",
        enrolled=totp.is_enrolled,
        error=error,
    ), status


@bp.get("/staff")
def staff():
    """Enabled and departed staff (R4), each with its credential actions."""
    return _staff_page()


@bp.post("/staff/<name>/reset-password")
def reset_password(name: str):
    """R16: a password chosen by the owner, or generated, shown once on the next page; the staff
    member must choose a new one at next sign-in, and its sessions end."""
    typed = request.form.get("password") or ""
    chosen = typed if typed.strip() else None
    try:
        account = accounts.get_sub_account(g.owner, name)
        password = accounts.reset_sub_account_password(g.owner, account, chosen)
    except DomainError as exc:
        return _staff_page(error=exc.message, status=exc.status)
    page = make_response(
        render_template("console/password_shown.html", account=account, password=password)
    )
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.post("/staff/<name>/reset-2fa")
def reset_second_factor(name: str):
    try:
        account = totp.reset_totp(g.owner, accounts.get_sub_account(g.owner, name))
    except DomainError as exc:
        return _staff_page(error=exc.message, status=exc.status)
    flash(_("The second factor of %(name)s was removed.", name=account.login_name))
    return redirect(url_for("console.staff"))


@bp.post("/staff/<name>/end-sessions")
def end_sessions(name: str):
    try:
        account = accounts.get_sub_account(g.owner, name)
        ended = sessions.end_sessions_by_owner(g.owner, account)
    except DomainError as exc:
        return _staff_page(error=exc.message, status=exc.status)
    flash(
        ngettext(
            "%(num)d session of %(name)s ended.",
            "%(num)d sessions of %(name)s ended.",
            ended,
            name=account.login_name,
        )
    )
    return redirect(url_for("console.staff"))


# --- R8: stores ----------------------------------------------------------------------------


def _stores_page(*, error: str | None = None, field: str | None = None, status: int = 200):
    return render_template(
        "console/stores.html",
        owner=g.owner,
        stores=stores.list_stores(g.owner),
        marketplaces=stores.marketplaces(),
        form=request.form,
        error=error,
        field=field,
    ), status


@bp.route("/stores", methods=["GET", "POST"])
def stores_page():
    """R8: the company's authorized stores, and authorizing another (marketplace, the store's
    own id, its name). The owner holds every authorized store; staff get them from the owner."""
    if request.method == "GET":
        return _stores_page()
    form = request.form
    try:
        store = stores.authorize_store(
            g.owner,
            (form.get("marketplace") or "")[:40],
            (form.get("external_id") or "")[:200],
            (form.get("name") or "")[:200],
        )
    except DomainError as exc:
        return _stores_page(error=exc.message, field=exc.field, status=exc.status)
    flash(_("%(store)s is authorized. You can now give it to your staff.", store=store.name))
    return redirect(url_for("console.stores_page"))


# --- R15: the wallet password ---------------------------------------------------------------


def _wallet_page(*, error: str | None = None, field: str | None = None, status: int = 200):
    company = g.owner.company
    return render_template(
        "console/wallet.html",
        owner=g.owner,
        company=company,
        locked=wallet.is_locked(company),
        needs_code=totp.is_enrolled(g.owner),
        error=error,
        field=field,
    ), status


@bp.route("/wallet", methods=["GET", "POST"])
def wallet_password():
    """R15: set or change the wallet password, re-entering the login password and, when
    enrolled, a TOTP code."""
    if request.method == "GET":
        return _wallet_page()
    form = request.form
    new_password = form.get("new_password") or ""
    if new_password != (form.get("confirm_password") or ""):
        return _wallet_page(
            error=_("The two new wallet passwords differ"), field="confirm_password", status=400
        )
    first = g.owner.company.wallet_password_hash is None
    try:
        wallet.set_wallet_password(
            g.owner,
            current_password=form.get("current_password") or "",
            totp_code=form.get("totp_code") or None,
            new_password=new_password,
        )
    except DomainError as exc:
        return _wallet_page(error=exc.message, field=exc.field, status=exc.status)
    flash(_("The wallet password was set.") if first else _("The wallet password was changed."))
    return redirect(url_for("console.wallet_password"))
