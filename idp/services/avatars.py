"""Avatars (R20, issue 17): a JPEG of at most 3 MB, checked by decoding it, shown (``picture``
claim, ``/avatars/<id>.jpg``) only once approved.

- **Checks** (``decode``), each refusal with its own message: more than ``AVATAR_MAX_BYTES``
  (counted while reading, ``read_limited``), no JPEG whatever the name says (Pillow is allowed
  the JPEG decoder alone), a damaged or cut-off JPEG, a decompression bomb (more pixels than
  ``AVATAR_MAX_PIXELS``: Pillow's ``MAX_IMAGE_PIXELS`` is that, its warning an error), sides
  outside ``AVATAR_MIN_SIDE``..``AVATAR_MAX_SIDE``.
- **Copies.** The photo is turned upright by its EXIF orientation, cropped square and stored in
  ``AVATAR_SIZES``, as new JPEGs without EXIF (no GPS position, camera or date), ICC profile or
  comment. The upload itself is never kept.
- **Review.** A sub-account's photo waits for its owner (``queue``, ``approve``, ``reject`` with a
  reason; the person is emailed, ``avatar_reviewed``). A main account's is approved at once, unless
  the operator set ``IDP_AVATAR_REVIEW_MAIN``: then the operator reviews it (``idp avatars``).
  A new photo replaces one still waiting; approving one replaces the one shown; rejecting one
  leaves the one shown in place. Every step is audited (``avatar.*``).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from idp import clock
from idp.defaults import (
    AVATAR_JPEG_QUALITY,
    AVATAR_MAX_BYTES,
    AVATAR_MAX_PIXELS,
    AVATAR_MAX_SIDE,
    AVATAR_MIN_SIDE,
    AVATAR_QUEUE_MAX,
    AVATAR_REASON_MAX,
    AVATAR_SIZES,
    AVATAR_UPLOAD_WINDOW,
    AVATAR_UPLOADS_PER_WINDOW,
)
from idp.errors import Conflict, Forbidden, InvalidInput, NotFound, UploadLimited
from idp.extensions import db
from idp.i18n import _l
from idp.kv import kv
from idp.models import Account, Avatar
from idp.models.accounts import SUB
from idp.models.avatars import APPROVED, PENDING, REJECTED, REPLACED, WITHDRAWN
from idp.models.base import new_public_id, utcnow
from idp.services import audit, outbox, throttle, versions
from idp.services.authz import require_owner
from idp.services.avatar_storage import DatabaseStorage, storage
from idp.services.tx import transaction

# Pillow's decompression-bomb check (a warning above it, an error above twice it) uses ours.
Image.MAX_IMAGE_PIXELS = AVATAR_MAX_PIXELS
JPEG_START = b"\xff\xd8\xff"  # SOI and the first marker: what every JPEG begins with
READ_CHUNK = 64 * 1024
FIELD = "photo"

EMPTY = _l("Choose a photo to send.")
TOO_LARGE = _l(
    "The photo is larger than 3 MB. Choose a smaller one, or save it at a lower quality."
)
NOT_JPEG = _l(
    "This file is not a JPEG photo, whatever its name says. Choose a photo saved as JPEG (.jpg)."
)
DAMAGED = _l(
    "This JPEG is damaged or incomplete and cannot be read. Choose another photo, or save it again."
)
NO_SUCH_PHOTO = _l("No such photo waiting for review in your company")
ALREADY_REVIEWED = _l("This photo was already reviewed, or replaced by a newer one.")
REASON_MISSING = _l("Say why the photo is refused: the person reads it.")


def refused(message) -> InvalidInput:
    return InvalidInput(message, field=FIELD)


# --- the checks -------------------------------------------------------------------------------


def read_limited(stream, limit: int = AVATAR_MAX_BYTES) -> bytes:
    """The uploaded file's bytes; refused as soon as more than ``limit`` were read (the rest is
    never read: the route's body limit bounds it too)."""
    chunks, total = [], 0
    while chunk := stream.read(READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise refused(TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Photo:
    """A checked photo: its size once upright, and its square copies by side (JPEG bytes)."""

    width: int
    height: int
    copies: dict[int, bytes]


def decode(data: bytes) -> Photo:
    """Check ``data`` by decoding it (R20), and make the copies; ``InvalidInput`` (field
    ``photo``) with the reason otherwise."""
    if not data:
        raise refused(EMPTY)
    if len(data) > AVATAR_MAX_BYTES:
        raise refused(TOO_LARGE)
    looks_like_jpeg = data.startswith(JPEG_START)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=["JPEG"])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise refused(_bomb()) from None
        except (UnidentifiedImageError, SyntaxError, OSError, ValueError):
            raise refused(DAMAGED if looks_like_jpeg else NOT_JPEG) from None
        width, height = image.size
        if width * height > AVATAR_MAX_PIXELS:
            raise refused(_bomb())
        if not (
            AVATAR_MIN_SIDE <= width <= AVATAR_MAX_SIDE
            and AVATAR_MIN_SIDE <= height <= AVATAR_MAX_SIDE
        ):
            raise refused(
                _l(
                    "A photo must be %(low)d to %(high)d pixels wide and high; this one is "
                    "%(width)d × %(height)d.",
                    low=AVATAR_MIN_SIDE,
                    high=AVATAR_MAX_SIDE,
                    width=width,
                    height=height,
                )
            )
        largest = max(AVATAR_SIZES)
        try:
            # Decode at a reduced scale when the photo is large (the JPEG decoder's DCT scaling):
            # still every byte is read and checked, in a fraction of the memory.
            image.draft("RGB", (largest, largest))
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise refused(_bomb()) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise refused(DAMAGED) from None
    upright_width, upright_height = (height, width) if _turns(image) else (width, height)
    upright = upright.convert("RGB")
    copies = {
        size: _jpeg(ImageOps.fit(upright, (size, size), Image.Resampling.LANCZOS))
        for size in AVATAR_SIZES
    }
    return Photo(upright_width, upright_height, copies)


def _bomb():
    return _l(
        "This image has far too many pixels for a photo (more than %(megapixels)d million): it "
        "is refused as a decompression bomb.",
        megapixels=AVATAR_MAX_PIXELS // 1_000_000,
    )


def _turns(image: Image.Image) -> bool:
    """Whether the EXIF orientation turns the photo a quarter (5 to 8: width and height swap)."""
    return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)


