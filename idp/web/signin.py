"""Sign-in pages: login name and password, the second-factor step (and forced enrolment when the
owner requires it, R19), the forced password change (R16), and RP-initiated logout."""

from __future__ import annotations

import time
from datetime import datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc import jwt
from joserfc.errors import JoseError

from idp import metrics
from idp.defaults import ENROLMENT_TTL, SECOND_FACTOR_PENDING
from idp.errors import AuthenticationFailed, DomainError, InvalidInput
from idp.extensions import db
from idp.i18n import _
from idp.kv import kv
from idp.models import Account, Client
from idp.models.base import utcnow
from idp.oauth import sessions
from idp.oauth.crypto import token_hash
from idp.oauth.keys import keyring
from idp.oauth.tokens import issuer, jose_header
from idp.services import accounts, outbox, passkeys, second_factors, throttle, totp
from idp.services.names import normalize
from idp.web import ceremonies
from idp.web.display_names import marketplace_name
from idp.web.headers import never_cached
from idp.web.sso import (
    clear_cookie,
    client_ip,
    current_session,
    device_id,
    safe_next,
    set_cookie,
    to_sign_in,
)

bp = Blueprint("signin", __name__, template_folder="../../templates")

PENDING = "idp_pending_login"  # in the signed Flask session: password checked, second factor due
PENDING_TTL = SECOND_FACTOR_PENDING
NOTICE = "idp_lockout_notice"


def _start_session(account: Account, amr: list[str], next_url: str) -> tuple[str, str]:
    """A new SSO session (the old one, if any, ends: no session fixation). Returns the cookie
    value and where to go next."""
    previous = current_session()
    if previous is not None:
        sessions.end(previous)
        db.session.commit()
    # Read before the session's commit expires the account's attributes (no reload).
    must_change, muted = account.must_change_password, account.is_muted
    noticed = account.lockout_notice_at is not None
    user_agent = request.headers.get("User-Agent")
    device, fresh = device_id()
    if fresh:
        g.idp_new_device = device  # set_cookie gives it to the browser with the session's
    device_hash = token_hash(device)
    if account.email and sessions.device_known(account, device_hash) is False:
        # R22: a security notice, in the sign-in's own transaction (sessions.create commits).
        outbox.send_email(
            "new_sign_in",
            account.email,
            account=account,
            when=utcnow(),
            device=user_agent,
            ip=client_ip(),
            sessions_url=issuer().rstrip("/") + "/account/sessions",
        )
    _, cookie = sessions.create(
        account,
        amr=amr,
        acr=acr_for(amr),
        user_agent=user_agent,
        ip=client_ip(),
        device_hash=device_hash,
    )
    session.pop(PENDING, None)
    target = next_url
    if must_change:
        target = url_for("account.password", next=next_url)
    if muted and not must_change:
        # R14: the first sign-ins of an unverified sub-account ask it to verify (it may skip).
        target = url_for("verify.start", next=target)
    # Told only once sign-in is complete, so a password-only intruder cannot consume it.
    locked_at = throttle.pop_lockout_notice(account) if noticed else None
    if locked_at is not None:
        session[NOTICE] = {"at": locked_at.isoformat(), "next": target}
        target = url_for("signin.lockout_notice")
    return cookie, target


def acr_for(amr: list[str]) -> str:
    """The session's ``acr``: "2" when two factors were shown (a password and an authenticator
    code, or a passkey: its ``amr`` says ``mfa``), else "1"."""
    return "2" if ("otp" in amr or "mfa" in amr) else "1"


def _finish(account: Account, amr: list[str], next_url: str):
    cookie, target = _start_session(account, amr, next_url)
    return set_cookie(redirect(target), cookie)


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _login_page(next=next_url, login=(request.args.get("login_hint") or "")[:80])
    login_name = (request.form.get("login") or "")[:100]
    password = request.form.get("password") or ""
    store, ip = kv(), client_ip()
    key = normalize(login_name.strip())[:100]
    try:
        throttle.check(store, key, ip)
        account = accounts.authenticate(login_name, password)
    except throttle.Throttled as exc:
        metrics.SIGNINS.labels("throttled").inc()
        return _login_error(exc.message, next_url, login_name, 429)
    except accounts.AccountNotActivated as exc:
        # R13: say why, and offer a new activation link (the password was right).
        return _login_page(error=exc.message, next=next_url, login=login_name, resend=True), 403
    except accounts.AccountDisabled as exc:
        return _login_error(exc.message, next_url, login_name, 403)
    except AuthenticationFailed as exc:
        metrics.SIGNINS.labels("failed").inc()
        if throttle.record_failure(store, key, ip):
            locked = _find_quietly(login_name)
            if locked is not None:
                throttle.note_lockout(locked)
                db.session.commit()
        return _login_error(exc.message, next_url, login_name, 401)
    throttle.record_success(store, key, ip)
    metrics.SIGNINS.labels("password_ok").inc()
    if totp.is_required(account):  # a second factor, or one required of its staff
        session[PENDING] = {"account": account.id, "at": time.time(), "next": next_url}
        return redirect(url_for("signin.second_factor"))
    return _finish(account, ["pwd"], next_url)


