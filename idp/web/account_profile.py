"""The account centre's profile and connected apps (issue 17, R20): thin views over
``services.profile``, ``services.verification`` (a new email or mobile is saved only once the
code sent to it is typed in) and ``services.connected_apps``. Every account, main or sub, sees
and changes only its own."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from idp.errors import DomainError
from idp.i18n import _
from idp.services import connected_apps, passkeys, profile, totp, verification
from idp.web.account import bp
from idp.web.step_up import proof, stepped_up

PROFILE_TEMPLATE = "account/profile.html"


@bp.app_context_processor
def profile_completeness():
    """The overview's line about how complete the profile is."""
    return {"profile_completeness": profile.completeness}


def _form(name: str, limit: int) -> str:
    """A form field cut a little past ``limit``: the service says what is too long."""
    return (request.form.get(name) or "")[: limit + 1]


def _profile_page(*, error=None, field=None, status=200, typed=None, contact=None):
    """``contact``: the email or mobile form that failed (its message is shown in it)."""
    account = g.account
    typed = typed or {}
    return render_template(
        PROFILE_TEMPLATE,
        section="profile",
        account=account,
        values={
            "name": typed.get("name", account.nickname or ""),
            "gender": typed.get("gender", account.gender or ""),
            "email": typed.get("email", ""),
            "phone": typed.get("phone", ""),
        },
        genders=profile.gender_choices(),
        gender_label=profile.GENDER_LABELS.get(account.gender),
        pending=verification.pending_code(account, verification.CHANGE),
        has_totp=totp.is_enrolled(account),
        has_passkey=passkeys.has_passkey(account),
        recovery_left=totp.unused_recovery_codes(account),
        contact=contact,
        error=error,
        field=field,
    ), status


# The endpoint is ``account.profile`` (SECTIONS); the function's name keeps the ``profile``
# service module in sight.
@bp.route("/profile", methods=["GET", "POST"], endpoint="profile")
def profile_page():
    """R20: the display name (the ``name`` claim) and gender, saved at once."""
    if request.method == "GET":
        return _profile_page()
    typed = {"name": _form("name", 200), "gender": _form("gender", 20)}
    try:
        changes = profile.update_profile(g.account, name=typed["name"], gender=typed["gender"])
    except DomainError as exc:
        return _profile_page(error=exc.message, field=exc.field, status=exc.status, typed=typed)
    flash(_("Your profile was saved.") if changes else _("Nothing changed."), "success")
    return redirect(url_for("account.profile"))


@bp.post("/profile/contact")
def profile_contact():
    """R20: a code to the new email or mobile; nothing is saved until it is typed in. Behind the
    step-up (the password, and a second factor when the account has one), counted like the
    security page's: a stolen session cookie must not move the account to a thief's address."""
    channel = _form("channel", 10)
    value = _form(channel if channel in verification.CHANNELS else "email", 300)
    try:
        stepped_up(verification.send_change_code, channel, value, proof())
    except DomainError as exc:
        field = exc.field if exc.field in (*verification.CHANNELS, "password", "code") else channel
        return _profile_page(
            error=exc.message,
            field=field,
            status=exc.status,
            typed={channel: value},
            contact=channel if channel in verification.CHANNELS else None,
        )
    # No flash: the contact card says it once, with the code's time and attempts left.
    return redirect(url_for("account.profile", _anchor="contact"))


@bp.post("/profile/confirm")
def profile_confirm():
    try:
        channel = verification.confirm_change(g.account, _form("code", 40))
    except DomainError as exc:
        return _profile_page(error=exc.message, field=exc.field or "code", status=exc.status)
    flash(
        _("Your email address was changed and verified.")
        if channel == verification.EMAIL
        else _("Your mobile number was changed and verified."),
        "success",
    )
    return redirect(url_for("account.profile"))


@bp.post("/profile/cancel")
def profile_cancel():
    verification.cancel_change(g.account)
    flash(_("The change was cancelled; your email and mobile stay as they were."), "success")
    return redirect(url_for("account.profile"))


@bp.get("/apps")
def apps():
    return render_template(
        "account/apps.html",
        section="apps",
        account=g.account,
        apps=connected_apps.list_apps(g.account),
    )


@bp.post("/apps/<client_id>/revoke")
def apps_revoke(client_id: str):
    try:
        connected_apps.revoke(g.account, client_id)
    except DomainError as exc:
        return render_template(
            "account/apps.html",
            section="apps",
            account=g.account,
            apps=connected_apps.list_apps(g.account),
            error=exc.message,
        ), exc.status
    flash(
        _("The app's access was revoked: it was signed out and its tokens stopped working."),
        "success",
    )
    return redirect(url_for("account.apps"))
