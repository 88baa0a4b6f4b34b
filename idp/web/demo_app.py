"""A demo relying party, served by the provider itself in development only, so that ``make run``
offers a sign-in to try in a browser: /demo → sign in → the ID token's claims and userinfo.
It talks to the provider over real HTTP, exactly as a downstream app would."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
import urllib.request

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from idp.i18n import _

bp = Blueprint("demo_app", __name__, url_prefix="/demo")

CLIENT_ID = "demo-seller-center"
SECRET_FILE = "demo_client_secret"


def _issuer() -> str:
    return current_app.extensions["idp.settings"].issuer


def _secret() -> str:
    path = current_app.extensions["idp.settings"].instance_path / SECRET_FILE
    return path.read_text().strip() if path.exists() else ""


def _redirect_uri() -> str:
    return f"{_issuer()}/demo/callback"


@bp.get("/")
def start():
    verifier = secrets.token_urlsafe(48)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    session["demo"] = {"verifier": verifier, "state": state}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": _redirect_uri(),
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            "prompt": request.args.get("prompt", ""),
        }
    )
    return redirect(f"{url_for('oauth.authorize')}?{query}")


def _post(path: str, form: dict) -> dict:
    basic = base64.b64encode(f"{CLIENT_ID}:{_secret()}".encode()).decode()
    req = urllib.request.Request(
        f"{_issuer()}{path}",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 (own issuer)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def _get(path: str, token: str) -> dict:
    req = urllib.request.Request(f"{_issuer()}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 (own issuer)
        return json.load(response)


@bp.get("/callback")
def callback():
    pending = session.pop("demo", None) or {}
    if request.args.get("error"):
        return render_template(
            "demo/result.html", error=request.args.get("error_description") or request.args["error"]
        )
    if not pending or not secrets.compare_digest(
        request.args.get("state", ""), pending.get("state", "")
    ):
        return render_template("demo/result.html", error=_("State mismatch; start again")), 400
    tokens = _post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": request.args.get("code", ""),
            "redirect_uri": _redirect_uri(),
            "code_verifier": pending["verifier"],
        },
    )
    if "access_token" not in tokens:
        return render_template("demo/result.html", error=json.dumps(tokens)), 400
    payload = tokens["id_token"].split(".")[1]
    id_token = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    userinfo = _get("/oauth/userinfo", tokens["access_token"])
    return render_template(
        "demo/result.html",
        id_token=json.dumps(id_token, indent=2, ensure_ascii=False),
        userinfo=json.dumps(userinfo, indent=2, ensure_ascii=False),
        id_token_raw=tokens["id_token"],
    )