@bp.get("/login/notice")
def lockout_notice():
    """Brute-force protection: the account's holder is told of a lockout at the next sign-in."""
    notice = session.pop(NOTICE, None)
    if not notice or current_session() is None:
        return redirect("/")
    return render_template(
        "signin/lockout_notice.html",
        at=_parsed_time(notice.get("at")),
        next=safe_next(notice.get("next")),
    )


def _parsed_time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _find_quietly(login_name: str) -> Account | None:
    try:
        return accounts.find_by_login_name(login_name)
    except InvalidInput:
        return None


def _login_error(message, next_url: str, login_name: str, status: int):
    return _login_page(error=message, next=next_url, login=login_name), status


def _login_page(**context) -> str:
    """The sign-in page; on a development server it names the demo accounts (never in
    production or tests: issue 12). A browser already signed in is told as whom, with a way on
    and the form folded under "Use another account"."""
    demo = None
    if current_app.extensions["idp.settings"].env == "development":
        from idp.demo import OWNER_PASSWORD, STAFF

        demo = {"owner_password": OWNER_PASSWORD, "staff": STAFF[0][:2]}
    signed_in = _signed_in_as(context.get("next") or "/")
    return render_template("signin/login.html", demo=demo, signed_in=signed_in, **context)


def _signed_in_as(next_url: str) -> Account | None:
    """The account this browser is signed in as, unless a fresh sign-in is asked for: by an app
    (``prompt=login`` or ``max_age``: the authorize endpoint sends a signed-in browser here,
    coming back to itself, and the form must be there) or by ``?prompt=login`` on this page."""
    sso = current_session()
    if sso is None or request.args.get("prompt") == "login":
        return None
    if urlsplit(next_url).path == url_for("oauth.authorize"):
        return None
    return sso.account


def _pending_account() -> tuple[Account | None, dict]:
    pending = session.get(PENDING) or {}
    if not pending or time.time() - pending.get("at", 0) > PENDING_TTL:
        session.pop(PENDING, None)
        return None, {}
    account = db.session.get(Account, pending["account"])
    if account is None or not account.is_active:
        return None, {}
    return account, pending


def _enrolling_account() -> tuple[Account | None, dict, Response | None]:
    """The account of the password step, while it sets up its FIRST second factor (R19: its
    company requires one). An account that has one already proves it at ``/login/2fa``: were it
    allowed to set up another here, the password alone would stand in for the factor it has.
    Returns (account, pending, None), or (None, {}, where to send the browser instead)."""
    account, pending = _pending_account()
    if account is None:
        return None, {}, redirect(url_for("signin.login"))
    if second_factors.has_any(account):
        return None, {}, redirect(url_for("signin.second_factor"))
    return account, pending, None


@bp.route("/login/2fa", methods=["GET", "POST"])
def second_factor():
    account, pending = _pending_account()
    if account is None:
        return redirect(url_for("signin.login"))
    has_totp, has_passkey = totp.is_enrolled(account), passkeys.has_passkey(account)
    if not has_totp and not has_passkey:
        return redirect(url_for("signin.enrol"))

    def page(error=None):
        return render_template(
            "signin/second_factor.html",
            account=account,
            has_totp=has_totp,
            has_passkey=has_passkey,
            recovery=totp.has_recovery_codes(account),
            recovery_typed=bool(typed) and not typed.isdigit(),  # keep its field open
            error=error,
        )

    typed = (request.form.get("code") or "").strip()
    if request.method == "GET":
        return page()
    assertion = request.form.get("assertion") or ""
    if assertion:  # a passkey answered (static/js/passkeys.js)
        try:
            amr = passkeys.second_factor(
                account, ceremonies.take(passkeys.SECOND_FACTOR), assertion
            )
        except DomainError as exc:
            return page(exc.message), 401
        return _finish(account, amr, pending["next"])
    store, ip, key = kv(), client_ip(), throttle.second_factor_key(account)
    try:
        throttle.check(store, key, ip)  # 6-digit codes must not be guessable by brute force
        method = totp.verify(account, (request.form.get("code") or "")[:40])
    except throttle.Throttled as exc:
        return page(exc.message), 429
    except DomainError as exc:
        throttle.record_failure(store, key, ip)
        return page(exc.message), 401
    throttle.record_success(store, key, ip)
    return _finish(account, ["pwd", "otp" if method == "totp" else "rc"], pending["next"])


