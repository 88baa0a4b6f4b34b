"""The account's photo (R20, issue 17): the photo card (``account/_photo_card.html``, which the
profile page includes) and, until that page exists, a page of its own at ``/account/photo``.
``POST /account/photo`` sends a new photo; ``/account/photo/waiting/<id>.jpg`` shows the
account its own photo while it waits for review. The rules are in ``idp.services.avatars``."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from idp.defaults import AVATAR_FORM_OVERHEAD, AVATAR_MAX_BYTES, AVATAR_SIZES
from idp.errors import DomainError, UploadLimited
from idp.i18n import _
from idp.models.avatars import APPROVED
from idp.services import avatars
from idp.web import errors
from idp.web.account import bp
from idp.web.avatars import jpeg_answer
from idp.web.sso import current_session, to_sign_in

PHOTO_BODY_LIMIT = AVATAR_MAX_BYTES + AVATAR_FORM_OVERHEAD


@bp.url_value_preprocessor
def limit_photo_body(endpoint, values):
    """The upload's request may be at most ``PHOTO_BODY_LIMIT`` bytes: set before anything
    reads the form (the CSRF check does, in a before_request), so a larger body is refused
    unread (a Content-Length over it) or as soon as the limit is passed (a chunked one)."""
    if endpoint == "account.photo" and request.method == "POST":
        request.max_content_length = PHOTO_BODY_LIMIT


@bp.errorhandler(RequestEntityTooLarge)
def photo_too_large(exc):
    """An upload over the limit is told so on the photo form (400), like every other refusal."""
    if request.endpoint != "account.photo":
        return errors.http_answer(exc)
    sso = current_session()
    if sso is None:
        return to_sign_in()
    return _page(sso.account, error=avatars.TOO_LARGE, status=400)


def _page(account, *, error=None, status: int = 200):
    return render_template(
        "account/photo.html",
        section="profile",
        account=account,
        photo_error=error,
    ), status


@bp.app_context_processor
def photo_card():
    """What ``account/_photo_card.html`` shows, for whichever page includes it."""
    return {
        "photo_card": avatars.card,
        "photo_limit_mb": AVATAR_MAX_BYTES // (1024 * 1024),
        "photo_review_main": lambda: current_app.extensions["idp.settings"].avatar_review_main,
    }


@bp.route("/photo", methods=["GET", "POST"])
def photo():
    account = g.account
    if request.method == "GET":
        return _page(account)
    upload = request.files.get("photo")
    try:
        if upload is None or not upload.filename:
            raise avatars.refused(avatars.EMPTY)
        data = avatars.read_limited(upload.stream)
        avatar = avatars.submit(account, data)
    except UploadLimited as exc:
        html, status = _page(account, error=exc.message, status=exc.status)
        return html, status, {"Retry-After": str(exc.retry_after)}
    except DomainError as exc:
        return _page(account, error=exc.message, status=400)
    if avatar.status == APPROVED:
        flash(_("Your new photo is shown from now on."), "success")
    else:
        flash(
            _("Your photo was sent. It is shown once your company's owner approves it."), "success"
        )
    return redirect(_card_page())


def _card_page() -> str:
    """Where the photo card is: the profile page once this build has it, else its own page."""
    if "account.profile" in current_app.view_functions:
        return url_for("account.profile") + "#photo"
    return url_for("account.photo")


@bp.get("/photo/waiting/<public_id>-<int:size>.jpg")
def waiting_photo(public_id: str, size: int):
    """The account's own photo while it waits for review (not cached: private, short-lived)."""
    data = avatars.waiting_copy(g.account, public_id, size if size in AVATAR_SIZES else -1)
    if data is None:
        abort(404)
    return jpeg_answer(data, f"{public_id}-{size}", "private, no-store")
