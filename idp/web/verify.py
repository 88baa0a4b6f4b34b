"""Verification of a phone or email with a one-time code, lifting the mute (R14)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("verify", __name__)