@bp.post("/login/2fa/cancel")
def second_factor_cancel():
    """Leave the second step: the password step is forgotten, the sign-in page shown again (for
    someone else, or after the wrong account was typed)."""
    pending = session.pop(PENDING, None) or {}
    return redirect(url_for("signin.login", next=safe_next(pending.get("next"))))


@bp.post("/login/2fa/passkey")
def second_factor_options():
    """The options of a passkey ceremony for the second step (the page's script asks)."""
    account, _pending = _pending_account()
    if account is None:
        return {"error": _("Sign in again: this step expired")}, 400
    return ceremonies.begin(passkeys.SECOND_FACTOR, account)


@bp.post("/login/passkey/options")
def passkey_options():
    """A passwordless ceremony: no account named, the authenticator offers its passkeys."""
    return ceremonies.begin(passkeys.PASSWORDLESS)


@bp.post("/login/passkey")
def passkey_sign_in():
    """Sign in with a passkey alone (discoverable credential, user verified). The account must
    be allowed to sign in as with a password; the same messages say why not."""
    next_url = safe_next(request.values.get("next"))
    try:
        account, amr = passkeys.sign_in(
            ceremonies.take(passkeys.PASSWORDLESS), request.form.get("assertion") or ""
        )
    except (accounts.AccountDisabled, accounts.AccountNotActivated) as exc:
        metrics.SIGNINS.labels("failed").inc()
        return _login_error(exc.message, next_url, "", 403)
    except DomainError as exc:
        metrics.SIGNINS.labels("failed").inc()
        return _login_error(exc.message, next_url, "", 401)
    metrics.SIGNINS.labels("passkey_ok").inc()
    return _finish(account, amr, next_url)


@bp.post("/login/2fa/enrol/passkey/options")
def enrol_passkey_options():
    """R19: a company that requires a second factor accepts a passkey too; the options to make
    one for the account that passed the password step."""
    account, _pending, elsewhere = _enrolling_account()
    if elsewhere is not None:
        return {"error": _("Sign in again: this step expired")}, 400
    return ceremonies.begin(passkeys.REGISTER, account)


@bp.post("/login/2fa/enrol/passkey")
def enrol_passkey():
    """Keep the passkey made at the forced enrolment, then use it: making a passkey proves
    nothing by itself ("none" attestation), so the second step asks for it like any other."""
    account, _pending, elsewhere = _enrolling_account()
    if elsewhere is not None:
        return elsewhere
    try:
        passkeys.finish_registration(
            account,
            ceremonies.take(passkeys.REGISTER),
            request.form.get("credential") or "",
            (request.form.get("name") or "")[:200],
        )
    except DomainError as exc:
        page = render_template(
            "signin/enrol.html",
            account=account,
            enrolment=totp.begin_enrolment(account, _pending_secret(account)),
            voluntary=False,
            passkey_error=exc.message,
        )
        return page, 400
    return redirect(url_for("signin.second_factor"))


ENROLMENT = "idp_totp_enrolment"  # in the signed Flask session: the secret being set up


def _pending_secret(account: Account) -> str | None:
    """The secret this browser is setting up for ``account``, until enrolment succeeds, is
    abandoned (``ENROLMENT_TTL``) or the person asks for a new one."""
    pending = session.get(ENROLMENT) or {}
    if pending.get("account") != account.public_id:
        return None
    if time.time() - pending.get("at", 0) > ENROLMENT_TTL:
        return None
    return pending.get("secret")


def _enrolment_step(
    account: Account,
    *,
    voluntary: bool,
    confirm=totp.confirm_enrolment,
    template: str = "signin/enrol.html",
    **context,
):
    """R19 enrolment, shared by the forced (sign-in) and voluntary (settings) pages: show the
    secret and QR code being set up, or confirm the code typed (``confirm(account, secret,
    code)``: the voluntary page's also checks the password). A wrong code or password keeps the
    secret (the app already holds it). Returns (recovery codes, None) once enrolled, else (None,
    the page to show: ``template``, given ``context`` too, e.g. the account centre's frame)."""
    secret = _pending_secret(account)
    error, field, status = None, None, 200
    if request.method == "POST":
        if request.form.get("action") == "restart":
            secret = None
        elif secret is None:
            error, status = _("This set-up expired. Scan the new code below."), 400
        else:
            try:
                codes = confirm(account, secret, (request.form.get("code") or "")[:12])
                session.pop(ENROLMENT, None)
                return codes, None
            except DomainError as exc:
                error, field, status = exc.message, exc.field, 400
    enrolment = totp.begin_enrolment(account, secret)
    if enrolment.secret != secret:
        session[ENROLMENT] = {
            "account": account.public_id,
            "secret": enrolment.secret,
            "at": time.time(),
        }
    page = render_template(
        template,
        account=account,
        enrolment=enrolment,
        voluntary=voluntary,
        error=error,
        field=field,
        **context,
    )
    return None, (page, status)


