"""Hardening headers on every answer of the Flask pages (issue 12): no framing (clickjacking of
the consent, sign-out and console buttons), no MIME sniffing, no referrer (pages and redirects
carry codes, tokens and links in their URLs), and a Content-Security-Policy that the pages meet:
styles and scripts only from this origin's ``/static/``, never inline. HSTS in production.

The machine endpoints (``idp.web.direct``) answer JSON and set ``nosniff`` themselves."""

from __future__ import annotations

from flask import Flask

from idp.defaults import HSTS_MAX_AGE

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        # No form-action: Chromium applies it to the redirects after a form is posted, and
        # signing in ends with a redirect to the app's own (registered) address.
    )
)
HSTS = f"max-age={HSTS_MAX_AGE}; includeSubDomains"
HARDENING = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    headers = dict(HARDENING)
    if app.extensions["idp.settings"].is_production:
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def harden(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


def never_cached(answer):
    """A view's answer that shows a secret once (a TOTP secret and its QR code, recovery codes,
    a client secret or token): ``Cache-Control: no-store``, so that neither the browser's back
    button nor a proxy brings it back."""
    from flask import make_response

    response = make_response(answer)
    response.headers["Cache-Control"] = "no-store"
    return response
