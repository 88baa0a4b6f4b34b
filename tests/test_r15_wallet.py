"""R15: one wallet password per company, for all of its stores. Only the main account sets or
changes it (R6), re-entering its login password and, when enrolled, a TOTP code; it must differ
from the login password. The wallet service checks it through ``POST /api/wallet/verify`` with a
client-credentials token; 5 wrong passwords in a row lock it for 15 minutes (by the injected
clock) and the owner is emailed; every set, change, failure and lock is audited, without secrets.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import pyotp
import pytest

from idp.errors import Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.models import Account, AuditEvent, Company, OutboxMessage, Store
from idp.models.base import utcnow
from idp.services import audit, passkeys, passwords, stores, totp, wallet
from tests import oidc_flow as flow
from tests.authenticator import Authenticator
from tests.factories import PASSWORD
from tests.test_r06_main_only import db_rows

WALLET_PW = "wallet secret 42"
OTHER_WALLET_PW = "another wallet secret"


# --- helpers ---------------------------------------------------------------------------------


class Clock:
    """``app.extensions["idp.clock"]``: a time the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(ctx):
    ticking = Clock(utcnow().replace(microsecond=0))
    ctx.extensions["idp.clock"] = ticking
    try:
        yield ticking
    finally:
        ctx.extensions.pop("idp.clock", None)


def snapshot() -> dict:
    """Every row of every table; outbox rows by id only (the delivery worker updates them)."""
    rows = db_rows()
    for volatile in ("outbox_messages", "logout_deliveries"):
        rows[volatile] = [row.id for row in rows[volatile]]
    # A session's "last seen" and address are noted after any page it opens (issue 17): not a
    # change the refused call made.
    rows["sso_sessions"] = [
        {k: v for k, v in row._mapping.items() if k not in ("last_seen_at", "ip")}
        for row in rows["sso_sessions"]
    ]
    db.session.rollback()
    return rows


def assert_unchanged(before: dict) -> None:
    after = snapshot()
    changed = {name: after[name] for name in before if after[name] != before[name]}
    assert not changed, f"a refused call wrote to the database: {changed}"


def enrol(account: Account) -> str:
    """TOTP for ``account``, enrolled one step ago so that the current code is still unused."""
    secret = totp.begin_enrolment(account).secret
    then = time.time() - 30
    totp.confirm_enrolment(account, secret, pyotp.TOTP(secret).at(then), now=then)
    return secret


def actions(company_id: int) -> list[str]:
    return [e.action for e in reversed(audit.events_for(company_id))]