@bp.route("/login/2fa/enrol", methods=["GET", "POST"])
def enrol():
    """R19: the owner requires a second factor for all staff; this account has none yet."""
    account, pending, elsewhere = _enrolling_account()
    if elsewhere is not None:
        return elsewhere
    codes, page = _enrolment_step(account, voluntary=False)
    if page is not None:
        return never_cached(page)  # the secret and its QR code
    cookie, target = _start_session(account, ["pwd", "otp"], pending["next"])
    page = never_cached(render_template("signin/recovery_codes.html", codes=codes, next=target))
    return set_cookie(page, cookie)


def _verified_hint(id_token_hint: str) -> dict | None:
    """An ID token we issued (signature and issuer checked; it may have expired)."""
    head = jose_header(id_token_hint)
    if head is None:
        return None
    try:
        header = jwt.decode(
            id_token_hint,
            keyring().verifying_key(head.get("kid")),
            algorithms=["ES256", "RS256"],
        )
    except (JoseError, ValueError, TypeError):
        return None
    return header.claims if header.claims.get("iss") == issuer() else None


@bp.route("/oauth/logout", methods=["GET", "POST"])
def end_session():
    """OpenID Connect RP-Initiated Logout 1.0. ``post_logout_redirect_uri`` must be registered
    exactly for the client (named by ``client_id`` or the ``id_token_hint``'s audience)."""
    values = request.values
    hint = values.get("id_token_hint")
    claims = _verified_hint(hint) if hint else None
    if hint and claims is None:
        return render_template(
            "signin/logout.html", error=_("The logout request is not valid (unknown id_token_hint)")
        ), 400
    client_id = values.get("client_id") or (claims or {}).get("aud")
    if isinstance(client_id, list):
        client_id = client_id[0] if client_id else None
    client = (
        db.session.query(Client).filter_by(client_id=client_id).one_or_none() if client_id else None
    )
    redirect_uri = values.get("post_logout_redirect_uri")
    if redirect_uri and (client is None or redirect_uri not in client.post_logout_redirect_uris):
        return render_template(
            "signin/logout.html",
            error=_(
                "The app asked to come back to an address it has not registered; "
                "you were not signed out."
            ),
        ), 400
    sso = current_session()
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    hint_matches = (
        claims is not None and sso is not None and claims.get("sub") == sso.account.public_id
    )
    if sso is not None and not (hint_matches or confirmed):
        return render_template(
            "signin/logout.html",
            confirm=True,
            account=sso.account,
            client=client,
            params=values.to_dict(),
        )
    if sso is not None:
        sessions.end(sso)
        db.session.commit()
    if redirect_uri:
        state = values.get("state")
        target = redirect_uri + (
            ("&" if "?" in redirect_uri else "?") + "state=" + _quote(state) if state else ""
        )
        return clear_cookie(redirect(target))
    return clear_cookie(render_template("signin/logout.html", done=True))


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value[:500], safe="")


@bp.route("/stores", methods=["GET", "POST"])
def store_switcher():
    """R27: the account's stores by marketplace; choosing one switches the session's active
    store with no sign-in."""
    sso = current_session()
    if sso is None:
        return to_sign_in()
    from idp.oauth.store_context import choose

    error = None
    if request.method == "POST":
        try:
            sessions.switch_store(sso, request.form.get("store") or "")
            next_url = safe_next(request.form.get("next"), "")
            if next_url:
                return redirect(next_url)
        except DomainError as exc:
            error = exc.message
    account = sso.account
    active = choose(account, None, current_id=sso.active_store_id)
    by_marketplace: dict[str, list] = {}
    for store in account.stores:
        by_marketplace.setdefault(marketplace_name(store.marketplace), []).append(store)
    return render_template(
        "signin/stores.html",
        account=account,
        active=active,
        by_marketplace=by_marketplace,
        error=error,
        next=safe_next(request.args.get("next"), ""),
    ), 400 if error else 200


@bp.route("/account/2fa", methods=["GET", "POST"])
def second_factor_settings():
    """The old address of R19's settings: the account centre's second factors page now (a
    307 keeps a form posted to the old address a POST)."""
    if current_session() is None:
        return to_sign_in()
    target = "account.security_totp" if request.method == "POST" else "account.security"
    return redirect(url_for(target), 307 if request.method == "POST" else 302)
