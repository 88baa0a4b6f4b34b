"""Password hashing: argon2id at no less than OWASP's parameters (19 MiB, t=2, p=1), verified in
constant time by argon2, and rehashed on sign-in when the parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 256  # bounds the hashing cost of hostile input

hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

# A hash of a random password, verified against when the account does not exist, so that an
# unknown login name costs the same time as a wrong password.
_DUMMY_HASH = hasher.hash("not-a-real-password-0f1e2d3c")


def check_policy(password: str, *, field: str = "password") -> str:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_LENGTH} characters", field=field)
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"A password has at most {MAX_LENGTH} characters", field=field)
    if password.isdigit():
        raise InvalidInput("A password must not be all digits", field=field)
    return password


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. Never raises on a malformed hash or oversized input."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    try:
        return hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return hasher.check_needs_rehash(stored_hash)
