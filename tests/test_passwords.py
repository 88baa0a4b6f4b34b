"""Password hashing: argon2id at no less than OWASP's minimum, rehashed on sign-in."""

from argon2 import PasswordHasher, Type, extract_parameters

from idp.extensions import db
from idp.services import accounts, passwords


def test_hashes_are_argon2id_at_an_owasp_configuration(ctx, make):
    params = extract_parameters(make.company("acme").password_hash)
    assert params.type is Type.ID
    assert (params.memory_cost, params.time_cost) in passwords.OWASP_CONFIGURATIONS
    assert params.parallelism == 1


def test_weaker_hash_is_upgraded_at_sign_in(ctx, make):
    owner = make.company("acme")
    owner.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(make.PASSWORD)
    db.session.commit()
    accounts.authenticate("acme", make.PASSWORD)
    db.session.expire_all()
    params = extract_parameters(owner.password_hash)
    assert (params.memory_cost, params.time_cost) == (7 * 1024, 5)
    assert accounts.authenticate("acme", make.PASSWORD).id == owner.id


def test_a_hash_at_the_former_parameters_is_upgraded_too(ctx, make):
    owner = make.company("acme")
    owner.password_hash = PasswordHasher(time_cost=2, memory_cost=19 * 1024).hash(make.PASSWORD)
    db.session.commit()
    assert accounts.authenticate("acme", make.PASSWORD).id == owner.id
    db.session.expire_all()
    assert extract_parameters(owner.password_hash).time_cost == 5


def test_verify_never_raises_on_hostile_input():
    good = passwords.hash_password("a good password")
    assert passwords.verify_password(good, "a good password")
    assert not passwords.verify_password("not a hash", "x")
    assert not passwords.verify_password(None, "x")
    assert not passwords.verify_password(good, "x" * 100_000)
    assert not passwords.verify_password(good, None)  # type: ignore[arg-type]


def test_hashes_from_either_argon2_library_verify_and_refuse_alike():
    """Hashes are written by libsodium; those argon2-cffi wrote before (and any other argon2id
    string in the standard format) verify the same way, and a wrong password fails on both."""
    ours = passwords.hash_password("a good password")
    assert ours.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert PasswordHasher(time_cost=5, memory_cost=7 * 1024).verify(ours, "a good password")
    assert not passwords.needs_rehash(ours)
    theirs = PasswordHasher(time_cost=5, memory_cost=7 * 1024).hash("a good password")
    assert passwords.verify_password(theirs, "a good password")
    assert not passwords.verify_password(theirs, "a good passwore")
    assert not passwords.verify_password(ours, "a good passwore")
    argon2i = PasswordHasher(time_cost=2, memory_cost=8 * 1024, type=Type.I).hash("pw-2-verify")
    assert passwords.verify_password(argon2i, "pw-2-verify")
    assert passwords.needs_rehash(argon2i)
    assert not passwords.verify_password(ours.replace("t=5", "t=6"), "a good password")
    assert not passwords.verify_password(ours, "\ud800 lone surrogate")
