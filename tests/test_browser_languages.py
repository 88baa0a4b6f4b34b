"""Issue 13: every page of the product, rendered in Chinese in a real browser, holds no English
sentence. Each page is opened twice, by a browser whose language is English and by one whose
language is Chinese (``Accept-Language: zh-CN``, nothing else); no run of three or more English
words shown on the English page may be shown on the Chinese one, besides what people named (the
company, staff, stores, roles, apps: shown as typed) and protocol texts marked ``lang="en"``.
Pages showing an error are included: a wrong password, a locked name, an unactivated account,
an expired link, a refused store, a refused buyer app. At 1440 px, where the account centre's
pages also show every tab of their tab bar, in both languages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pyotp
import pytest

from idp.demo import OWNER_PASSWORD, STAFF, STORES, load_demo
from idp.extensions import db
from idp.models import Marketplace, OutboxMessage
from idp.oauth import clients
from idp.services import (
    accounts,
    api_clients,
    permissions,
    registration,
    stores,
    subscriptions,
    throttle,
    totp,
)
from tests import factories
from tests import oidc_flow as flow
from tests.languages import english_runs, has_chinese
from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.browser"]  # browser: Chromium through Playwright

ALICE = ("acme:alice", STAFF[0][1])
BOB = ("acme:bob", STAFF[1][1])  # muted (R14)
OWNER = ("acme", OWNER_PASSWORD)


@dataclass
class World:
    base: str
    seller: object  # a seller center (redirect_uri on the live server)
    partner: object  # a third-party app: consent
    amazon: object  # serves a marketplace alice holds no store in
    buyer: object  # a buyer app: refused to staff (R6)
    activation: str
    expired_activation: str
    reset: str
    names: set[str]
    counter: int = 0


def _link(kind: str) -> str:
    db.session.expire_all()
    row = (
        db.session.query(OutboxMessage)
        .filter_by(kind=kind)
        .order_by(OutboxMessage.id.desc())
        .first()
    )
    return re.search(r"https?://[^/]+(/(?:activate|reset)/[^\s?]+)", row.text_body).group(1)


@pytest.fixture
def world(ctx, clock, live_server):  # noqa: F811
    list(load_demo())

    def app(name, **options):
        client, _ = clients.create_client(
            name, redirect_uris=[f"{live_server}/rp/callback"], **options
        )
        return client

    seller = app("Seller center", client_uri="https://seller.example/")
    partner = app("Partner ERP", first_party=False)
    amazon = app("Amazon center", marketplaces=["amazon-us"])
    buyer = app("Buyer app", app_type="consumer")
    registration.register_company("newshop", email="owner@newshop.example", password="a long pw 1")
    activation = _link("activation")
    registration.register_company("oldshop", email="owner@oldshop.example", password="a long pw 1")
    expired = _link("activation")
    clock.at(minutes=2)  # one link a minute
    registration.invite_again(accounts.find_by_login_name("oldshop"))  # voids the first link
    registration.request_password_reset("acme")
    reset = _link("password_reset_link")
    names = {"acme", "newshop", "oldshop", "Acme Owner", "Seller ID"}
    names |= {s[2] for s in STORES} | {s[0] for s in STAFF}
    names |= {m.name for m in db.session.query(Marketplace)}
    names |= {"Seller center", "Partner ERP", "Amazon center", "Buyer app"}
    names |= set(permissions.TEMPLATES) | {"Customer Service", "Pre-sale", "After-sale"}
    return World(live_server, seller, partner, amazon, buyer, activation, expired, reset, names)


def sign_in(page, base: str, login: tuple[str, str]) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=login]", login[0])
    page.fill("input[name=password]", login[1])
    submit(page, "main button[type=submit]")


def submit(page, button) -> None:
    """Click a form's button (a selector or a locator) and return once the page it leads to
    has loaded. ``page.click`` returns when the navigation has at most committed, and
    ``wait_for_load_state`` right after it may still see the form's loaded page: the text read
    next, or a ``goto`` (which cancels the form's request), would race the new page."""
    with page.expect_navigation():
        if isinstance(button, str):
            page.click(button)
        else:
            button.click()


def authorize(world: World, client, **extra) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": f"{world.base}/rp/callback",
        "scope": "openid profile email",
        "state": "st-1",
        "code_challenge": flow.pkce()[1],
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{world.base}/oauth/authorize?{urlencode(params)}"


def visible_text(page) -> str:
    """The page's visible text, without what is marked as English on purpose (protocol
    descriptions) and without the language switcher (each language's own name)."""
    return page.evaluate(
        """() => {
            const copy = document.body.cloneNode(true);
            copy.querySelectorAll('[lang="en"], .lang-switch, code, pre').forEach(e => e.remove());
            return copy.innerText;
        }"""
    )


# Each page: who opens it, and how to get there (a Playwright page, the world).
Step = Callable[[object, World], None]


def go(path: str) -> Step:
    return lambda page, w: page.goto(w.base + path)


def failed_sign_in(login: str, password: str) -> Step:
    def step(page, w):
        page.goto(f"{w.base}/login")
        page.fill("input[name=login]", login)
        page.fill("input[name=password]", password)
        submit(page, "main button[type=submit]")

    return step


def locked_sign_in(page, w):
    for _ in range(throttle.LOCK_AFTER):
        throttle.record_failure(w.kv, "acme:carol", "203.0.113.1")
    failed_sign_in("acme:carol", "wrong")(page, w)


def submit_register_mismatch(page, w):
    page.goto(f"{w.base}/register")
    page.fill("input[name=company_name]", "mismatch")
    page.fill("input[name=email]", "o@mismatch.example")
    page.fill("input[name=password]", "a long password")
    page.fill("input[name=confirm_password]", "another long one")
    submit(page, "main button[type=submit]")


def forgot_sent(page, w):
    page.goto(f"{w.base}/forgot")
    page.fill("input[name=login]", "acme:alice")
    submit(page, "main button[type=submit]")


def enrol_wrong_code(page, w):
    page.goto(f"{w.base}/account/security/totp")
    page.fill("input[name=password]", ALICE[1])
    page.fill("input[name=code]", "000000")
    submit(page, page.locator("main form button[type=submit]").first)  # turn on


def fresh_staff(w, **facts):
    """A new staff member of acme for this run (a page that uses something up, per language)."""
    w.counter += 1
    name = f"temp{w.counter}"
    account = factories.staff(accounts.find_by_login_name("acme"), name)
    for key, value in facts.items():
        setattr(account, key, value)
    db.session.commit()
    return account, (f"acme:{name}", factories.PASSWORD)


def enrolled_staff(w):
    account, login = fresh_staff(w)
    secret = pyotp.random_base32()
    totp.confirm_enrolment(account, secret, pyotp.TOTP(secret).now())
    return account, login, pyotp.TOTP(secret)


def second_factor_step(page, w):
    _, login, _ = enrolled_staff(w)
    sign_in(page, w.base, login)  # lands on the code page


def second_factor_status(page, w):
    _, login, authenticator = enrolled_staff(w)
    sign_in(page, w.base, login)
    page.fill("input[name=code]", authenticator.at(time.time() + 30))  # the next step's code
    submit(page, page.locator("main button[type=submit]").first)  # the authenticator's form
    page.goto(f"{w.base}/account/security")


def recovery_codes(page, w):
    _, login = fresh_staff(w)
    sign_in(page, w.base, login)
    page.goto(f"{w.base}/account/security/totp")
    secret = page.inner_text("main code")
    page.fill("input[name=password]", login[1])
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    submit(page, page.locator("main form button[type=submit]").first)


def lockout_notice(page, w):
    account, login = fresh_staff(w)
    throttle.note_lockout(account)
    db.session.commit()
    sign_in(page, w.base, login)


def profile_code_waiting(page, w):
    """R20: a new email waits for the code sent to it (a fresh account: one code a minute)."""
    _, login = fresh_staff(w)
    sign_in(page, w.base, login)
    page.goto(f"{w.base}/account/profile")
    page.fill("input[name=email]", f"new{w.counter}@acme.example")
    step_up(page, login[1])
    submit(page, page.locator("#contact form button[type=submit]").first)


def profile_refused(page, w):
    """R3: another account's email, refused on the form."""
    page.goto(f"{w.base}/account/profile")
    page.fill("input[name=email]", "owner@acme.example")
    step_up(page, ALICE[1])
    submit(page, page.locator("#contact form button[type=submit]").first)


def step_up(page, password: str) -> None:
    """An email change asks for the password again (a stolen session must not move it)."""
    page.locator("#contact form").first.locator("input[name=password]").fill(password)


def registered(page, w):
    w.counter += 1
    page.goto(f"{w.base}/register")
    page.fill("input[name=company_name]", f"shop{w.counter}")
    page.fill("input[name=email]", f"o@shop{w.counter}.example")
    page.fill("input[name=password]", "a long password")
    page.fill("input[name=confirm_password]", "a long password")
    submit(page, "main button[type=submit]")


def activated(page, w):
    w.counter += 1
    registration.register_company(
        f"fresh{w.counter}", email=f"o@fresh{w.counter}.example", password="a long pw 1"
    )
    page.goto(w.base + _link("activation"))
    submit(page, "main button[type=submit]")


def reset_done(page, w):
    w.counter += 1
    factories.company(f"reset{w.counter}")
    registration.request_password_reset(f"reset{w.counter}")
    page.goto(w.base + _link("password_reset_link"))
    page.fill("input[name=new_password]", "a brand new password")
    page.fill("input[name=confirm_password]", "a brand new password")
    submit(page, "main button[type=submit]")


def owner_resets_bob(page, w):
    bob = accounts.find_by_login_name("acme:bob")
    page.goto(f"{w.base}/console/staff/{bob.public_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    submit(page, page.locator("form[action$='/reset-password'] button"))


def api_clients_listed(page, w):
    """Issue 16: the owner's API clients, one in use and one revoked."""
    owner = accounts.find_by_login_name("acme")
    w.counter += 1
    api_clients.create(owner, f"ERP {w.counter}")
    revoked, _ = api_clients.create(owner, f"HR {w.counter}")
    api_clients.revoke(owner, revoked.client_id)
    api_clients.create_scim(owner, f"Okta {w.counter}")  # issue 19: its token's date, New token
    page.goto(f"{w.base}/console/api-clients")


def api_client_created(page, w):
    """Issue 16: the page that shows a new API client's secret once."""
    w.counter += 1
    page.goto(f"{w.base}/console/api-clients")
    page.fill("input[name=name]", f"Sync {w.counter}")
    submit(page, page.locator("main form button[type=submit]").first)


def scim_client_created(page, w):
    """Issue 19: the page that shows a new SCIM client's endpoint and SCIM token once."""
    w.counter += 1
    page.goto(f"{w.base}/console/api-clients")
    page.fill("input[name=name]", f"Entra {w.counter}")
    page.select_option("select[name=kind]", "scim")
    submit(page, page.locator("main form button[type=submit]").first)


def _waiting_photo(login: str) -> None:
    from idp.services import avatars
    from tests.avatar_files import jpeg

    avatars.submit(accounts.find_by_login_name(login), jpeg(300, 300))


def photo_waiting(page, w):
    """R20: the account's photo card with a photo waiting for review."""
    _waiting_photo("acme:alice")
    page.goto(f"{w.base}/account/photo")


def inquiries_card(page, w):
    """R24: the overview's inquiries card of a staff member given a store that spreads them."""
    from idp.services import inquiries

    store = accounts.find_by_login_name("acme:alice").stores[0]
    inquiries.set_store_rules(
        accounts.find_by_login_name("acme"), store, enabled=True, group_id=None
    )
    db.session.commit()
    page.goto(f"{w.base}/account")


def photos_queue(page, w):
    """R20: the owner's queue of staff photos waiting for review."""
    _waiting_photo("acme:alice")
    page.goto(f"{w.base}/console/photos")


def to_console(path: str) -> Step:
    """A console page about alice or the SG store (ids looked up when the page is opened)."""

    def step(page, w):
        owner = accounts.find_by_login_name("acme")
        alice = accounts.find_by_login_name("acme:alice").public_id
        sg = stores.get_store(owner, "shopee-sg/1001").public_id
        page.goto(w.base + path.format(alice=alice, sg=sg))

    return step


def unsubscribe_link(click: bool) -> Step:
    """R22: alice's one-click link for a trade dispute, opened without signing in; ``click``
    confirms it (her subscription is put back first, so each language sees the same page)."""

    def step(page, w):
        alice = accounts.find_by_login_name("acme:alice")
        alice.email_opt_out = []
        db.session.commit()
        token = subscriptions.unsubscribe_token(alice, kind_id="event_trade_dispute")
        page.goto(f"{w.base}/unsubscribe/{token}")
        if click:
            submit(page, "main button[type=submit]")

    return step


PAGES: dict[str, tuple[tuple[str, str] | None, Step]] = {
    "sign-in": (None, go("/login")),
    "sign-in-wrong-password": (None, failed_sign_in("acme:alice", "not the password")),
    "sign-in-locked": (None, locked_sign_in),
    "sign-in-unactivated": (None, failed_sign_in("oldshop", "a long pw 1")),
    "register": (None, go("/register")),
    "register-error": (None, submit_register_mismatch),
    "resend": (None, go("/register/resend")),
    "forgot": (None, go("/forgot")),
    "forgot-staff": (None, forgot_sent),
    "activate": (None, lambda page, w: page.goto(w.base + w.activation)),
    "activation-replaced": (None, lambda page, w: page.goto(w.base + w.expired_activation)),
    "activation-damaged": (None, go("/activate/not-a-real-link")),
    "reset": (None, lambda page, w: page.goto(w.base + w.reset)),
    "signed-out": (None, go("/oauth/logout")),
    "not-found": (None, go("/no/such/page")),
    "bad-app-request": (None, go("/oauth/authorize?client_id=nope&response_type=code")),
    "start-staff": (ALICE, go("/")),
    "stores-staff": (ALICE, go("/stores")),
    "password": (ALICE, go("/account/password")),
    "enrol": (ALICE, go("/account/security/totp")),
    "security": (ALICE, go("/account/security")),
    "enrol-wrong-code": (ALICE, enrol_wrong_code),
    "preferences": (ALICE, go("/account/preferences")),
    "privacy": (ALICE, go("/account/privacy")),  # R21
    "console-refused": (ALICE, go("/console/staff")),
    "sign-out-confirm": (ALICE, go("/oauth/logout")),
    "consent": (ALICE, lambda page, w: page.goto(authorize(w, w.partner))),
    "store-refused": (ALICE, lambda page, w: page.goto(authorize(w, w.amazon))),
    "buyer-app-refused": (ALICE, lambda page, w: page.goto(authorize(w, w.buyer))),
    "verify-muted": (BOB, go("/verify")),
    "start-owner": (OWNER, go("/")),
    "console-staff": (OWNER, go("/console/staff")),
    "console-stores": (OWNER, go("/console/stores")),
    "console-wallet": (OWNER, go("/console/wallet")),
    "console-password-shown": (OWNER, owner_resets_bob),
    "console-staff-filtered": (OWNER, go("/console/staff?status=all&q=a")),
    "console-new-sub-account": (OWNER, go("/console/staff/new")),
    "console-staff-member": (OWNER, to_console("/console/staff/{alice}")),
    "console-hand-over": (OWNER, to_console("/console/staff/{alice}/hand-over")),
    "console-deauthorize-preview": (OWNER, to_console("/console/stores/{sg}/deauthorize")),
    "console-operators": (OWNER, to_console("/console/stores/{sg}/operators")),
    "console-roles": (OWNER, go("/console/roles")),
    "console-groups": (OWNER, go("/console/groups")),
    "console-notifications": (OWNER, go("/console/notifications")),
    "console-company": (OWNER, go("/console/company")),
    "console-audit": (OWNER, go("/console/audit")),
    "console-api-clients": (OWNER, api_clients_listed),
    "console-api-client-created": (OWNER, api_client_created),
    "console-scim-client-created": (OWNER, scim_client_created),
    "preferences-owner": (OWNER, go("/account/preferences")),
    "privacy-owner": (OWNER, go("/account/privacy")),
    "profile": (ALICE, go("/account/profile")),
    "profile-refused": (ALICE, profile_refused),
    "profile-code-waiting": (None, profile_code_waiting),
    "profile-owner": (OWNER, go("/account/profile")),
    "apps": (ALICE, go("/account/apps")),
    "apps-owner": (OWNER, go("/account/apps")),
    "subscriptions": (ALICE, go("/account/subscriptions")),
    "subscriptions-owner": (OWNER, go("/account/subscriptions")),
    "unsubscribe": (None, unsubscribe_link(click=False)),
    "unsubscribed": (None, unsubscribe_link(click=True)),
    "unsubscribe-refused": (None, go("/unsubscribe/not-a-real-link")),
    "account": (ALICE, inquiries_card),
    "account-owner": (OWNER, go("/account")),
    "sessions": (ALICE, go("/account/sessions")),
    "sign-in-signed-in": (ALICE, go("/login?next=/account")),
    "account-photo": (ALICE, photo_waiting),
    "account-photo-owner": (OWNER, go("/account/photo")),
    "console-photos": (OWNER, photos_queue),
    "second-factor": (None, second_factor_step),
    "second-factor-status": (None, second_factor_status),
    "recovery-codes": (None, recovery_codes),
    "lockout-notice": (None, lockout_notice),
    "registered": (None, registered),
    "activated": (None, activated),
    "reset-done": (None, reset_done),
}


DESKTOP = {"width": 1440, "height": 900}

# The account centre's tab bar: every tab inside the bar (no sideways scroll in it, none cut off:
# the English bar was wider than the page at 1440 px) and the page no wider than the window.
TABS_FIT = """() => {
    const bar = location.pathname.startsWith('/account') && document.querySelector('main nav');
    if (!bar) return null;
    const box = bar.getBoundingClientRect();
    const cut = [...bar.querySelectorAll('a')].filter(a => {
        const r = a.getBoundingClientRect();
        return r.right > box.right + 1 || r.left < box.left - 1 || r.right > window.innerWidth;
    }).map(a => a.innerText);
    return {cut, scrolls: bar.scrollWidth > bar.clientWidth,
            page: document.documentElement.scrollWidth > window.innerWidth};
}"""


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_in_chinese_holds_no_english_sentence(browser, world, live_app, name):  # noqa: F811
    login, step = PAGES[name]
    world.kv = live_app.extensions["idp.kv"]  # the served app's own store (locking a name)
    shown = {}
    for language in ("en-US", "zh-CN"):
        context = browser.new_context(locale=language, viewport=DESKTOP)
        page = context.new_page()
        try:
            if login:
                sign_in(page, world.base, login)
            step(page, world)
            page.wait_for_load_state()
            tabs = page.evaluate(TABS_FIT)
            if tabs is not None:  # an account centre's page (issue 17)
                assert tabs == {"cut": [], "scrolls": False, "page": False}, (language, tabs)
            shown[language] = (visible_text(page), page.locator("html").get_attribute("lang"))
        finally:
            context.close()
    (english, english_lang), (chinese, chinese_lang) = shown["en-US"], shown["zh-CN"]
    assert (english_lang, chinese_lang) == ("en", "zh-Hans")
    assert len(english_runs(english, world.names)) >= 1, english  # the page said something
    left = english_runs(chinese, world.names) & english_runs(english, world.names)
    assert left == set(), f"English left on the Chinese {name} page: {sorted(left)}"
    assert has_chinese(chinese), chinese