def wallet_events(company_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return (
        db.session.query(AuditEvent)
        .filter(AuditEvent.company_id == company_id, AuditEvent.action.like("wallet.%"))
        .order_by(AuditEvent.id)
        .all()
    )


def company_of(account: Account) -> Company:
    db.session.expire_all()
    return db.session.get(Company, account.company_id)


def set_wallet(owner: Account, new: str = WALLET_PW, code: str | None = None) -> Company:
    return wallet.set_wallet_password(
        owner, current_password=PASSWORD, totp_code=code, new_password=new
    )


def check(store: Store, password: str) -> bool:
    return wallet.verify_wallet_password(store, password, client=None)


def locked_emails() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(kind="wallet_locked").all()


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def sg(owner, make) -> Store:
    return make.store(owner, "shopee-sg")


@pytest.fixture
def alice(owner, sg, make) -> Account:
    return make.staff(owner, "alice", stores_=[sg], email="alice@example.test")


# --- setting and changing --------------------------------------------------------------------


def test_r15_owner_sets_the_wallet_password_stored_with_argon2id(owner, clock):
    company = set_wallet(owner)
    assert company.wallet_password_hash.startswith("$argon2id$")
    assert WALLET_PW not in company.wallet_password_hash
    assert passwords.verify_password(company.wallet_password_hash, WALLET_PW)
    assert company_of(owner).wallet_password_set_at == clock.now
    assert actions(owner.company_id)[-1] == "wallet.set"


def test_r15_owner_changes_it_and_each_is_audited_without_secrets(owner, clock):
    set_wallet(owner)
    clock.advance(hours=1)
    set_wallet(owner, OTHER_WALLET_PW)
    company = company_of(owner)
    assert passwords.verify_password(company.wallet_password_hash, OTHER_WALLET_PW)
    assert not passwords.verify_password(company.wallet_password_hash, WALLET_PW)
    assert company.wallet_password_set_at == clock.now
    events = wallet_events(owner.company_id)
    assert [e.action for e in events] == ["wallet.set", "wallet.changed"]
    assert all(e.actor == "acme" and e.target_id == company.public_id for e in events)
    stored = json.dumps([e.details for e in events])
    for secret in (WALLET_PW, OTHER_WALLET_PW, PASSWORD):
        assert secret not in stored


@pytest.mark.parametrize("current", ["not my password", WALLET_PW, ""])
def test_r15_wrong_login_password_is_refused_and_nothing_changes(owner, current):
    before = snapshot()
    with pytest.raises(Forbidden) as refused:
        wallet.set_wallet_password(
            owner, current_password=current, totp_code=None, new_password=WALLET_PW
        )
    assert refused.value.field == "current_password"
    assert_unchanged(before)


def test_r15_must_differ_from_the_main_accounts_login_password(owner):
    before = snapshot()
    with pytest.raises(InvalidInput, match="differ from your login password") as refused:
        set_wallet(owner, PASSWORD)
    assert refused.value.field == "new_password"
    assert_unchanged(before)


@pytest.mark.parametrize("weak", ["short", "12345678901", "x" * 257])
def test_r15_wallet_password_follows_the_password_policy(owner, weak):
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        set_wallet(owner, weak)
    assert refused.value.field == "new_password"
    assert_unchanged(before)


@pytest.mark.parametrize("code", [None, "", "000000", "abcdef"])
def test_r15_owner_with_totp_needs_a_valid_code(owner, code):
    secret = enrol(owner)
    if code == "000000" and pyotp.TOTP(secret).now() == code:
        code = "111111"
    before = snapshot()
    with pytest.raises(Forbidden) as refused:
        set_wallet(owner, code=code)
    assert refused.value.field == "totp_code"
    assert_unchanged(before)
    set_wallet(owner, code=pyotp.TOTP(secret).now())
    assert actions(owner.company_id)[-1] == "wallet.set"


def test_r15_a_totp_code_is_not_accepted_twice(owner):
    secret = enrol(owner)
    code = pyotp.TOTP(secret).now()
    set_wallet(owner, code=code)
    with pytest.raises(Forbidden, match="wait for the next one"):
        set_wallet(owner, OTHER_WALLET_PW, code=code)
    assert passwords.verify_password(company_of(owner).wallet_password_hash, WALLET_PW)


def register_passkey(account: Account, device: Authenticator) -> None:
    ceremony = passkeys.begin_registration(account)
    passkeys.finish_registration(account, ceremony.id, device.create(ceremony.options), "Phone")


def by_passkey(owner: Account, device: Authenticator, new: str = WALLET_PW) -> Company:
    ceremony = passkeys.begin_authentication(passkeys.STEP_UP, owner)
    return wallet.set_wallet_password(
        owner,
        current_password=PASSWORD,
        totp_code=None,
        new_password=new,
        ceremony_id=ceremony.id,
        assertion=device.get(ceremony.options),
    )


def test_r15_r19_a_passkey_only_owner_needs_the_passkey(owner):
    """The account centre's step-up rule: a second factor whenever the owner has one, a passkey
    too (before, an owner without an authenticator app was asked for its password only)."""
    device = Authenticator("http://localhost")
    register_passkey(owner, device)
    before = snapshot()
    with pytest.raises(Forbidden, match="confirm with a passkey") as refused:
        set_wallet(owner)  # the password alone
    assert refused.value.field == "totp_code"
    ceremony = passkeys.begin_authentication(passkeys.STEP_UP, owner)
    forged = device.get(ceremony.options, challenge="bm90IHRoZSBjaGFsbGVuZ2U")
    with pytest.raises(Forbidden) as refused:  # an answer to another challenge
        wallet.set_wallet_password(
            owner,
            current_password=PASSWORD,
            totp_code=None,
            new_password=WALLET_PW,
            ceremony_id=ceremony.id,
            assertion=forged,
        )
    assert refused.value.field == "totp_code"
    assert_unchanged(before)
    by_passkey(owner, device)
    assert passwords.verify_password(company_of(owner).wallet_password_hash, WALLET_PW)
    (event,) = wallet_events(owner.company_id)
    assert event.action == "wallet.set" and event.details["second_factor"] is True


def test_r15_r19_a_recovery_code_stands_in_for_the_passkey(owner):
    register_passkey(owner, Authenticator("http://localhost"))
    recovery = totp.new_recovery_codes(owner)[0]
    set_wallet(owner, code=recovery)
    with pytest.raises(Forbidden):  # used up
        set_wallet(owner, OTHER_WALLET_PW, code=recovery)
    assert passwords.verify_password(company_of(owner).wallet_password_hash, WALLET_PW)


def test_r15_repeated_wrong_step_up_is_throttled(owner):
    """Sign-in's brute-force protection applies: from the 4th wrong password a wait, doubling."""
    for _ in range(3):
        with pytest.raises(Forbidden):
            wallet.set_wallet_password(
                owner, current_password="guess", totp_code=None, new_password=WALLET_PW
            )
    before = snapshot()
    with pytest.raises(wallet.StepUpThrottled, match="Try again in 1 second") as refused:
        set_wallet(owner)  # even the right password waits
    assert refused.value.status == 429
    assert_unchanged(before)


def test_r6_sub_account_cannot_set_or_change_the_wallet_password(owner, alice):
    """Whatever its role, and with its own correct password."""
    from idp.services import roles
    from idp.services.permissions import PERMISSIONS

    roles.create_role(owner, "Everything", list(PERMISSIONS))
    set_wallet(owner)
    before = snapshot()
    for new in (OTHER_WALLET_PW, "alice's wallet pw"):
        with pytest.raises(Forbidden, match="main account"):
            wallet.set_wallet_password(
                alice, current_password=PASSWORD, totp_code=None, new_password=new
            )
    assert_unchanged(before)


# --- checking: count, lock, unlock -----------------------------------------------------------


def test_r15_one_password_covers_every_store_of_the_company(owner, sg, make, clock):
    my = make.store(owner, "lazada-my")
    set_wallet(owner)
    assert check(sg, WALLET_PW) and check(my, WALLET_PW)
    assert not check(my, OTHER_WALLET_PW)
    other = make.company("globex")
    set_wallet(other, OTHER_WALLET_PW)
    assert not check(make.store(other, "shopee-sg"), WALLET_PW)


def test_r15_no_wallet_password_yet_is_a_clear_error(owner, sg, clock):
    with pytest.raises(wallet.WalletNotSet, match="not set a wallet password"):
        check(sg, WALLET_PW)


def test_r15_lock_engages_on_exactly_the_fifth_failure_and_lifts_after_15_minutes(owner, sg, clock):
    set_wallet(owner)
    for n in range(1, 5):
        assert check(sg, f"wrong {n}!") is False
        assert company_of(owner).wallet_failures == n
        assert company_of(owner).wallet_locked_until is None
    assert locked_emails() == []

    assert check(sg, "wrong 5!") is False  # the fifth: answered, and the lock engages
    locked_at = clock.now
    assert company_of(owner).wallet_locked_until == locked_at + timedelta(minutes=15)
    [email] = locked_emails()
    assert email.recipient == owner.email and email.account_id == owner.id
    assert "locked until" in email.text_body and sg.name in email.text_body

    for password in (WALLET_PW, "wrong 6!"):  # even the right password is refused
        with pytest.raises(wallet.WalletLocked, match="locked .* until") as refused:
            check(sg, password)
        assert refused.value.until == locked_at + timedelta(minutes=15)
        assert refused.value.status == 423
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(wallet.WalletLocked):
        check(sg, WALLET_PW)

    clock.advance(seconds=1)
    assert check(sg, WALLET_PW) is True
    assert company_of(owner).wallet_failures == 0
    assert len(locked_emails()) == 1


def test_r15_after_a_lock_the_count_starts_afresh(owner, sg, clock):
    set_wallet(owner)
    for n in range(5):
        check(sg, f"wrong {n}!")
    clock.advance(minutes=15)
    for n in range(4):
        assert check(sg, f"again {n}!") is False
    assert company_of(owner).wallet_locked_until <= clock.now  # the old lock, lifted
    assert check(sg, "again 5!") is False
    assert company_of(owner).wallet_locked_until == clock.now + timedelta(minutes=15)
    assert len(locked_emails()) == 2


def test_r15_a_success_resets_the_failure_count(owner, sg, clock):
    set_wallet(owner)
    for n in range(4):
        check(sg, f"wrong {n}!")
    assert check(sg, WALLET_PW) is True
    assert company_of(owner).wallet_failures == 0
    for n in range(4):
        check(sg, f"wrong {n}!")
    assert company_of(owner).wallet_locked_until is None
    assert check(sg, WALLET_PW) is True


def test_r15_the_lock_covers_every_store_of_the_company_only(owner, sg, make, clock):
    my = make.store(owner, "lazada-my")
    other = make.company("globex")
    set_wallet(owner)
    set_wallet(other, WALLET_PW)
    for n in range(5):
        check(sg, f"wrong {n}!")
    with pytest.raises(wallet.WalletLocked):
        check(my, WALLET_PW)
    assert check(make.store(other, "shopee-sg"), WALLET_PW) is True


def test_r15_changing_the_wallet_password_lifts_the_lock(owner, sg, clock):
    set_wallet(owner)
    for n in range(5):
        check(sg, f"wrong {n}!")
    set_wallet(owner, OTHER_WALLET_PW)
    assert check(sg, OTHER_WALLET_PW) is True


def test_r15_failures_and_the_lock_are_audited_without_secrets(owner, sg, clock):
    set_wallet(owner)
    for n in range(5):
        check(sg, f"wrong {n}!")
    with pytest.raises(wallet.WalletLocked):
        check(sg, WALLET_PW)
    events = wallet_events(owner.company_id)
    assert [e.action for e in events] == ["wallet.set"] + ["wallet.check_failed"] * 5 + [
        "wallet.locked",
        "wallet.check_refused_locked",
    ]
    assert [e.details["failures"] for e in events[1:6]] == [1, 2, 3, 4, 5]
    assert all(e.details["store"] == sg.public_id for e in events[1:])
    assert events[6].details["until"] == (clock.now + timedelta(minutes=15)).isoformat()
    stored = json.dumps([e.details for e in events])
    assert WALLET_PW not in stored and "wrong" not in stored


def _concurrently(app, count: int, store_id: int, password: str) -> list[str]:
    barrier = threading.Barrier(count, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        with app.app_context():
            store = db.session.get(Store, store_id)
            barrier.wait()
            try:
                result = "match" if check(store, password) else "failed"
            except wallet.WalletLocked:
                result = "locked"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_r15_concurrent_failures_each_count_once(ctx, owner, sg, clock):
    set_wallet(owner)
    outcomes = _concurrently(ctx, 4, sg.id, "wrong!")
    assert outcomes == ["failed"] * 4
    assert company_of(owner).wallet_failures == 4
    assert company_of(owner).wallet_locked_until is None


def test_r15_concurrent_failures_lock_exactly_once(ctx, owner, sg, clock):
    """12 wrong passwords at once: exactly 5 are counted, the fifth locks, the rest are refused;
    one email, one lock in the audit log."""
    set_wallet(owner)
    outcomes = _concurrently(ctx, 12, sg.id, "wrong!")
    assert sorted(outcomes) == ["failed"] * 5 + ["locked"] * 7
    assert len(locked_emails()) == 1
    audited = [e.action for e in wallet_events(owner.company_id)]
    assert audited.count("wallet.check_failed") == 5
    assert audited.count("wallet.locked") == 1
    assert company_of(owner).wallet_locked_until == clock.now + timedelta(minutes=15)


# --- POST /api/wallet/verify -----------------------------------------------------------------


def service_token(web, *, client_scope: str = "wallet:verify", scope: str | None = None) -> str:
    """A client-credentials token of a registered wallet service."""
    rp = flow.register("Wallet service", grant_types=["client_credentials"], scope=client_scope)
    data = {"grant_type": "client_credentials", "scope": scope or client_scope}
    response = web.post("/oauth/token", headers=rp.basic, data=data)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def verify(web, token: str | None, body, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, dict):
        kwargs["json"] = body
    else:
        kwargs["data"] = body
        kwargs.setdefault("content_type", "application/json")
    return web.post("/api/wallet/verify", headers=headers, **kwargs)


@pytest.fixture
def service(web) -> str:
    return service_token(web)


def test_r15_wallet_service_checks_a_password_for_a_store(web, service, owner, sg, clock):
    set_wallet(owner)
    right = verify(web, service, {"store": sg.public_id, "password": WALLET_PW})
    assert right.status_code == 200 and right.get_json() == {"match": True}
    assert right.headers["Cache-Control"] == "no-store"
    wrong = verify(web, service, {"store": sg.public_id, "password": "not it"})
    assert wrong.status_code == 200 and wrong.get_json() == {"match": False}
    [failed] = [e for e in wallet_events(owner.company_id) if e.action == "wallet.check_failed"]
    assert failed.details["client"] and failed.details["store"] == sg.public_id


def test_r15_api_answers_423_while_locked_then_matches_after_15_minutes(
    web, service, owner, sg, clock
):
    set_wallet(owner)
    for n in range(4):
        assert verify(web, service, {"store": sg.public_id, "password": f"no {n}"}).json == {
            "match": False
        }
    fifth = verify(web, service, {"store": sg.public_id, "password": "no 5"})
    assert fifth.status_code == 200 and fifth.get_json() == {"match": False}
    until = clock.now + timedelta(minutes=15)
    locked = verify(web, service, {"store": sg.public_id, "password": WALLET_PW})
    assert locked.status_code == 423
    body = locked.get_json()
    assert body["error"] == "wallet_locked"
    assert f"until {until:%Y-%m-%d %H:%M:%S} UTC" in body["error_description"]
    assert locked.headers["Retry-After"] == str(15 * 60)
    assert len(locked_emails()) == 1
    clock.advance(minutes=15)
    again = verify(web, service, {"store": sg.public_id, "password": WALLET_PW})
    assert again.status_code == 200 and again.get_json() == {"match": True}


def test_r15_api_unknown_or_deauthorized_store_is_404(web, service, owner, sg, make, clock):
    set_wallet(owner)
    unknown = verify(web, service, {"store": "st_doesnotexist", "password": WALLET_PW})
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not_found"
    gone = make.store(owner, "lazada-my")
    stores.deauthorize_store(owner, gone)
    refused = verify(web, service, {"store": gone.public_id, "password": WALLET_PW})
    assert refused.status_code == 404
    assert company_of(owner).wallet_failures == 0  # not counted against the company


def test_r15_api_wallet_not_set_is_409(web, service, sg):
    response = verify(web, service, {"store": sg.public_id, "password": WALLET_PW})
    assert response.status_code == 409 and response.get_json()["error"] == "wallet_not_set"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="array"),
        pytest.param("", id="empty"),
        pytest.param({"store": "STORE"}, id="no-password"),
        pytest.param({"password": WALLET_PW}, id="no-store"),
        pytest.param({"store": "STORE", "password": 12345678}, id="password-not-a-string"),
        pytest.param({"store": ["STORE"], "password": WALLET_PW}, id="store-not-a-string"),
        pytest.param({"store": "STORE", "password": "x" * 257}, id="password-too-long"),
        pytest.param({"store": "st_\x00", "password": WALLET_PW}, id="nul-in-store"),
        pytest.param({"store": "STORE", "password": WALLET_PW, "pad": "x" * 5000}, id="oversized"),
    ],
)
def test_r15_api_malformed_bodies_are_400_and_not_counted(web, service, owner, sg, body, clock):
    set_wallet(owner)
    if isinstance(body, dict):
        body = {k: (sg.public_id if v == "STORE" else v) for k, v in body.items()}
    response = verify(web, service, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_request"
    assert set(response.get_json()) >= {"error", "error_description"}
    assert company_of(owner).wallet_failures == 0


def test_r15_api_without_a_token_is_401_with_a_bearer_challenge(web, owner, sg):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = web.post(
            "/api/wallet/verify", json={"store": sg.public_id, "password": "x"}, headers=headers
        )
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "error=" not in response.headers["WWW-Authenticate"]  # RFC 6750 3.1


def test_r15_api_invalid_or_revoked_token_is_401_invalid_token(web, service, owner, sg):
    from idp.models import IssuedToken

    for token in ("not-a-jwt", service[:-4] + "AAAA"):
        response = verify(web, token, {"store": sg.public_id, "password": "x"})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    db.session.query(IssuedToken).update({"revoked_at": utcnow()})
    db.session.commit()
    response = verify(web, service, {"store": sg.public_id, "password": "x"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("client_scope", "scope"),
    [("openid", "openid"), ("openid wallet:verify", "openid")],
    ids=["client-without-the-scope", "token-without-the-scope"],
)
def test_r15_api_client_token_without_wallet_verify_is_refused(
    web, owner, sg, clock, client_scope, scope
):
    set_wallet(owner)
    token = service_token(web, client_scope=client_scope, scope=scope)
    response = verify(web, token, {"store": sg.public_id, "password": WALLET_PW})
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="wallet:verify"' in challenge
    assert company_of(owner).wallet_failures == 0


@pytest.mark.parametrize("login", ["acme", "acme:alice"])
def test_r15_api_user_token_is_refused_even_with_the_wallet_scope(
    web, owner, alice, sg, clock, login
):
    set_wallet(owner)
    rp = flow.register("Seller center", scope="openid profile wallet:verify")
    tokens = flow.token_set(web, rp, login=login, password=PASSWORD, scope="openid wallet:verify")
    assert "wallet:verify" in tokens["scope"].split()
    response = verify(web, tokens["access_token"], {"store": sg.public_id, "password": WALLET_PW})
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert "WWW-Authenticate" in response.headers
    assert company_of(owner).wallet_failures == 0


def test_r15_api_names_the_store_not_the_company(web, service, owner, sg, make, clock):
    """A store of another company is checked against that company's password, not this one's."""
    set_wallet(owner)
    globex = make.company("globex")
    set_wallet(globex, OTHER_WALLET_PW)
    theirs = make.store(globex, "shopee-sg")
    assert verify(web, service, {"store": theirs.public_id, "password": WALLET_PW}).json == {
        "match": False
    }
    assert verify(web, service, {"store": theirs.public_id, "password": OTHER_WALLET_PW}).json == {
        "match": True
    }


def test_r15_wallet_verify_scope_is_published(web):
    discovery = web.get("/.well-known/openid-configuration").get_json()
    assert "wallet:verify" in discovery["scopes_supported"]


def test_r15_store_for_check_refuses_odd_ids(ctx):
    for ident in ("", "x" * 41, None):
        with pytest.raises(NotFound):
            wallet.store_for_check(ident)
