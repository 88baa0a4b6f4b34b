"""Issue 6, item 3: shared state in the kv store (Redis when ``IDP_REDIS_URL`` is set; an
in-process store otherwise). Single-use markers refuse a second use of a code (RFC 6749 4.1.2), a
TOTP step or recovery code (R19), an activation link (R13), a password-reset link (R17) and a
verification code (R14) on any instance, in front of the database; a failed use takes its marker
back, so a legitimate retry works. SSO session lookups are cached and every change to a session
(logout, R16/R5 ending, R27's switcher, R10/R11 store removal) is seen by every instance at once.

Each test runs twice: on one app with the in-process store, and on two apps (two instances, as
behind a load balancer) over the same database and one Redis. "The marker alone" tests undo the
database's record of a use, so that only the shared marker stands in the way of a replay."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import replace

import pyotp
import pytest
from sqlalchemy import event, update

from idp.app import create_app, settings_of
from idp.errors import AuthenticationFailed, InvalidInput
from idp.extensions import db
from idp.kv import kv, store_for
from idp.models import (
    Account,
    AuthorizationCode,
    OutboxMessage,
    RecoveryCode,
    SsoSession,
    Store,
    VerificationCode,
)
from idp.models.base import utcnow
from idp.oauth import session_cache, sessions, shared_state
from idp.oauth.crypto import token_hash
from idp.services import passwords, registration, single_use, stores, totp, verification
from idp.services.registration import LinkRefused
from idp.services.verification import CodeRefused
from tests import oidc_flow as flow
from tests.apps import close

pytest_plugins = ["tests.oidc_fixtures"]  # owner, alice, rp

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NEW_PASSWORD = "a brand new password"
NOW = time.time()


@pytest.fixture(params=["memory", "redis"])
def instances(request, ctx):
    """Two instances: the test app twice (in-process store), or two apps over the same database
    and one Redis (a prefix of this test's own)."""
    if request.param == "memory":
        yield ctx, ctx
        return
    prefix = f"test-shared-{secrets.token_hex(4)}:"
    apps = []
    for _ in range(2):
        app = create_app(replace(settings_of(ctx), redis_url=REDIS_URL))
        app.extensions["idp.kv"] = store_for(REDIS_URL, prefix=prefix)
        apps.append(app)
    yield tuple(apps)
    for app in apps:
        close(app)
    client = apps[0].extensions["idp.kv"].client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def on(app, work, *args, **kwargs):
    """Run ``work`` as a request on ``app`` would: its own app context and database session."""
    with app.app_context():
        return work(*args, **kwargs)


def stored(app, key: str) -> str | None:
    """What the instance's kv store holds under ``key``."""
    return on(app, lambda: kv().get(key))


def account(public_id: str) -> Account:
    return db.session.query(Account).filter_by(public_id=public_id).one()


def undo(statement) -> None:
    """Change the database behind the services' back (to leave only the marker in the way)."""
    db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.commit()


# --- the mechanism -----------------------------------------------------------------------------


def test_a_marker_is_kept_by_a_commit_and_taken_back_by_a_rollback_or_an_unfinished_request(
    ctx, instances
):
    one, two = instances
    keys = [f"test:{secrets.token_hex(8)}" for _ in range(3)]

    def claim_then(key: str, end) -> bool:
        claimed = single_use.claim(key, 60)
        end()
        return claimed

    assert on(one, claim_then, keys[0], db.session.commit)
    assert on(one, claim_then, keys[1], db.session.rollback)
    assert on(one, claim_then, keys[2], lambda: None)  # the request ends without a commit
    assert on(two, lambda: [kv().get(key) for key in keys]) == ["1", None, None]
    assert not on(two, single_use.claim, keys[0], 60)
    assert on(two, single_use.claim, keys[1], 60)


# --- authorization codes (RFC 6749 4.1.2) ------------------------------------------------------


def test_a_code_replayed_at_the_other_instance_is_refused_by_its_marker_and_revokes(
    instances, rp, alice, make
):
    one, two = instances
    verifier, challenge = flow.pkce()
    code = flow.get_code(
        flow.browser(one), rp, challenge, login="acme:alice", password=make.PASSWORD
    )
    first = flow.exchange(flow.browser(one), rp, code, verifier)
    assert first.status_code == 200
    assert stored(two, f"code:{token_hash(code)}") == "1"
    undo(update(AuthorizationCode).values(used_at=None))  # only the marker is left
    replay = flow.exchange(flow.browser(two), rp, code, verifier)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    refreshed = flow.refresh(flow.browser(one), rp, first.get_json()["refresh_token"])
    assert refreshed.status_code == 400  # what the first use issued is revoked


def test_a_code_refused_for_a_wrong_verifier_still_works_at_the_other_instance(
    instances, rp, alice, make
):
    one, two = instances
    verifier, challenge = flow.pkce()
    code = flow.get_code(
        flow.browser(one), rp, challenge, login="acme:alice", password=make.PASSWORD
    )
    wrong = flow.exchange(flow.browser(one), rp, code, flow.pkce()[0])
    assert wrong.status_code == 400
    assert stored(two, f"code:{token_hash(code)}") is None  # taken back
    assert flow.exchange(flow.browser(two), rp, code, verifier).status_code == 200
    assert flow.exchange(flow.browser(one), rp, code, verifier).status_code == 400


# --- R19: TOTP steps and recovery codes --------------------------------------------------------


def enrolled(owner, make) -> tuple[str, str, list[str]]:
    """alice with a second factor: her public id, TOTP secret and recovery codes."""
    alice = make.staff(owner, "alice")
    secret = totp.begin_enrolment(alice).secret
    codes = totp.confirm_enrolment(alice, secret, pyotp.TOTP(secret).at(NOW), now=NOW)
    return alice.public_id, secret, codes


def verify_totp(public_id: str, code: str, when: float) -> str:
    return totp.verify(account(public_id), code, now=when)


def wrong_totp(secret: str, when: float) -> str:
    """Six digits that match no step in the accepted window."""
    valid = {pyotp.TOTP(secret).at(when + drift) for drift in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


def test_r19_a_totp_code_replayed_at_the_other_instance_is_refused_by_its_marker(
    instances, owner, make
):
    one, two = instances
    public_id, secret, _ = enrolled(owner, make)
    later = NOW + 60
    code = pyotp.TOTP(secret).at(later)
    with pytest.raises(AuthenticationFailed, match="not valid"):
        on(one, verify_totp, public_id, wrong_totp(secret, later), later)
    assert on(two, verify_totp, public_id, code, later) == "totp"  # after a wrong one
    assert stored(one, f"totp:{public_id}:{int(later // 30)}") == "1"
    undo(update(Account).where(Account.public_id == public_id).values(totp_last_step=None))
    with pytest.raises(AuthenticationFailed, match="wait for the next one"):
        on(one, verify_totp, public_id, code, later)


def test_r19_a_recovery_code_replayed_at_the_other_instance_is_refused_by_its_marker(
    instances, owner, make
):
    one, two = instances
    public_id, _, codes = enrolled(owner, make)
    with pytest.raises(AuthenticationFailed, match="not valid"):
        on(one, verify_totp, public_id, "aaaa-bbbb-cccc", NOW)
    assert on(two, verify_totp, public_id, codes[0], NOW) == "recovery"  # after a wrong one
    undo(update(RecoveryCode).values(used_at=None))
    with pytest.raises(AuthenticationFailed, match="not valid"):
        on(one, verify_totp, public_id, codes[0], NOW)
    assert on(one, verify_totp, public_id, codes[1], NOW) == "recovery"


# --- R13 activation and R17 password-reset links -----------------------------------------------


def emailed_token(kind: str) -> str:
    db.session.expire_all()
    row = db.session.query(OutboxMessage).filter_by(kind=kind).order_by(OutboxMessage.id).first()
    return re.search(r"http://localhost/\w+/(\S+)", row.text_body).group(1)


def test_r13_an_activation_link_reused_at_the_other_instance_is_refused_by_its_marker(
    ctx, instances
):
    one, two = instances
    registration.register_company("acme", email="owner@acme.example", password=NEW_PASSWORD)
    pending = db.session.query(Account).one()
    nonce, public_id = pending.activation_nonce, pending.public_id
    token = emailed_token("activation")
    on(one, lambda: registration.activate(token).public_id)
    undo(
        update(Account)
        .where(Account.public_id == public_id)
        .values(activation_nonce=nonce, status="pending")
    )
    with pytest.raises(LinkRefused) as refused:
        on(two, registration.activate, token)
    assert refused.value.reason == "used"


@pytest.fixture
def wallet_owner(owner):
    owner.company.wallet_password_hash = passwords.hash_password("the wallet secret")
    db.session.commit()
    return owner


def test_r17_a_reset_link_works_again_after_a_refused_password_and_then_never(
    instances, wallet_owner
):
    one, two = instances
    nonce_of = lambda: account(wallet_owner.public_id).password_reset_nonce  # noqa: E731
    registration.request_password_reset("acme")
    token, nonce = emailed_token("password_reset_link"), nonce_of()
    with pytest.raises(InvalidInput, match="wallet password"):  # R15, after the link was used
        on(one, registration.reset_password, token, "the wallet secret", "the wallet secret")
    on(two, lambda: registration.reset_password(token, NEW_PASSWORD, NEW_PASSWORD).id)
    undo(
        update(Account)
        .where(Account.public_id == wallet_owner.public_id)
        .values(password_reset_nonce=nonce)
    )
    with pytest.raises(LinkRefused) as refused:
        on(one, registration.reset_password, token, "another new password", "another new password")
    assert refused.value.reason == "used"


# --- R14 verification codes --------------------------------------------------------------------


def test_r14_a_verification_code_reused_at_the_other_instance_is_refused_by_its_marker(
    instances, owner, make
):
    one, two = instances
    bob = make.staff(owner, "bob", email="bob@acme.example", verified=False)
    verification.send_code(bob, "email")
    code = re.search(r"\b(\d{6})\b", emailed_body("verification_code")).group(1)
    wrong = "000000" if code != "000000" else "111111"

    def verify(typed: str) -> bool:
        return verification.verify_code(account(bob.public_id), typed).email_verified_at is not None

    with pytest.raises(CodeRefused, match="not correct"):
        on(one, verify, wrong)
    assert on(two, verify, code)  # after a wrong one
    undo(update(VerificationCode).values(used_at=None))
    with pytest.raises(CodeRefused, match="already used"):
        on(one, verify, code)


def emailed_body(kind: str) -> str:
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(kind=kind).one().text_body


# --- SSO session lookups -----------------------------------------------------------------------


def new_session(account_: Account) -> str:
    return sessions.create(account_, amr=["pwd"])[1]


def found(cookie: str) -> dict | None:
    """What ``sessions.find`` says about the cookie, as plain values."""
    session = sessions.find(cookie)
    if session is None:
        return None
    return {"id": session.id, "store": session.active_store_id, "login": session.account.login_name}


def session_queries(app, cookie: str) -> tuple[dict | None, list[str]]:
    """``found`` on ``app``, and the statements it sent that read ``sso_sessions``."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if "sso_sessions" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            return found(cookie), statements
        finally:
            event.remove(engine, "before_cursor_execute", record)


def test_a_cached_session_lookup_reads_no_sso_sessions_row(instances, alice):
    one, two = instances
    cookie = on(one, lambda: new_session(db.session.get(Account, alice.id)))
    key = session_cache.cache_key(token_hash(cookie))
    on(one, lambda: kv().delete(key))  # as if the cached row had expired
    first, queried = session_queries(one, cookie)
    assert first["login"] == "acme:alice" and len(queried) == 1
    assert stored(two, key).startswith("{")
    again, queried = session_queries(two, cookie)
    assert again == first and queried == []


def test_a_new_session_is_cached_as_it_is_created(instances, alice):
    """The browser comes straight back with the cookie (to /oauth/authorize): its first lookup,
    on any instance, reads no ``sso_sessions`` row (issue 6)."""
    one, two = instances
    cookie = on(one, lambda: new_session(db.session.get(Account, alice.id)))
    assert stored(two, session_cache.cache_key(token_hash(cookie))).startswith("{")
    first, queried = session_queries(two, cookie)
    assert first["login"] == "acme:alice" and queried == []


def silently(app, rp: flow.RP, cookie: str) -> dict[str, str]:
    """``prompt=none`` at ``app`` with the cookie: a code, or an error."""
    browser = flow.browser(app)
    browser.set_cookie("idp_sso", cookie)
    response = flow.authorize(browser, rp, flow.pkce()[1], prompt="none")
    return flow.query(flow.location(response))


def test_a_session_ended_through_one_instance_is_refused_by_the_other_at_once(instances, alice, rp):
    one, two = instances
    cookie = new_session(alice)
    assert "code" in silently(two, rp, cookie)
    assert on(two, found, cookie) is not None  # cached

    def log_out() -> None:
        sessions.end(sessions.find(cookie))  # the cached row, attached: its UPDATE is ordinary
        db.session.commit()

    on(one, log_out)
    assert on(two, found, cookie) is None
    assert silently(two, rp, cookie)["error"] == "login_required"
    db.session.expire_all()
    assert db.session.query(SsoSession).one().ended_at is not None


def test_r16_sessions_ended_by_the_owner_are_refused_by_the_other_instance(instances, owner, alice):
    one, two = instances
    cookie, actor, target = new_session(alice), owner.public_id, alice.public_id
    assert on(two, found, cookie) is not None
    on(one, lambda: sessions.end_sessions_by_owner(account(actor), account(target)))
    assert on(two, found, cookie) is None


def test_a_reader_between_a_change_and_its_commit_does_not_cache_the_old_row(instances, alice):
    one, two = instances
    cookie = new_session(alice)
    with one.app_context():
        session = sessions.find(cookie)
        session.ended_at = utcnow()
        db.session.flush()
        assert on(two, found, cookie) is not None  # not committed yet: still live
        assert stored(two, session_cache.cache_key(token_hash(cookie))) == shared_state.HELD
        db.session.commit()
    assert on(two, found, cookie) is None


def test_a_change_that_outlives_its_hold_is_held_again_when_it_commits(instances, alice):
    one, two = instances
    cookie = new_session(alice)
    key = session_cache.cache_key(token_hash(cookie))
    with one.app_context():
        session = sessions.find(cookie)
        session.ended_at = utcnow()
        db.session.flush()
        on(two, lambda: kv().delete(key))  # as if HOLD_TTL had passed before the commit
        assert on(two, found, cookie) is not None  # caches the row as committed so far
        assert stored(two, key).startswith("{")
        db.session.commit()
    assert stored(two, key) == shared_state.HELD
    assert on(two, found, cookie) is None


@pytest.fixture
def shop(owner, make):
    """alice holds two stores; her session; the second store's id."""
    sg, lz = make.store(owner, "shopee-sg"), make.store(owner, "lazada-sg")
    alice = make.staff(owner, "alice", stores_=[sg, lz])
    return new_session(alice), lz.id


def switch(cookie: str, store_id: int) -> None:
    sessions.switch_store(sessions.find(cookie), db.session.get(Store, store_id).public_id)


def cached_store(app, cookie: str) -> int | None:
    """The store of the session as ``app`` finds it, once the entry is cached (a change holds it
    for ``HOLD_TTL``: the hold is dropped as if that time had passed)."""
    key = session_cache.cache_key(token_hash(cookie))
    if stored(app, key) == shared_state.HELD:
        on(app, lambda: kv().delete(key))
    store = on(app, found, cookie)["store"]
    assert stored(app, key).startswith("{")
    return store


def test_r27_a_store_switch_through_one_instance_is_seen_by_the_other(instances, shop):
    one, two = instances
    cookie, lz = shop
    assert cached_store(two, cookie) is None
    on(one, switch, cookie, lz)
    assert on(two, found, cookie)["store"] == lz


@pytest.mark.parametrize("removal", ["batch", "deauthorize"])
def test_r10_r11_a_removed_store_is_seen_by_the_other_instance(instances, owner, shop, removal):
    one, two = instances
    (cookie, lz), actor = shop, owner.public_id
    on(one, switch, cookie, lz)
    assert cached_store(two, cookie) == lz

    def remove() -> None:
        owner_, store = account(actor), db.session.get(Store, lz)
        if removal == "batch":
            alice = db.session.query(Account).filter_by(name="alice").one()
            stores.assign_stores(owner_, [alice], [store], mode=stores.REMOVE)
        else:
            stores.deauthorize_store(owner_, store)

    on(one, remove)  # a bulk UPDATE of sso_sessions
    assert on(two, found, cookie)["store"] is None
