"""The shared store (``idp.kv``) on both backends, in-process and a real Redis, and the sign-in
brute-force protection built on it: growing delays, lockout, per-IP lockout, and the same answer
for a login name that exists and one that does not."""

import os
import threading
import uuid
from dataclasses import replace

import pytest
from flask import Flask

from idp import kv as kv_module
from idp.kv import MemoryStore, RedisStore, store_for
from idp.services import throttle
from idp.services.throttle import Throttled

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
T0 = 1_700_000_000.0
IP = "203.0.113.7"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request):
    prefix = f"idp-test:{uuid.uuid4().hex}:"
    if request.param == "memory":
        yield MemoryStore(prefix)
        return
    store = RedisStore(REDIS_URL, prefix)
    try:
        yield store
    finally:
        keys = list(store.client.scan_iter(match=prefix + "*"))
        if keys:
            store.client.delete(*keys)
        store.client.close()


# --- the store --------------------------------------------------------------------------------


def test_kv_incr_counts_and_sets_the_ttl_only_when_created(store):
    assert store.incr("n", 100) == 1
    assert store.incr("n", 5) == 2
    assert store.get("n") == "2"
    assert 95 <= store.ttl("n") <= 100  # the later, shorter TTL did not replace the first


def test_kv_set_get_delete_and_ttl(store):
    assert store.get("a") is None and store.ttl("a") is None
    assert store.set("a", "one", 60) is True
    assert store.get("a") == "one"
    assert 55 <= store.ttl("a") <= 60
    assert store.set("a", "two", 60) is True  # a plain set overwrites
    store.set("b", "x", 60)
    store.delete("a", "b", "never-there")
    store.delete()
    assert store.get("a") is None and store.get("b") is None


def test_kv_only_if_absent_claims_once(store):
    assert store.set("claim", "first", 60, only_if_absent=True) is True
    assert store.set("claim", "second", 60, only_if_absent=True) is False
    assert store.get("claim") == "first"


def test_kv_keys_are_namespaced_by_the_prefix(store):
    other = store_for(
        "" if isinstance(store, MemoryStore) else REDIS_URL, prefix=store.prefix + "other:"
    )
    store.set("k", "mine", 60)
    assert other.get("k") is None
    if isinstance(store, RedisStore):
        assert store.client.get(store.prefix + "k") == "mine"
        other.client.close()


def test_kv_incr_and_claims_are_atomic_across_threads(store):
    barrier = threading.Barrier(16, timeout=10)
    counts: list[int] = []
    claims: list[bool] = []
    lock = threading.Lock()

    def hit(i: int) -> None:
        barrier.wait()
        values = [store.incr("hits", 60) for _ in range(25)]
        claimed = store.set("once", f"thread {i}", 60, only_if_absent=True)
        with lock:
            counts.extend(values)
            claims.append(claimed)

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(counts) == list(range(1, 401))
    assert claims.count(True) == 1


def test_kv_rejects_a_missing_ttl(store):
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.set("k", "v", 0)
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.incr("k", -1)


def test_kv_memory_store_expires_keys():
    clock = Clock()
    store = MemoryStore(clock=clock)
    store.incr("n", 10)
    store.set("s", "v", 30, only_if_absent=True)
    clock.now += 4
    assert store.ttl("n") == 6 and store.incr("n", 10) == 2
    clock.now += 6
    assert store.get("n") is None and store.ttl("n") is None
    assert store.incr("n", 10) == 1  # a fresh counter after expiry
    clock.now += 20
    assert store.set("s", "again", 30, only_if_absent=True) is True  # the claim expired


