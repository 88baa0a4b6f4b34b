"""The wallet password (R15): set or changed by the main account alone, behind the account
centre's step-up (its login password again and, when it has a second factor, a code or a
passkey; the same fields and passkey script as the account centre's)."""

from __future__ import annotations

from flask import render_template, request

from idp.errors import DomainError
from idp.i18n import _
from idp.services import passkeys, totp, wallet
from idp.web.console import bp, done, owner
from idp.web.step_up import proof


def _wallet_page(*, error=None, field=None, status: int = 200):
    actor = owner()
    company = actor.company
    return render_template(
        "console/wallet.html",
        owner=actor,
        company=company,
        locked=wallet.is_locked(company),
        has_totp=totp.is_enrolled(actor),
        has_passkey=passkeys.has_passkey(actor),
        recovery_left=totp.unused_recovery_codes(actor),
        error=error,
        field=field,
        section="wallet",
    ), status


@bp.route("/wallet", methods=["GET", "POST"])
def wallet_password():
    if request.method == "GET":
        return _wallet_page()
    form = request.form
    new_password = form.get("new_password") or ""
    if new_password != (form.get("confirm_password") or ""):
        return _wallet_page(
            error=_("The two new wallet passwords differ"), field="confirm_password", status=400
        )
    first = owner().company.wallet_password_hash is None
    step_up = proof(password="current_password", code="totp_code")
    try:
        wallet.set_wallet_password(
            owner(),
            current_password=step_up.password,
            totp_code=step_up.code or None,
            new_password=new_password,
            ceremony_id=step_up.ceremony_id,
            assertion=step_up.assertion,
        )
    except DomainError as exc:
        return _wallet_page(error=exc.message, field=exc.field, status=exc.status)
    return done(
        _("The wallet password was set.") if first else _("The wallet password was changed."),
        "console.wallet_password",
    )