def _jpeg(image: Image.Image) -> bytes:
    """A new JPEG of ``image`` with nothing but pixels: no EXIF, ICC profile or comment."""
    image.info = {}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=AVATAR_JPEG_QUALITY, optimize=True)
    return out.getvalue()


# --- sending and reviewing --------------------------------------------------------------------


def review_needed(account: Account) -> bool:
    """A sub-account's photo waits for its owner; a main account's only when the operator
    asked (``IDP_AVATAR_REVIEW_MAIN``): no one is above it otherwise."""
    return account.kind == SUB or current_app.extensions["idp.settings"].avatar_review_main


def count_upload(account: Account) -> None:
    """Count one upload of ``account`` in the shared store (every instance sees the count) and
    refuse it, ``UploadLimited``, past ``AVATAR_UPLOADS_PER_WINDOW`` in the window: before any
    decoding, which is what costs. A fixed window (the store's atomic INCR with its expiry)."""
    left = throttle.fixed_window(
        kv(),
        f"avatar:uploads:{account.public_id}",
        AVATAR_UPLOADS_PER_WINDOW,
        AVATAR_UPLOAD_WINDOW,
        clock.now().timestamp(),
    )
    if left is not None:
        raise UploadLimited(AVATAR_UPLOADS_PER_WINDOW, math.ceil(left))


def submit(account: Account, data: bytes) -> Avatar:
    """A new photo from ``account`` (R20), counted against the upload limit, checked, stored,
    and waiting for review or approved."""
    count_upload(account)
    photo = decode(data)
    avatar, dropped = _submit(account, photo, len(data))
    _drop_later(dropped)
    return avatar


