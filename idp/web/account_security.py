"""The account centre's second factors (R19, issue 17 section 6): the authenticator app (set
up; removed with a step-up), passkeys (added, renamed, removed with a step-up) and recovery
codes (made again with a step-up, shown once)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from idp.errors import DomainError
from idp.i18n import _
from idp.services import passkeys, second_factors, totp
from idp.web import ceremonies
from idp.web.account import bp
from idp.web.headers import never_cached
from idp.web.step_up import proof, stepped_up


def _page(error=None, field=None, status=200, form=None):
    account = g.account
    return render_template(
        "account/security.html",
        section="security",
        account=account,
        has_totp=totp.is_enrolled(account),
        passkeys=passkeys.list_for(account),
        recovery_left=totp.unused_recovery_codes(account),
        has_any=second_factors.has_any(account),
        required=not account.is_main and account.company.require_totp,
        error=error,
        field=field,
        form=form or {},
    ), status


def _failed(exc: DomainError, key: str):
    """The page again, the failed step-up form open with its message (``key``: which form)."""
    return _page(exc.message, exc.field, 400, form={"action": key})


@bp.get("/security")
def security():
    return _page()


@bp.route("/security/totp", methods=["GET", "POST"])
def security_totp():
    """Set up the authenticator app (QR code, a code to confirm, then the recovery codes)."""
    from idp.web.signin import _enrolment_step

    account = g.account
    if totp.is_enrolled(account):
        return redirect(url_for("account.security"))
    codes, page = _enrolment_step(
        account,
        voluntary=True,
        confirm=_turn_on_totp,
        template="account/totp.html",
        section="security",
    )
    if page is not None:
        return never_cached(page)  # the secret and its QR code
    return _recovery_codes_page(codes)


def _recovery_codes_page(codes: list[str]):
    """The new recovery codes, shown once inside the account centre (never cached)."""
    return never_cached(
        render_template(
            "account/recovery_codes.html",
            section="security",
            account=g.account,
            codes=codes,
            next=url_for("account.security"),
        )
    )


def _turn_on_totp(account, secret: str, code: str) -> list[str]:
    """The set-up by choice asks for the password too, counted like a step-up: a stolen session
    cookie must not put the thief's app (and recovery codes) between the owner and the account.
    The forced set-up at sign-in follows the password step, and asks for no more."""
    return stepped_up(
        second_factors.enable_totp, (request.form.get("password") or "")[:256], secret, code
    )


@bp.post("/security/totp/remove")
def security_totp_remove():
    try:
        stepped_up(second_factors.remove_totp, proof())
    except DomainError as exc:
        return _failed(exc, "totp")
    flash(_("The authenticator app was turned off."), "success")
    return redirect(url_for("account.security"))


@bp.post("/security/recovery-codes")
def security_recovery_codes():
    try:
        codes = stepped_up(second_factors.regenerate_recovery_codes, proof())
    except DomainError as exc:
        return _failed(exc, "recovery")
    return _recovery_codes_page(codes)


@bp.post("/security/step-up")
def security_step_up_options():
    """The options of a passkey ceremony that proves the account again (the page's script)."""
    return ceremonies.begin(passkeys.STEP_UP, g.account)


@bp.post("/security/passkeys/options")
def security_passkey_options():
    return ceremonies.begin(passkeys.REGISTER, g.account)


@bp.post("/security/passkeys")
def security_passkey_add():
    """Keep the passkey the browser just made (its answer in ``credential``), behind the
    current password; a wrong password counts like a wrong step-up."""
    name = (request.form.get("name") or "")[:200]
    try:
        passkey = stepped_up(
            second_factors.add_passkey,
            request.form.get("password") or "",
            ceremonies.take(passkeys.REGISTER),
            request.form.get("credential") or "",
            name,
        )
    except DomainError as exc:
        return _page(exc.message, exc.field, 400, form={"add": True, "name": name})
    flash(_("The passkey “%(name)s” was added.", name=passkey.name), "success")
    return redirect(url_for("account.security"))


@bp.post("/security/passkeys/<pid>/rename")
def security_passkey_rename(pid: str):
    try:
        passkeys.rename(g.account, pid, (request.form.get("name") or "")[:200])
    except DomainError as exc:
        return _page(exc.message, exc.field, 400, form={"rename": pid})
    flash(_("The passkey was renamed."), "success")
    return redirect(url_for("account.security"))


@bp.post("/security/passkeys/<pid>/remove")
def security_passkey_remove(pid: str):
    try:
        stepped_up(second_factors.remove_passkey, pid, proof())
    except DomainError as exc:
        return _failed(exc, f"remove-{pid[:40]}")
    flash(_("The passkey was removed."), "success")
    return redirect(url_for("account.security"))
