"""The account centre (issue 17): every signed-in account's own pages, main or sub, under
``/account``. Its sections are listed once in :data:`SECTIONS`; the layout shows those whose page
exists, so a section lands with its page."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from idp import i18n
from idp.errors import DomainError
from idp.i18n import _, _l
from idp.models.base import utcnow
from idp.services import accounts, inquiries, preferences, second_factors
from idp.web.sso import current_session, safe_next, to_sign_in

bp = Blueprint("account", __name__, url_prefix="/account")

# (key, endpoint, label, what the overview says the section is for)
SECTIONS = (
    ("overview", "account.overview", _l("Overview"), None),
    (
        "profile",
        "account.profile",
        _l("Profile"),
        _l("Your name, gender, email, mobile and photo."),
    ),
    ("password", "account.password", _l("Password"), _l("Change the password you sign in with.")),
    (
        "security",
        "account.security",
        _l("Second factors"),
        _l("Authenticator app, passkeys and recovery codes."),
    ),
    (
        "sessions",
        "account.sessions",
        _l("Sessions"),
        _l("Where you are signed in; sign out there."),
    ),
    (
        "privacy",
        "account.privacy",
        _l("Privacy"),
        _l("Which apps may see your personal information."),
    ),
    (
        "subscriptions",
        "account.subscriptions",
        _l("Email subscriptions"),
        _l("Which notification emails you receive."),
    ),
    (
        "apps",
        "account.apps",
        _l("Connected apps"),
        _l("Apps you signed in to; revoke their access."),
    ),
    (
        "preferences",
        "account.preferences_page",
        _l("Language and time zone"),
        _l("The language of your pages and emails, and your time zone."),
    ),
)


def sections() -> list[tuple[str, str, str, str | None]]:
    """The sections whose page this build has."""
    return [s for s in SECTIONS if s[1] in current_app.view_functions]


@bp.before_request
def require_session():
    sso = current_session()
    if sso is None:
        return to_sign_in()
    g.account = sso.account
    g.sso_session = sso
    return None


@bp.app_context_processor
def account_sections():
    return {"account_sections": sections}


@bp.get("")
@bp.get("/")
def overview():
    account = g.account
    return render_template(
        "account/overview.html",
        section="overview",
        account=account,
        second_factor=second_factors.has_any(account),  # an app or a passkey (R19)
        language_name=(
            i18n.NATIVE_NAMES.get(account.language, account.language)
            if account.language
            else _("Same as your browser")
        ),
        zone=i18n.zone_of(account),
        inquiry_stores=(stores := inquiries.allocating_stores(account)),
        # R24: the switch shows where it matters (a store spreads inquiries), or while it is off
        # (a break must never be forgotten where nobody looks).
        inquiries_card=not account.is_main and (bool(stores) or not account.receives_inquiries),
    )


@bp.route("/password", methods=["GET", "POST"])
def password():
    """R7, and R16's forced change after an owner's reset (then the page stands alone, as the
    person can go nowhere else until they choose a password)."""
    account = g.account
    next_url = safe_next(request.values.get("next"))
    error = None
    if request.method == "POST":
        try:
            accounts.change_own_password(
                account,
                request.form.get("current_password") or "",
                request.form.get("new_password") or "",
            )
        except DomainError as exc:
            error = exc.message
        else:
            flash(
                _("Your password was changed. Use the new one from your next sign-in."), "success"
            )
            return redirect(next_url)
    return render_template(
        "account/password.html",
        section="password",
        account=account,
        next=next_url,
        error=error,
    ), (400 if error else 200)


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
        section="preferences",
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
    back = url_for("account.overview", _anchor="inquiries")
    if account.is_main:
        return redirect(back)
    on = request.form.get("receives") == "on"
    inquiries.set_own_switch(account, on)
    if on:
        flash(_("You receive customer inquiries again."), "success")
    else:
        flash(_("You receive no customer inquiries until you switch them on again."), "success")
    return redirect(back)


# Each section's page lives in its own module; importing it adds its routes to ``bp``.
from idp.web import (  # noqa: E402,F401,I001
    account_avatar,
    account_privacy,
    account_profile,
    account_security,
    account_sessions,
    account_subscriptions,
)
