"""R20 avatars (issue 17), with real files made by Pillow: a JPEG of at most 3 MB, checked by
decoding it, each refusal with its own message; the stored copies carry no EXIF; the picture is
shown (``picture`` claim, ``/avatars/<id>.jpg``) only once the owner approved it, and a later
rejected photo leaves the approved one in place. The owner's queue is its company's alone."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from idp.defaults import AVATAR_SIZES, AVATAR_UPLOADS_PER_WINDOW
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Account, AuditEvent, Avatar
from idp.services import avatars
from idp.services.avatar_storage import storage
from tests import avatar_files as files
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.smtp import smtp  # noqa: F401  (fixture)

TOO_LARGE = "larger than 3 MB"
NOT_JPEG = "is not a JPEG photo"
DAMAGED = "damaged or incomplete"
BOMB = "decompression bomb"
DIMENSIONS = "pixels wide and high"


@pytest.fixture
def shop(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice", email="alice@acme.example")
    return owner, alice


def signed_in(ctx, login: str):
    web = flow.browser(ctx)
    answer = flow.sign_in(web, login, PASSWORD)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    return web


def csrf(web, path: str = "/account/photo") -> str:
    page = web.get(path)
    assert page.status_code == 200, page.status_code
    return flow.form_fields(page.get_data(as_text=True))["csrf_token"]


def upload(web, data: bytes, name: str = "me.jpg", kind: str = "image/jpeg"):
    return web.post(
        "/account/photo",
        data={"csrf_token": csrf(web), "photo": (io.BytesIO(data), name, kind)},
        content_type="multipart/form-data",
    )


def refusal(answer) -> str:
    assert answer.status_code == 400, answer.status_code
    html = answer.get_data(as_text=True)
    found = re.search(r'<p class="error" role="alert">([^<]+)</p>', html)
    assert found, html[:2000]
    return found.group(1)


def pending_of(account: Account) -> Avatar:
    return db.session.query(Avatar).filter_by(account_id=account.id, status="pending").one()


# --- the checks (R20) -------------------------------------------------------------------------


def test_r20_a_valid_jpeg_of_2_9_mb_is_accepted_and_waits_for_review(ctx, shop):
    _, alice = shop
    data = files.noisy_jpeg(int(2.9 * files.MB))
    assert 2.85 * files.MB < len(data) < 3 * files.MB
    web = signed_in(ctx, "acme:alice")
    answer = upload(web, data)
    assert answer.status_code == 302
    page = web.get("/account/photo").get_data(as_text=True)
    assert "Waiting for review" in page
    avatar = pending_of(alice)
    assert avatar.size_bytes == len(data)
    assert db.session.get(Account, alice.id).picture_id is None


@pytest.mark.parametrize("megabytes", [3.1, 3.02])  # over the body limit; under it, over 3 MB
def test_r20_a_jpeg_over_3_mb_is_refused_with_its_message(ctx, shop, megabytes):
    data = files.noisy_jpeg(int(megabytes * files.MB), seed=2, tolerance=0.005)
    assert len(data) > 3 * files.MB
    web = signed_in(ctx, "acme:alice")
    assert TOO_LARGE in refusal(upload(web, data))
    assert db.session.query(Avatar).count() == 0


def test_r20_a_png_renamed_jpg_is_refused_with_its_message(ctx, shop):
    web = signed_in(ctx, "acme:alice")
    assert NOT_JPEG in refusal(upload(web, files.png(), name="me.jpg", kind="image/jpeg"))


def test_r20_a_truncated_jpeg_is_refused_with_its_message(ctx, shop):
    web = signed_in(ctx, "acme:alice")
    assert DAMAGED in refusal(upload(web, files.truncated()))


@pytest.mark.parametrize(
    "width,height",
    [(30_000, 30_000), (9_000, 6_000)],  # over Pillow's error; between its warning and error
)
def test_r20_a_decompression_bomb_is_refused_with_its_message(ctx, shop, width, height):
    data = files.bomb(width, height)
    assert len(data) < 10_000
    web = signed_in(ctx, "acme:alice")
    assert BOMB in refusal(upload(web, data))


@pytest.mark.parametrize("width,height", [(9_000, 40), (20, 20)])
def test_r20_dimensions_beyond_the_limits_are_refused_with_their_message(ctx, shop, width, height):
    web = signed_in(ctx, "acme:alice")
    message = refusal(upload(web, files.jpeg(width, height)))
    assert DIMENSIONS in message and f"{width} × {height}" in message


def test_r20_no_file_is_refused_with_a_message(ctx, shop):
    web = signed_in(ctx, "acme:alice")
    answer = web.post(
        "/account/photo", data={"csrf_token": csrf(web)}, content_type="multipart/form-data"
    )
    assert "Choose a photo" in refusal(answer)


def test_r20_each_refusal_has_its_own_message(ctx):
    messages = set()
    for data in (files.png(), files.truncated(), files.bomb(), files.jpeg(9_000, 40), b""):
        with pytest.raises(InvalidInput) as refused:
            avatars.decode(data)
        messages.add(str(refused.value).split(";")[0])
    assert len(messages) == 5


def test_r20_the_upload_form_is_csrf_protected(ctx, shop):
    web = signed_in(ctx, "acme:alice")
    answer = web.post(
        "/account/photo",
        data={"photo": (io.BytesIO(files.jpeg()), "me.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400
    assert db.session.query(Avatar).count() == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.sampled_from([b"", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"]),
    body=st.binary(max_size=4000),
)
def test_r20_fuzz_any_bytes_are_accepted_as_a_photo_or_refused_with_a_message(head, body):
    try:
        photo = avatars.decode(head + body)
    except InvalidInput as refused:
        assert refused.field == "photo"
    else:  # a real JPEG came out of it: its copies are JPEGs
        assert all(copy.startswith(b"\xff\xd8") for copy in photo.copies.values())


# --- the stored copies ------------------------------------------------------------------------


def test_r20_stored_copies_have_no_exif_and_are_upright(ctx, shop):
    _, alice = shop
    data = files.with_exif(300, 200, orientation=6)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the upload has GPS
    avatar = avatars.submit(alice, data)
    assert (avatar.width, avatar.height) == (200, 300)  # turned a quarter, as EXIF says
    for size in AVATAR_SIZES:
        copy = storage().get(avatar.public_id, size)
        image = Image.open(io.BytesIO(copy))
        assert image.format == "JPEG" and image.size == (size, size)
        assert not image.getexif() and "exif" not in image.info
        assert b"Exif" not in copy and b"Pixelphone" not in copy
        # The left (red) half of the sensor is the top once turned upright.
        top, bottom = image.getpixel((size // 2, 2)), image.getpixel((size // 2, size - 3))
        assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


# --- review and the picture claim -------------------------------------------------------------


def owner_post(web, path: str, **data):
    return web.post(path, data={"csrf_token": csrf(web, "/console/api-clients"), **data})


def test_r20_picture_appears_only_after_the_owner_approves_and_stays_after_a_rejection(ctx, shop):
    owner, alice = shop
    rp = flow.register()
    app_browser = flow.browser(ctx)

    def picture() -> tuple[str | None, str | None, str | None]:
        tokens = flow.token_set(app_browser, rp, login="acme:alice", password=PASSWORD)
        info = flow.userinfo(app_browser, tokens["access_token"]).get_json()
        id_token = flow.jwt_payload(tokens["id_token"])
        access = flow.jwt_payload(tokens["access_token"])
        return info.get("picture"), id_token.get("picture"), access.get("picture")

    assert picture() == (None, None, None)
    staff = signed_in(ctx, "acme:alice")
    assert upload(staff, files.jpeg(400, 400, color=(0, 160, 0))).status_code == 302
    first = pending_of(alice).public_id
    assert picture() == (None, None, None)  # waiting: not shown
    assert ctx.test_client().get(f"/avatars/{first}.jpg").status_code == 404

    boss = signed_in(ctx, "acme")
    queue = boss.get("/console/photos").get_data(as_text=True)
    assert first in queue and "acme:alice" in queue
    assert owner_post(boss, f"/console/photos/{first}/approve").status_code == 302
    url = f"http://localhost/avatars/{first}.jpg"
    assert picture() == (url, url, url)
    assert ctx.test_client().get(f"/avatars/{first}.jpg").status_code == 200

    assert upload(staff, files.jpeg(400, 400, color=(0, 0, 160))).status_code == 302
    second = pending_of(alice).public_id
    answer = owner_post(boss, f"/console/photos/{second}/reject", reason="Not a photo of you")
    assert answer.status_code == 302
    assert picture() == (url, url, url)  # the approved one stays
    assert ctx.test_client().get(f"/avatars/{first}.jpg").status_code == 200
    assert ctx.test_client().get(f"/avatars/{second}.jpg").status_code == 404
    card = staff.get("/account/photo").get_data(as_text=True)
    assert "Not a photo of you" in card and first in card
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert [a for a in actions if a.startswith("avatar.")] == [
        "avatar.submitted",
        "avatar.approved",
        "avatar.submitted",
        "avatar.rejected",
    ]


def test_r20_a_new_approved_photo_replaces_the_old_one_which_is_no_longer_served(ctx, shop):
    owner, alice = shop
    first = avatars.submit(alice, files.jpeg()).public_id
    avatars.approve(owner, first)
    second = avatars.submit(alice, files.jpeg(color=(1, 2, 3))).public_id
    avatars.approve(owner, second)
    assert db.session.get(Account, alice.id).picture_id == second
    assert avatars.served(first, 512) is None and avatars.served(second, 512)


def test_r20_two_uploads_at_once_leave_one_photo_waiting(ctx, shop):
    """Found in review: two uploads at once each withdrew the photos waiting before either
    committed, and both stayed waiting (two in the owner's queue). The account's row lock
    makes the second withdraw the first's."""
    import threading

    owner, alice = shop
    alice_id = alice.id
    photos = [files.jpeg(color=(10, 10, 10)), files.jpeg(color=(200, 10, 10))]
    barrier = threading.Barrier(2, timeout=30)
    sent: list[str] = []

    def submit(i: int) -> None:
        with ctx.app_context():
            account = db.session.get(Account, alice_id)
            barrier.wait()
            try:
                sent.append(avatars.submit(account, photos[i]).public_id)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(sent) == 2
    db.session.expire_all()
    waiting = db.session.query(Avatar).filter_by(account_id=alice_id, status="pending").all()
    assert len(waiting) == 1 and waiting[0].public_id in sent
    assert [a.public_id for a in avatars.queue(owner)] == [waiting[0].public_id]


def test_r20_a_rejection_needs_a_reason_shown_on_the_form(ctx, shop):
    _, alice = shop
    waiting = avatars.submit(alice, files.jpeg()).public_id
    boss = signed_in(ctx, "acme")
    answer = owner_post(boss, f"/console/photos/{waiting}/reject", reason="   ")
    assert "Say why" in refusal(answer)
    assert pending_of(alice).public_id == waiting


def test_r20_a_photo_reviewed_twice_is_refused_the_second_time(ctx, shop):
    owner, alice = shop
    waiting = avatars.submit(alice, files.jpeg()).public_id
    avatars.approve(owner, waiting)
    boss = signed_in(ctx, "acme")
    answer = owner_post(boss, f"/console/photos/{waiting}/reject", reason="late")
    assert answer.status_code == 409
    assert "already reviewed" in answer.get_data(as_text=True)


def test_r20_a_main_accounts_photo_is_approved_at_once(ctx, shop):
    owner, _ = shop
    avatar = avatars.submit(owner, files.jpeg())
    assert avatar.status == "approved"
    assert db.session.get(Account, owner.id).picture_id == avatar.public_id


def test_r20_with_review_for_main_accounts_the_operator_reviews_the_owners_photo(ctx, shop):
    owner, _ = shop
    settings_before = ctx.extensions["idp.settings"]
    ctx.extensions["idp.settings"] = replace(settings_before, avatar_review_main=True)
    try:
        avatar = avatars.submit(owner, files.jpeg())
        assert avatar.status == "pending"
        assert avatars.queue(owner) == []  # not the owner's to review
        with pytest.raises(avatars.NotFound):
            avatars.approve(owner, avatar.public_id)
        assert [a.public_id for a in avatars.operator_queue()] == [avatar.public_id]
        avatars.approve(owner, avatar.public_id, by_operator=True)
        assert db.session.get(Account, owner.id).picture_id == avatar.public_id
    finally:
        ctx.extensions["idp.settings"] = settings_before


def test_r20_the_account_is_emailed_when_its_photo_is_reviewed(ctx, shop, smtp):  # noqa: F811
    owner, alice = shop
    avatars.approve(owner, avatars.submit(alice, files.jpeg()).public_id)
    avatars.reject(owner, avatars.submit(alice, files.jpeg()).public_id, "Blurry")
    approved, rejected = smtp.wait_for(2)
    assert approved["To"] == rejected["To"] == "alice@acme.example"
    assert approved["Subject"] == "Your new photo is approved"
    assert rejected["Subject"] == "Your new photo was not approved"
    assert "Blurry" in rejected.get_body(("plain",)).get_content()


# --- tenants and R6 ---------------------------------------------------------------------------


def test_r20_tenants_never_see_or_review_each_others_photos(ctx, shop, make):
    _, alice = shop
    globex = make.company("globex")
    waiting = avatars.submit(alice, files.jpeg()).public_id
    other = signed_in(ctx, "globex")
    assert waiting not in other.get("/console/photos").get_data(as_text=True)
    assert other.get(f"/console/photos/{waiting}-512.jpg").status_code == 404
    token = csrf(other, "/console/api-clients")
    for action in ("approve", "reject"):
        answer = other.post(
            f"/console/photos/{waiting}/{action}", data={"csrf_token": token, "reason": "x"}
        )
        assert answer.status_code == 404
    assert avatars.queue(globex) == []
    assert pending_of(alice).public_id == waiting


def test_r20_r6_staff_have_no_review_queue(ctx, shop):
    _, alice = shop
    staff = signed_in(ctx, "acme:alice")
    assert staff.get("/console/photos").status_code == 403


def test_r20_a_waiting_photo_is_shown_to_its_account_and_owner_only(ctx, shop, make):
    owner, alice = shop
    make.staff(owner, "bob")
    waiting = avatars.submit(alice, files.jpeg()).public_id
    assert (
        signed_in(ctx, "acme:alice").get(f"/account/photo/waiting/{waiting}-128.jpg").status_code
        == 200
    )
    assert signed_in(ctx, "acme").get(f"/console/photos/{waiting}-128.jpg").status_code == 200
    assert (
        signed_in(ctx, "acme:bob").get(f"/account/photo/waiting/{waiting}-128.jpg").status_code
        == 404
    )


# --- serving ----------------------------------------------------------------------------------


def test_r20_an_approved_photo_is_served_cacheable_and_typed(ctx, shop):
    owner, alice = shop
    public_id = avatars.submit(alice, files.jpeg()).public_id
    avatars.approve(owner, public_id)
    client = ctx.test_client()
    for path, size in ((f"/avatars/{public_id}.jpg", 512), (f"/avatars/{public_id}-128.jpg", 128)):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "image/jpeg"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=" in answer.headers["Cache-Control"]
        assert Image.open(io.BytesIO(answer.data)).size == (size, size)
        again = client.get(path, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304 and not again.data
    for path in (f"/avatars/{public_id}-99.jpg", "/avatars/nothing.jpg", f"/avatars/{public_id}"):
        assert client.get(path).status_code == 404


def test_r20_the_operator_reviews_main_accounts_photos_with_the_idp_command(ctx, shop, run):
    owner, alice = shop
    settings_before = ctx.extensions["idp.settings"]
    ctx.extensions["idp.settings"] = replace(settings_before, avatar_review_main=True)
    try:
        first = avatars.submit(owner, files.jpeg()).public_id
        staff_photo = avatars.submit(alice, files.jpeg()).public_id
        listed = run("avatars", "pending").output
        assert first in listed and "acme" in listed and staff_photo not in listed
        run("avatars", "approve", first)
        assert db.session.get(Account, owner.id).picture_id == first
        second = avatars.submit(owner, files.jpeg()).public_id
        run("avatars", "reject", second, "--reason", "Logo, not a photo")
        assert db.session.get(Account, owner.id).picture_id == first
        assert "already reviewed" in run("avatars", "approve", second, code=1).output
        approved = db.session.query(AuditEvent).filter_by(action="avatar.approved").one()
        assert approved.actor.startswith("cli:")
    finally:
        ctx.extensions["idp.settings"] = settings_before


def test_r20_the_upload_route_refuses_a_body_over_its_limit_unread(ctx, shop):
    """Whatever the body holds (here 3.5 MB under another field's name), past 3 MB and the
    form's overhead the route stops reading and says the photo is too large."""
    web = signed_in(ctx, "acme:alice")
    answer = web.post(
        "/account/photo",
        data={"csrf_token": csrf(web), "other": (io.BytesIO(b"\0" * int(3.5 * files.MB)), "x")},
        content_type="multipart/form-data",
    )
    assert TOO_LARGE in refusal(answer)


def test_issue17_r20_uploads_are_limited_per_account_before_pillow_decodes(ctx, shop, clock):
    """Decoding costs CPU: past ``AVATAR_UPLOADS_PER_WINDOW`` uploads within the hour, every
    attempt counted (refused or not), an account's upload is refused with 429 before any
    decoding: a PNG is told the limit (Pillow would have said it is no JPEG) and a valid photo
    is not kept. Another account is not held; the next hour the account may send again."""
    _, alice = shop
    web = signed_in(ctx, "acme:alice")
    for _ in range(AVATAR_UPLOADS_PER_WINDOW):
        assert NOT_JPEG in refusal(upload(web, files.png(), name="me.png"))
    over = upload(web, files.png(), name="me.png")
    assert over.status_code == 429 and 0 < int(over.headers["Retry-After"]) <= 3600
    assert f"You sent {AVATAR_UPLOADS_PER_WINDOW} photos within an hour" in over.text
    assert NOT_JPEG not in over.text
    assert upload(web, files.jpeg()).status_code == 429
    assert db.session.query(Avatar).filter_by(account_id=alice.id).count() == 0

    assert upload(signed_in(ctx, "acme"), files.jpeg()).status_code == 302  # the owner's own
    clock.at(hours=1)
    assert upload(web, files.jpeg()).status_code == 302
    assert pending_of(alice)