def test_kv_store_for_and_init_app(app):
    assert isinstance(store_for(""), MemoryStore)
    redis_store = store_for(REDIS_URL)
    assert isinstance(redis_store, RedisStore) and redis_store.prefix == "idp:"
    redis_store.client.close()
    with app.app_context():  # create_app calls init_app; the test settings name no Redis URL
        assert isinstance(kv_module.kv(), MemoryStore)
    bare = Flask("bare")
    bare.extensions["idp.settings"] = replace(app.extensions["idp.settings"], redis_url=REDIS_URL)
    with bare.app_context():
        with pytest.raises(RuntimeError, match="init_app"):
            kv_module.kv()
        kv_module.init_app(bare)
        assert isinstance(kv_module.kv(), RedisStore)
        kv_module.kv().client.close()


# --- sign-in throttling -------------------------------------------------------------------------


def fail(store, login: str, times: int, *, now: float = T0, ip: str = IP) -> list[bool]:
    return [throttle.record_failure(store, login, ip, now=now) for _ in range(times)]


def retry_after(store, login: str, *, now: float, ip: str = IP) -> int | None:
    try:
        throttle.check(store, login, ip, now=now)
    except Throttled as exc:
        assert exc.code == "temporarily_locked" and exc.status == 429
        return exc.retry_after
    return None


def test_throttle_two_failures_cost_nothing(store):
    fail(store, "acme:alice", 2)
    assert retry_after(store, "acme:alice", now=T0) is None


def test_throttle_delay_grows_after_three_failures_and_is_capped(store):
    delays = []
    for _ in range(9):
        fail(store, "acme:alice", 1, now=T0)
        delays.append(retry_after(store, "acme:alice", now=T0))
    assert delays == [None, None, 1, 2, 4, 8, 16, 32, 60]
    assert retry_after(store, "acme:alice", now=T0 + 59) == 1
    assert retry_after(store, "acme:alice", now=T0 + 60) is None


def test_throttle_delay_counts_from_the_last_failure(store):
    fail(store, "acme:alice", 4, now=T0)  # 2 s wait
    assert retry_after(store, "acme:alice", now=T0 + 1) == 1
    assert retry_after(store, "acme:alice", now=T0 + 2) is None
    fail(store, "acme:alice", 1, now=T0 + 2)  # fifth: 4 s from this failure
    assert retry_after(store, "acme:alice", now=T0 + 5) == 1
    assert retry_after(store, "acme:alice", now=T0 + 6) is None


def test_throttle_name_is_compared_normalized(store):
    fail(store, "acme:alice", 4)
    assert retry_after(store, " ACME：Alice ", now=T0) == 2
    assert retry_after(store, "acme:bob", now=T0) is None


def test_throttle_tenth_failure_locks_the_name_for_15_minutes(store):
    assert fail(store, "acme:alice", 10) == [False] * 9 + [True]
    with pytest.raises(Throttled) as exc:
        throttle.check(store, "acme:alice", "198.51.100.1", now=T0)  # from any IP
    assert exc.value.retry_after == 15 * 60
    assert exc.value.message == "Too many failed sign-ins. Try again in 15 minutes."
    assert retry_after(store, "acme:alice", now=T0 + 15 * 60 - 1) == 1
    assert retry_after(store, "acme:alice", now=T0 + 15 * 60) is None
    # counting starts afresh after a lock: the next lock is reported once more
    assert fail(store, "acme:alice", 10, now=T0 + 15 * 60) == [False] * 9 + [True]


def test_throttle_same_answer_for_an_existing_and_an_unknown_name(ctx, make, store):
    make.company("acme")
    make.staff(make.company("globex"), "alice")
    answers = {}
    for login in ("acme", "ghost", "globex:alice", "globex:ghost"):
        locked = fail(store, login, 10, ip=f"198.51.100.{len(answers)}")
        answers[login] = (locked, retry_after(store, login, now=T0 + 1, ip="192.0.2.9"))
        with pytest.raises(Throttled) as exc:
            throttle.check(store, login, "192.0.2.9", now=T0 + 1)
        answers[login] += (exc.value.message, exc.value.to_dict())
    assert len(set(map(repr, answers.values()))) == 1


