"""Issue 6 ("no per-request key loading"): the key ring's periodic refresh reads which keys
exist and imports only a key it has not seen; a key rotated by another instance is picked up by
the refresh; while one thread refreshes, the others sign with the keys they have."""

from __future__ import annotations

import threading
from datetime import timedelta

from joserfc import jws
from sqlalchemy import update

from idp.extensions import db
from idp.models import SigningKey
from idp.models.base import utcnow
from idp.oauth import keys
from tests.sql import Statements


def _due(ring: keys.KeyRing) -> None:
    """As if REFRESH_SECONDS had passed since the ring was loaded."""
    ring._loaded_at -= keys.REFRESH_SECONDS + 1


def _kid(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


def test_a_refresh_imports_no_key_it_already_holds(ctx):
    ring = keys.keyring()
    ring.invalidate()  # loaded now, from the keys the database has (the test's premise)
    before = _kid(ring.sign({"sub": "x"}, typ="JWT"))
    held = dict(ring._get().verifying)
    _due(ring)
    with Statements() as sql:
        after = _kid(ring.sign({"sub": "x"}, typ="JWT"))
    assert after == before
    assert len(sql.here) == 1 and "signing_keys" in sql.here[0]
    assert "private_key_encrypted" not in sql.here[0]  # nothing decrypted, nothing imported
    assert all(ring._get().verifying[kid] is key for kid, key in held.items())


def test_a_key_rotated_by_another_instance_is_picked_up_by_the_refresh(ctx):
    ring = keys.keyring()
    old = _kid(ring.sign({"sub": "x"}, typ="JWT"))
    # Another instance rotates: it writes the new key and supersedes the old one; this
    # process's ring is not told.
    now = utcnow()
    db.session.execute(
        update(SigningKey)
        .where(SigningKey.superseded_at.is_(None), SigningKey.alg == "ES256")
        .values(superseded_at=now, retire_after=now + timedelta(hours=1))
    )
    new = keys.create_key("ES256").kid
    db.session.commit()
    assert _kid(ring.sign({"sub": "x"}, typ="JWT")) == old  # until the refresh is due
    _due(ring)
    with Statements() as sql:
        token = ring.sign({"sub": "x"}, typ="JWT")
    assert _kid(token) == new
    assert sum("private_key_encrypted" in s for s in sql.here) == 1  # the new key only
    assert ring.verifying_key(old) is not None  # still published until it retires
    assert jws.deserialize_compact(token, ring.verifying_key(new)).headers()["kid"] == new


def test_requests_go_on_with_the_keys_they_have_while_one_thread_refreshes(ctx, app):
    ring = keys.keyring()
    kid = _kid(ring.sign({"sub": "x"}, typ="JWT"))
    _due(ring)
    signed: list[str] = []

    def sign_in_another_thread() -> None:
        with app.app_context():
            signed.append(ring.sign({"sub": "y"}, typ="JWT"))

    with ring._lock:  # a refresh under way in some thread
        other = threading.Thread(target=sign_in_another_thread)
        other.start()
        other.join(timeout=5)
        assert not other.is_alive(), "a request waited for the refresh"
    assert [_kid(t) for t in signed] == [kid]