@transaction
def _submit(account: Account, photo: Photo, size_bytes: int) -> tuple[Avatar, list[str]]:
    versions.lock(account)  # two uploads at once: the second withdraws the first's photo
    if not account.is_active:
        raise Forbidden(_l("This account is not active"))
    dropped = _withdraw_pending(account)
    avatar = Avatar(
        public_id=new_public_id("av"),
        account_id=account.id,
        company_id=account.company_id,
        status=PENDING,
        width=photo.width,
        height=photo.height,
        size_bytes=size_bytes,
    )
    db.session.add(avatar)
    for size, copy in photo.copies.items():
        storage().put(avatar.public_id, size, copy)
    audit.record(
        account,
        "avatar.submitted",
        company_id=account.company_id,
        target=account,
        photo=avatar.public_id,
        width=photo.width,
        height=photo.height,
        bytes=size_bytes,
    )
    if not review_needed(account):
        dropped += _approve(avatar, account, reviewer=account)
    return avatar, dropped


def _withdraw_pending(account: Account) -> list[str]:
    """A photo still waiting is replaced by the new one (only the newest is reviewed)."""
    waiting = db.session.scalars(
        select(Avatar).where(Avatar.account_id == account.id, Avatar.status == PENDING)
    ).all()
    for old in waiting:
        old.status = WITHDRAWN
    return _drop([old.public_id for old in waiting])


def forget(account: Account) -> None:
    """R4: the account is handed over: the previous holder's photo stops being its picture
    (``replaced``) and one still waiting is withdrawn, in the caller's transaction. Neither is
    served again (``served`` and ``waiting_copy`` serve an approved or a waiting photo only); the
    database's copies go now, a folder's or bucket's stay behind unreferenced."""
    _withdraw_pending(account)
    if account.picture_id:
        shown = db.session.scalars(
            select(Avatar).where(
                Avatar.public_id == account.picture_id, Avatar.account_id == account.id
            )
        ).one_or_none()
        if shown is not None:
            shown.status = REPLACED
            _drop([shown.public_id])
        account.picture_id = None


def queue(owner: Account) -> list[Avatar]:
    """The photos of the owner's staff waiting for review, oldest first (its company only)."""
    require_owner(owner)
    return list(
        db.session.scalars(
            select(Avatar)
            .join(Account, Account.id == Avatar.account_id)
            .where(
                Avatar.company_id == owner.company_id,
                Avatar.status == PENDING,
                Account.kind == SUB,
            )
            .order_by(Avatar.created_at, Avatar.id)
            .limit(AVATAR_QUEUE_MAX)
        )
    )


def operator_queue() -> list[Avatar]:
    """Main accounts' photos waiting for the operator (``IDP_AVATAR_REVIEW_MAIN``)."""
    return list(
        db.session.scalars(
            select(Avatar)
            .join(Account, Account.id == Avatar.account_id)
            .where(Avatar.status == PENDING, Account.kind != SUB)
            .order_by(Avatar.created_at, Avatar.id)
        )
    )


def _waiting(actor: Account, public_id: str, *, by_operator: bool) -> Avatar:
    """The photo ``public_id`` waiting for ``actor``'s review, locked for the review. The owner
    reviews its staff's; the operator (``by_operator``, acting for the company) its main
    account's. Another company's, or none, is not found."""
    require_owner(actor)
    if not isinstance(public_id, str) or len(public_id) > 40:
        raise NotFound(NO_SUCH_PHOTO)
    avatar = db.session.scalars(
        select(Avatar)
        .where(Avatar.public_id == public_id, Avatar.company_id == actor.company_id)
        .with_for_update()
    ).one_or_none()
    if avatar is None:
        raise NotFound(NO_SUCH_PHOTO)
    if avatar.account.kind != SUB and not by_operator:
        raise NotFound(NO_SUCH_PHOTO)
    if avatar.status != PENDING:
        raise Conflict(ALREADY_REVIEWED)
    return avatar


def approve(actor: Account, public_id: str, *, by_operator: bool = False) -> Avatar:
    """The owner approves a staff member's photo: it becomes the account's picture."""
    avatar, dropped = _approve_waiting(actor, public_id, by_operator)
    _drop_later(dropped)
    return avatar


@transaction
def _approve_waiting(actor: Account, public_id: str, by_operator: bool):
    avatar = _waiting(actor, public_id, by_operator=by_operator)
    dropped = _approve(avatar, avatar.account, reviewer=actor)
    _tell(avatar, approved=True)
    return avatar, dropped


