"""R19: a TOTP second factor with recovery codes, never accepting a code twice (also when two
requests race with it); the owner can require it for all staff. R16: the owner resets a
sub-account's second factor."""

import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from idp.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.models import Account, RecoveryCode
from idp.services import audit, secrets_box, totp

NOW = time.time()


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


def wrong_code(secret: str, when: float) -> str:
    """A six-digit code that matches no step in the accepted window."""
    valid = {code_at(secret, when + drift) for drift in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def enrol(account: Account, *, when: float = NOW) -> tuple[str, list[str]]:
    secret = totp.begin_enrolment(account).secret
    return secret, totp.confirm_enrolment(account, secret, code_at(secret, when), now=when)


def actions(owner: Account) -> list[str]:
    return [e.action for e in audit.events_for(owner.company_id)]


def test_r19_enrolment_offers_a_secret_uri_and_qr_code(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    enrolment = totp.begin_enrolment(alice)
    uri = urlsplit(enrolment.otpauth_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Seller IdP:acme:alice"
    assert parse_qs(uri.query) == {"secret": [enrolment.secret], "issuer": ["Seller IdP"]}
    assert enrolment.qr_svg.startswith("<svg") and enrolment.qr_svg.rstrip().endswith("</svg>")
    assert not totp.is_enrolled(alice)  # nothing is stored before a code confirms it


def test_r19_confirming_with_a_code_enrols_and_returns_ten_recovery_codes(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    secret, codes = enrol(alice)
    assert totp.is_enrolled(alice) and totp.is_required(alice)
    assert alice.totp_enabled_at is not None
    assert alice.totp_last_step == int(NOW // 30)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 14 and c.count("-") == 2 for c in codes)
    stored = db.session.query(RecoveryCode).filter_by(account_id=alice.id).all()
    assert len(stored) == 10 and not {r.code_hash for r in stored} & set(codes)
    assert "account.totp_enabled" in actions(owner)
    with pytest.raises(Conflict, match="already on"):
        totp.begin_enrolment(alice)
    with pytest.raises(Conflict, match="already on"):
        totp.confirm_enrolment(alice, secret, code_at(secret, NOW + 30), now=NOW + 30)


def test_r19_secret_is_stored_encrypted(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    secret, _ = enrol(alice)
    db.session.expire_all()
    stored = db.session.get(Account, alice.id).totp_secret_encrypted
    assert stored != secret and secret not in stored
    assert secrets_box.decrypt(stored) == secret


def test_r19_wrong_code_does_not_enrol(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    secret = totp.begin_enrolment(alice).secret
    for code in (wrong_code(secret, NOW), code_at(secret, NOW - 90), "abcdef", ""):
        with pytest.raises(InvalidInput) as err:
            totp.confirm_enrolment(alice, secret, code, now=NOW)
        assert err.value.field == "code"
    with pytest.raises(InvalidInput, match="secret"):
        totp.confirm_enrolment(alice, "not base32!", code_at(secret, NOW), now=NOW)
    db.session.expire_all()
    assert not totp.is_enrolled(alice)
    assert db.session.query(RecoveryCode).count() == 0


def test_r19_sign_in_code_is_accepted_within_one_step_of_drift(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    secret, _ = enrol(alice)
    assert totp.verify(alice, code_at(secret, NOW + 60), now=NOW + 30) == "totp"  # phone ahead
    assert totp.verify(alice, code_at(secret, NOW + 90), now=NOW + 120) == "totp"  # phone behind
    with pytest.raises(AuthenticationFailed, match="^That code is not valid$"):
        totp.verify(alice, code_at(secret, NOW + 300), now=NOW + 180)
    spaced = code_at(secret, NOW + 300)
    assert totp.verify(alice, f" {spaced[:3]} {spaced[3:]} ", now=NOW + 300) == "totp"


def test_r19_a_code_is_never_accepted_twice(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    secret, _ = enrol(alice)
    with pytest.raises(AuthenticationFailed, match="wait for the next one"):
        totp.verify(alice, code_at(secret, NOW), now=NOW)  # the enrolment code itself
    later = NOW + 30
    assert totp.verify(alice, code_at(secret, later), now=later) == "totp"
    with pytest.raises(AuthenticationFailed, match="wait for the next one") as err:
        totp.verify(alice, code_at(secret, later), now=later + 10)
    assert err.value.field == "code"
    # nor an older code still inside the drift window
    with pytest.raises(AuthenticationFailed, match="wait for the next one"):
        totp.verify(alice, code_at(secret, NOW), now=later)
    assert totp.verify(alice, code_at(secret, later + 30), now=later + 30) == "totp"


def test_r19_two_concurrent_uses_of_one_code_are_accepted_once(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    secret, _ = enrol(alice)
    alice_id, app = alice.id, ctx
    when = NOW + 30
    code = code_at(secret, when)
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def use() -> None:
        with app.app_context():
            account = db.session.get(Account, alice_id)
            assert account.totp_secret_encrypted  # loaded before the race starts
            barrier.wait()
            try:
                result = totp.verify(account, code, now=when)
            except AuthenticationFailed as exc:
                result = "refused: " + exc.message
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused: That code is not valid; wait for the next one", "totp"]
    db.session.expire_all()
    assert db.session.get(Account, alice_id).totp_last_step == int(when // 30)


def test_r19_recovery_code_works_once_in_any_spelling(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    _, codes = enrol(alice)
    assert totp.verify(alice, codes[0]) == "recovery"
    with pytest.raises(AuthenticationFailed, match="^That code is not valid$"):
        totp.verify(alice, codes[0])
    assert totp.verify(alice, " " + codes[1].upper().replace("-", " ")) == "recovery"
    assert totp.verify(alice, codes[2].replace("-", "")) == "recovery"
    used = db.session.query(RecoveryCode).filter(RecoveryCode.used_at.isnot(None)).count()
    assert used == 3
    assert actions(owner).count("account.recovery_code_used") == 3
    event = audit.events_for(owner.company_id)[0]
    assert event.details == {"remaining": 7}
    assert codes[2] not in repr([e.details for e in audit.events_for(owner.company_id)])


def test_r19_recovery_codes_belong_to_one_account(ctx, make):
    owner = make.company("acme")
    alice, bob = make.staff(owner, "alice"), make.staff(owner, "bob")
    _, alice_codes = enrol(alice)
    enrol(bob)
    with pytest.raises(AuthenticationFailed):
        totp.verify(bob, alice_codes[0])
    assert totp.verify(alice, alice_codes[0]) == "recovery"


def test_r19_not_enrolled_account_has_nothing_to_verify(ctx, make):
    alice = make.staff(make.company("acme"), "alice")
    with pytest.raises(Conflict):
        totp.verify(alice, "123456")


def test_r19_owner_requires_a_second_factor_for_all_staff(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    assert not totp.is_required(alice) and not totp.is_required(owner)
    totp.set_required_for_staff(owner, True)
    assert totp.is_required(alice)  # alice must now enrol at sign-in
    assert not totp.is_required(owner)  # staff only; the owner decides for itself
    assert owner.company.require_totp
    with pytest.raises(Forbidden):
        totp.set_required_for_staff(alice, False)
    totp.set_required_for_staff(owner, False)
    assert not totp.is_required(alice)
    events = [e for e in audit.events_for(owner.company_id) if e.action == "company.totp_required"]
    assert [e.details["required"] for e in events] == [False, True]


def test_r16_owner_resets_a_staff_second_factor(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    _, codes = enrol(alice)
    totp.reset_totp(owner, alice)
    db.session.expire_all()
    alice = db.session.get(Account, alice.id)
    assert alice.totp_secret_encrypted is alice.totp_enabled_at is alice.totp_last_step is None
    assert db.session.query(RecoveryCode).filter_by(account_id=alice.id).count() == 0
    assert not totp.is_enrolled(alice)
    assert "subaccount.totp_reset" in actions(owner)
    with pytest.raises(Conflict, match="no second factor"):
        totp.reset_totp(owner, alice)
    secret, _ = enrol(alice)  # enrols again from scratch
    assert totp.verify(alice, code_at(secret, NOW + 30), now=NOW + 30) == "totp"


def test_r16_only_the_own_companys_owner_resets(ctx, make):
    owner = make.company("acme")
    alice, bob = make.staff(owner, "alice"), make.staff(owner, "bob")
    enrol(alice)
    enrol(owner)
    with pytest.raises(Forbidden):
        totp.reset_totp(bob, alice)
    with pytest.raises(Forbidden):
        totp.reset_totp(alice, alice)
    with pytest.raises(NotFound):
        totp.reset_totp(make.company("globex"), alice)
    with pytest.raises(Forbidden, match="main account"):
        totp.reset_totp(owner, owner)
    db.session.expire_all()
    assert totp.is_enrolled(db.session.get(Account, alice.id))
    assert totp.is_enrolled(db.session.get(Account, owner.id))


def test_r19_an_account_removes_its_own_second_factor_with_password_and_code(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    secret, _ = enrol(alice)
    later = NOW + 30
    with pytest.raises(Forbidden, match="password") as err:
        totp.disable_own(alice, "wrong password", code_at(secret, later), now=later)
    assert err.value.field == "password"
    with pytest.raises(AuthenticationFailed):
        totp.disable_own(alice, make.PASSWORD, wrong_code(secret, later), now=later)
    assert totp.is_enrolled(alice)
    totp.disable_own(alice, make.PASSWORD, code_at(secret, later), now=later)
    db.session.expire_all()
    assert not totp.is_enrolled(alice)
    assert db.session.query(RecoveryCode).filter_by(account_id=alice.id).count() == 0
    assert "account.totp_disabled" in actions(owner)
    with pytest.raises(Conflict):
        totp.disable_own(alice, make.PASSWORD, code_at(secret, later), now=later)


def test_r19_staff_cannot_remove_a_required_second_factor_but_the_owner_can(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    alice_secret, _ = enrol(alice)
    owner_secret, owner_codes = enrol(owner)
    totp.set_required_for_staff(owner, True)
    later = NOW + 30
    with pytest.raises(Forbidden, match="requires"):
        totp.disable_own(alice, make.PASSWORD, code_at(alice_secret, later), now=later)
    db.session.expire_all()
    assert totp.is_enrolled(db.session.get(Account, alice.id))
    # the owner is not staff; a recovery code also proves the second factor
    totp.disable_own(owner, make.PASSWORD, owner_codes[0])
    assert not totp.is_enrolled(db.session.get(Account, owner.id))
