"""Owner console pages: staff credentials (R16), the wallet password (R15); main only (R6)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")