def _approve(avatar: Avatar, account: Account, *, reviewer: Account) -> list[str]:
    """``avatar`` becomes ``account``'s picture; the one it showed is replaced."""
    dropped: list[str] = []
    if account.picture_id:
        shown = db.session.scalars(
            select(Avatar).where(Avatar.public_id == account.picture_id)
        ).one_or_none()
        if shown is not None:
            shown.status = REPLACED
            dropped = _drop([shown.public_id])
    avatar.status = APPROVED
    avatar.reviewed_at = utcnow()
    avatar.reviewed_by_id = reviewer.id
    account.picture_id = avatar.public_id
    audit.record(
        reviewer,
        "avatar.approved",
        company_id=account.company_id,
        target=account,
        photo=avatar.public_id,
    )
    return dropped


def reject(actor: Account, public_id: str, reason: str, *, by_operator: bool = False) -> Avatar:
    """The owner refuses a staff member's photo with a reason; the picture shown stays."""
    avatar, dropped = _reject(actor, public_id, check_reason(reason), by_operator)
    _drop_later(dropped)
    return avatar


@transaction
def _reject(actor: Account, public_id: str, reason: str, by_operator: bool):
    avatar = _waiting(actor, public_id, by_operator=by_operator)
    avatar.status = REJECTED
    avatar.reason = reason
    avatar.reviewed_at = utcnow()
    avatar.reviewed_by_id = actor.id
    audit.record(
        actor,
        "avatar.rejected",
        company_id=avatar.company_id,
        target=avatar.account,
        photo=avatar.public_id,
        reason=reason,
    )
    _tell(avatar, approved=False)
    return avatar, _drop([avatar.public_id])


def check_reason(reason) -> str:
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise InvalidInput(REASON_MISSING, field="reason")
    if len(reason) > AVATAR_REASON_MAX:
        raise InvalidInput(
            _l("A reason has at most %(num)d characters.", num=AVATAR_REASON_MAX), field="reason"
        )
    return reason


def _tell(avatar: Avatar, *, approved: bool) -> None:
    account = avatar.account
    if account.email:
        outbox.send_email(
            "avatar_reviewed",
            account.email,
            account=account,
            approved=approved,
            reason=avatar.reason,
        )


def _drop(public_ids: list[str]) -> list[str]:
    """Delete the copies of these photos: now, in the transaction, from the database; after the
    commit from a folder or bucket (returned), so that a failed commit loses nothing."""
    chosen = storage()
    if isinstance(chosen, DatabaseStorage):
        for public_id in public_ids:
            chosen.delete(public_id, AVATAR_SIZES)
        return []
    return public_ids


def _drop_later(public_ids: list[str]) -> None:
    for public_id in public_ids:
        storage().delete(public_id, AVATAR_SIZES)


# --- what is shown ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """What the account's photo card shows: the photo shown, the one waiting, the last refusal
    (when it is newer than both)."""

    shown: Avatar | None
    waiting: Avatar | None
    rejected: Avatar | None


def card(account: Account) -> Card:
    rows = db.session.scalars(
        select(Avatar)
        .where(Avatar.account_id == account.id, Avatar.status.in_((APPROVED, PENDING, REJECTED)))
        .order_by(Avatar.id.desc())
        .limit(10)
    ).all()
    shown = next((a for a in rows if a.public_id == account.picture_id), None)
    waiting = next((a for a in rows if a.status == PENDING), None)
    rejected = rows[0] if rows and rows[0].status == REJECTED else None
    return Card(shown, waiting, rejected)


def served(public_id: str, size: int) -> bytes | None:
    """The copy of an approved photo that is some account's picture; None otherwise."""
    if size not in AVATAR_SIZES:
        return None
    approved = db.session.scalar(
        select(Avatar.id).where(Avatar.public_id == public_id, Avatar.status == APPROVED)
    )
    return storage().get(public_id, size) if approved is not None else None


def waiting_copy(viewer: Account, public_id: str, size: int) -> bytes | None:
    """A photo waiting for review, for its own account or its company's owner only."""
    if size not in AVATAR_SIZES:
        return None
    avatar = db.session.scalars(
        select(Avatar).where(Avatar.public_id == public_id, Avatar.status == PENDING)
    ).one_or_none()
    if avatar is None or avatar.company_id != viewer.company_id:
        return None
    if avatar.account_id != viewer.id and not (viewer.is_main and avatar.account.kind == SUB):
        return None
    return storage().get(public_id, size)
