"""R20 in Chromium: a staff member sends a photo through the file picker of /account/photo, the
owner approves it in the console's Photos queue, and the staff member's page then shows it
(served from /avatars/, as the ``picture`` claim says)."""

from __future__ import annotations

from idp.extensions import db
from idp.models import Account, Avatar
from tests import avatar_files as files
from tests.factories import PASSWORD
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)
from tests.test_browser_journeys import sign_in

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright


def signed_in_page(browser, base: str, login: str):
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    sign_in(page, login, PASSWORD)
    page.wait_for_url(f"{base}/")
    return page


def test_r20_the_owner_approves_a_staff_photo_in_the_console_queue(
    browser,
    make,
    live_server,  # noqa: F811
    tmp_path,
):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    photo = tmp_path / "alice.jpg"
    photo.write_bytes(files.with_exif(400, 300))

    staff = signed_in_page(browser, live_server, "acme:alice")
    staff.goto(f"{live_server}/account/photo")
    staff.set_input_files("input[name=photo]", str(photo))
    with staff.expect_navigation():
        staff.click("text=Send the photo")
    staff.wait_for_selector("text=Waiting for review")
    db.session.expire_all()
    waiting = db.session.query(Avatar).filter_by(account_id=alice.id).one()
    assert waiting.status == "pending"

    boss = signed_in_page(browser, live_server, "acme")
    boss.goto(f"{live_server}/console/photos")
    assert boss.locator(".console-nav a[aria-current=page]").inner_text() == "Photos"
    card = boss.locator(".review-list .card", has_text="acme:alice")
    assert card.locator("img").evaluate("img => img.naturalWidth") == 512  # the waiting photo
    with boss.expect_navigation():
        card.locator("button", has_text="Approve").click()
    boss.wait_for_selector("text=is approved and shown from now on")
    assert boss.locator(".review-list").count() == 0

    db.session.expire_all()
    assert db.session.get(Account, alice.id).picture_id == waiting.public_id
    staff.goto(f"{live_server}/account/photo")
    shown = staff.locator("img.avatar.large")
    assert shown.get_attribute("src") == f"/avatars/{waiting.public_id}.jpg"
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 512
