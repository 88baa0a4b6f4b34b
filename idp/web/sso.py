"""The browser side of the SSO session: reading and setting its cookie, the ``next`` URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, g, make_response, redirect, request, url_for

from idp.defaults import MAX_NEXT
from idp.models import Account, SsoSession
from idp.oauth import sessions
from idp.oauth.config import SESSION_COOKIE, SESSION_TTL


def current_session() -> SsoSession | None:
    if "idp_sso" not in g:
        g.idp_sso = sessions.find(request.cookies.get(SESSION_COOKIE))
    return g.idp_sso


def current_account() -> Account | None:
    session = current_session()
    return session.account if session else None


def viewer_account() -> Account | None:
    """The signed-in account for the pages' top bar; None when signed out, and when it cannot
    be read (an error page during an outage must still render)."""
    try:
        return current_account()
    except Exception:
        return None


def here() -> str:
    """This page's path and query, to come back to (the language switcher), when short enough."""
    try:
        path = request.full_path.rstrip("?")
    except UnicodeDecodeError:  # a query string that is no UTF-8: the page is an error anyway
        return request.path
    return path if len(path) <= MAX_NEXT else request.path


def init_app(app) -> None:
    app.jinja_env.globals["viewer_account"] = viewer_account
    app.jinja_env.globals["here"] = here


def set_cookie(response, value: str):
    settings = current_app.extensions["idp.settings"]
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_TTL,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="Lax",
        path="/",
    )
    return response


def clear_cookie(response):
    """End the SSO cookie on ``response`` (a response, or what a view may return: a page's text)."""
    response = make_response(response)
    settings = current_app.extensions["idp.settings"]
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="Lax"
    )
    return response


def to_sign_in(back: str | None = None):
    """The redirect to the sign-in page, coming back to ``back`` (default: this request) when it
    is a local path short enough to carry."""
    back = (request.full_path.rstrip("?") if back is None else back) or "/"
    target = url_for("signin.login", next=back) if len(back) <= MAX_NEXT else None
    return redirect(target or url_for("signin.login"))


def safe_next(url: str | None, default: str = "/") -> str:
    """Only local paths: never an open redirect."""
    if not url or len(url) > MAX_NEXT:
        return default
    parts = urlsplit(url)
    if (
        parts.scheme
        or parts.netloc
        or not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
    ):
        return default
    return url


def client_ip() -> str:
    return request.remote_addr or "unknown"
