"""JSON API for owners and services: staff management (R6, R16), wallet checks (R15)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