def test_throttle_never_locks_an_ip_for_everyone_behind_it(store):
    """Issue 12: 100 failures from one office NAT locked every person behind it out. Failing
    pairs of name and address slow down; another name from that address does not wait."""
    for i in range(150):
        throttle.record_failure(store, f"acme:user{i % 15}", IP, now=T0)
    assert retry_after(store, "acme:someone", now=T0) is None
    assert retry_after(store, "acme:alice", now=T0) is None


def test_throttle_delay_is_per_name_and_address(store):
    """The person who mistyped waits; the same name typed from another address does not (until
    the name's lock), nor does another name from the same address."""
    fail(store, "acme:alice", 6, now=T0)
    assert retry_after(store, "acme:alice", now=T0) == 8
    assert retry_after(store, "acme:alice", now=T0, ip="198.51.100.1") is None
    assert retry_after(store, "acme:bob", now=T0) is None


def test_throttle_at_most_ten_guesses_per_name_from_any_addresses(store):
    """Spread over many addresses, a name still gets 10 guesses per 15 minutes."""
    locked = [
        throttle.record_failure(store, "acme:alice", f"198.51.100.{i}", now=T0) for i in range(10)
    ]
    assert locked == [False] * 9 + [True]
    assert retry_after(store, "acme:alice", now=T0, ip="192.0.2.50") == 15 * 60


def test_throttle_lift_unlocks_the_name(store):
    fail(store, "acme:alice", 10)
    assert retry_after(store, "acme:alice", now=T0 + 120, ip="198.51.100.1") == 15 * 60 - 120
    throttle.lift(store, "ACME:Alice")
    assert retry_after(store, "acme:alice", now=T0 + 120, ip="198.51.100.1") is None
    assert fail(store, "acme:alice", 9, now=T0 + 120) == [False] * 9  # counting starts afresh


def test_throttle_success_clears_the_name_and_its_pair(store):
    fail(store, "acme:alice", 9)
    assert retry_after(store, "acme:alice", now=T0 + 60) is None
    throttle.record_success(store, "acme:alice", IP)
    assert retry_after(store, "acme:alice", now=T0 + 60) is None
    assert fail(store, "acme:alice", 9, now=T0 + 60) == [False] * 9  # 9 more without a lock


def test_throttle_failures_outside_the_window_are_forgotten():
    clock = Clock(T0)
    store = MemoryStore(clock=clock)
    fail(store, "acme:alice", 9, now=clock.now)
    clock.now += 15 * 60
    assert fail(store, "acme:alice", 1, now=clock.now) == [False]
    assert retry_after(store, "acme:alice", now=clock.now) is None


def test_throttle_message_never_names_the_account(store):
    fail(store, "acme:alice", 5)
    with pytest.raises(Throttled) as exc:
        throttle.check(store, "acme:alice", IP, now=T0)
    assert exc.value.message == "Too many failed sign-ins. Try again in 4 seconds."
    assert "alice" not in exc.value.message


def test_throttle_lockout_notice_is_shown_once(ctx, make, store):
    from idp.extensions import db
    from idp.models import Account

    owner = make.company("acme")
    assert throttle.pop_lockout_notice(owner) is None
    if fail(store, "acme", 10)[-1]:
        throttle.note_lockout(owner)
        db.session.commit()
    db.session.expire_all()
    noticed = throttle.pop_lockout_notice(db.session.get(Account, owner.id))
    assert noticed is not None and noticed.tzinfo is not None
    db.session.expire_all()
    assert db.session.get(Account, owner.id).lockout_notice_at is None
    assert throttle.pop_lockout_notice(db.session.get(Account, owner.id)) is None


def test_several_worker_processes_without_redis_are_refused_at_start():
    """Issue 6: per-process stores would not share revocation markers between workers."""
    from idp.kv import require_shared_store

    with pytest.raises(SystemExit, match="IDP_REDIS_URL"):
        require_shared_store(2, None)
    require_shared_store(1, None)  # one process: its own store is the whole truth
    require_shared_store(4, "redis://127.0.0.1:6379/0")
