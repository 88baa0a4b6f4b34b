"""Self-registration and activation (R13), forgotten passwords (R17)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("register", __name__)

# Placeholders replaced by the registration work (R13, R17).
from flask import abort  # noqa: E402


@bp.route("/register", methods=["GET", "POST"])
def register():
    abort(501)


@bp.post("/register/resend")
def resend():
    abort(501)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    abort(501)
