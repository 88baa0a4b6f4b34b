"""Approved avatars (R20), served at a stable address of the provider: ``/avatars/<id>.jpg``
(512 px) and ``/avatars/<id>-128.jpg``. No sign-in (apps show them to anyone the app shows the
person to); the opaque id names one photo, whose content never changes, so it is cacheable and
its ETag is the id. A photo waiting for review, rejected or replaced is not found."""

from __future__ import annotations

import re

from flask import Blueprint, abort, make_response, request

from idp.defaults import AVATAR_CACHE_SECONDS, AVATAR_SIZES
from idp.oauth.claims import AVATAR_PATH
from idp.services import avatars

bp = Blueprint("avatars", __name__, url_prefix=AVATAR_PATH.rstrip("/"))

NAME = re.compile(r"(av_[0-9a-f]{20})(?:-([0-9]{2,4}))?\.jpg")


def jpeg_answer(data: bytes, etag: str, cache_control: str):
    """A JPEG as an image only (never sniffed into anything else), answered 304 when the
    browser holds it already."""
    response = make_response(data)
    response.headers["Content-Type"] = "image/jpeg"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = cache_control
    response.set_etag(etag)
    return response.make_conditional(request)


@bp.get("/<name>")
def photo(name: str):
    match = NAME.fullmatch(name)
    if match is None:
        abort(404)
    public_id, size = match.group(1), int(match.group(2) or AVATAR_SIZES[0])
    data = avatars.served(public_id, size)
    if data is None:
        abort(404)
    response = jpeg_answer(data, f"{public_id}-{size}", f"public, max-age={AVATAR_CACHE_SECONDS}")
    # Apps on other origins show it in their pages.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
