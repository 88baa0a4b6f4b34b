"""Self-registration and activation (R13), forgotten passwords (R17).

Emailed links open a page with a button; only the button's POST uses the link up, so a mail
scanner that fetches links in advance cannot spend a single-use link."""

from __future__ import annotations

import functools
import logging

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale

from idp.defaults import MAX_FORM_FIELD, PAGE_IP_LIMITS, PAGE_IP_WINDOW
from idp.errors import DomainError, InvalidInput
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account
from idp.services import registration
from idp.services.registration import ACTIVATION, PASSWORD_RESET, LinkRefused

bp = Blueprint("register", __name__)
log = logging.getLogger(__name__)

REGISTERED = "idp_registered"  # in the signed Flask session: where the activation link went
MAX_FIELD = MAX_FORM_FIELD


def _field(name: str) -> str:
    return (request.form.get(name) or "")[:MAX_FIELD]


def _password(name: str) -> str:
    return (request.form.get(name) or "")[:1024]  # the policy reports what is too long


# Per client IP and hour: pages that create accounts or send email are not a free mail cannon.
IP_LIMITS = PAGE_IP_LIMITS
TOO_MANY = _l("Too many requests from your network; try again in an hour")


def _ip_over_limit(page: str) -> bool:
    count = kv().incr(f"web:{page}:{request.remote_addr or 'unknown'}", PAGE_IP_WINDOW)
    return count > IP_LIMITS[page]


@bp.route("/register", methods=["GET", "POST"])
def register():
    if request.method == "GET":
        return render_template("register/register.html", form={"language": str(get_locale())})
    if _ip_over_limit("register"):
        return render_template(
            "register/register.html", form={"language": str(get_locale())}, error=TOO_MANY
        ), 429
    form = {
        "company_name": _field("company_name"),
        "email": _field("email"),
        "language": _field("language") or str(get_locale()),
    }
    password = _password("password")
    try:
        if password != _password("confirm_password"):
            raise InvalidInput(_l("The two passwords differ"), field="confirm_password")
        account = registration.register_company(
            form["company_name"], email=form["email"], password=password, language=form["language"]
        )
    except DomainError as exc:
        return render_template(
            "register/register.html", form=form, error=exc.message, field=exc.field
        ), 400
    session[REGISTERED] = {"email": account.email}
    return redirect(url_for("register.registered"))


@bp.get("/register/sent")
def registered():
    sent = session.get(REGISTERED)
    if not sent:
        return redirect(url_for("register.register"))
    return render_template("register/registered.html", email=sent["email"])


@bp.get("/register/check")
def check():
    """Whether a company name can be registered, for the form's live check."""
    available, message = registration.check_company_name(request.args.get("name", "")[:MAX_FIELD])
    return jsonify(available=available, message=message)


@bp.route("/register/resend", methods=["GET", "POST"])
def resend():
    """R13 "invite again", offered by the sign-in refusal and the expired-link page."""
    if request.method == "GET":
        return render_template("register/resend.html", login="")
    login = _field("login")
    try:
        registration.resend_activation(login)
    except DomainError as exc:
        return render_template("register/resend.html", login=login, error=exc.message), 400
    return render_template("register/resend.html", login=login, sent=registration.ACTIVATION_RESENT)


def _refused(exc: LinkRefused):
    account: Account | None = exc.account
    return render_template(
        "register/link_refused.html",
        message=exc.message,
        reason=exc.reason,
        purpose=exc.purpose,
        login=account.login_name if account is not None else "",
    ), exc.status


@bp.route("/activate/<token>", methods=["GET", "POST"])
def activate(token: str):
    try:
        if request.method == "GET":
            account = registration.inspect_link(ACTIVATION, token)
            return render_template("register/activate.html", account=account)
        account = registration.activate(token)
    except LinkRefused as exc:
        return _refused(exc)
    return render_template("register/activated.html", account=account)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    if request.method == "GET":
        login = (request.args.get("login") or "")[:100]
        return render_template("register/forgot.html", login=login)
    login = _field("login")
    if _ip_over_limit("forgot"):
        return render_template("register/forgot.html", login=login, error=TOO_MANY), 429
    try:
        answer = registration.forgot_answer(login)
    except DomainError as exc:
        return render_template("register/forgot.html", login=login, error=exc.message), 400
    page = make_response(render_template("register/forgot.html", login=login, sent=answer))
    # After the answer has gone, so that its timing never tells whether the account exists.
    page.call_on_close(
        functools.partial(_send_reset_link, current_app._get_current_object(), login)
    )
    return page


def _send_reset_link(app, login: str) -> None:
    with app.app_context():
        try:
            registration.send_reset_link(login)
        except Exception:  # the person was answered already; nothing to tell them
            log.exception("could not send a password-reset link")


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    try:
        if request.method == "GET":
            account = registration.inspect_link(PASSWORD_RESET, token)
            return render_template("register/reset.html", account=account)
        try:
            account = registration.reset_password(
                token, _password("new_password"), _password("confirm_password")
            )
        except LinkRefused:
            raise
        except DomainError as exc:  # a password the policy refuses: the link still works
            account = registration.inspect_link(PASSWORD_RESET, token)
            return render_template("register/reset.html", account=account, error=exc.message), 400
    except LinkRefused as exc:
        return _refused(exc)
    return render_template("register/reset_done.html", account=account)
