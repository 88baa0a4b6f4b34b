"""Photos waiting for review (R20, issue 17): the staff's new avatars, oldest first; approve,
or reject with a reason (the person is emailed either way). The rules are in
``idp.services.avatars``; another company's photo is not found."""

from __future__ import annotations

from flask import abort, render_template

from idp.defaults import AVATAR_REASON_MAX, AVATAR_SIZES
from idp.errors import DomainError, NotFound
from idp.i18n import _
from idp.services import avatars
from idp.web.avatars import jpeg_answer
from idp.web.console import bp, done, form_text, owner


def _queue_page(*, error=None, failed: str | None = None, reason: str = "", status: int = 200):
    return render_template(
        "console/photos.html",
        owner=owner(),
        waiting=avatars.queue(owner()),
        reason_limit=AVATAR_REASON_MAX,
        error=error,
        failed=failed,
        reason=reason,
        section="photos",
    ), status


@bp.get("/photos")
def photos():
    return _queue_page()


@bp.post("/photos/<public_id>/approve")
def photo_approve(public_id: str):
    try:
        avatar = avatars.approve(owner(), public_id)
    except NotFound:
        raise
    except DomainError as exc:  # reviewed meanwhile (another tab)
        return _queue_page(error=exc.message, status=exc.status)
    return done(
        _(
            "The photo of %(name)s is approved and shown from now on.",
            name=avatar.account.login_name,
        ),
        "console.photos",
    )


@bp.post("/photos/<public_id>/reject")
def photo_reject(public_id: str):
    reason = form_text("reason", AVATAR_REASON_MAX + 1)
    try:
        avatar = avatars.reject(owner(), public_id, reason)
    except NotFound:
        raise
    except DomainError as exc:
        # A missing reason is shown on that photo's form; "reviewed meanwhile" above the queue.
        failed = public_id if exc.field == "reason" else None
        return _queue_page(error=exc.message, failed=failed, reason=reason, status=exc.status)
    return done(
        _(
            "The photo of %(name)s is rejected; they were told why. Their current photo stays.",
            name=avatar.account.login_name,
        ),
        "console.photos",
    )


@bp.get("/photos/<public_id>-<int:size>.jpg")
def photo_waiting(public_id: str, size: int):
    """A staff member's photo waiting for review: for this company's owner only, never cached."""
    data = avatars.waiting_copy(owner(), public_id, size if size in AVATAR_SIZES else -1)
    if data is None:
        abort(404)
    return jpeg_answer(data, f"{public_id}-{size}", "private, no-store")
