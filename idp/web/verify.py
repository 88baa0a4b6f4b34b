"""Verification of a phone or email with a one-time code, lifting the mute (R14)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("verify", __name__)

# Placeholder replaced by the verification work (R14).
from flask import redirect, request  # noqa: E402


@bp.route("/verify", methods=["GET", "POST"])
def start():
    return redirect(request.args.get("next") or "/")
