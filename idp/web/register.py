"""Self-registration and activation (R13), forgotten passwords (R17)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("register", __name__)
