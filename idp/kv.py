"""Shared short-lived state: failure counters, lockouts and single-use markers.

Two stores with one interface. ``RedisStore`` is shared by every worker process and is what a
deployment uses (``IDP_REDIS_URL``). ``MemoryStore`` lives in one process: enough for development,
tests and a single-process server, but each worker of a multi-process server would count on its
own. Every key carries an expiry, so nothing here grows without bound.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

import redis
from flask import Flask, current_app

EXTENSION = "idp.kv"
DEFAULT_PREFIX = "idp:"


def _check_ttl(ttl_seconds: int) -> int:
    if not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be a positive whole number, got {ttl_seconds!r}")
    return ttl_seconds


class MemoryStore:
    """In-process store, safe across threads. Expired keys are dropped when touched and swept
    now and then. ``clock`` (seconds, monotonic by default) can be replaced in tests."""

    SWEEP_EVERY = 1000  # writes between sweeps of expired keys

    def __init__(
        self, prefix: str = DEFAULT_PREFIX, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, tuple[str, float]] = {}  # key -> (value, expires at)
        self._hashes: dict[str, tuple[dict[str, int], float]] = {}  # allocate's counters
        self._writes = 0

    def _live(self, key: str, now: float) -> tuple[str, float] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] <= now:
            del self._data[key]
            return None
        return entry

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            for key in [k for k, (_, expires) in self._data.items() if expires <= now]:
                del self._data[key]

    def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one and return the new count; a new key expires ``ttl_seconds`` from now."""
        _check_ttl(ttl_seconds)
        key = self.prefix + key
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                value, expires = 1, now + ttl_seconds
            else:
                value, expires = int(entry[0]) + 1, entry[1]
            self._data[key] = (str(value), expires)
            self._wrote(now)
            return value

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._live(self.prefix + key, self._clock())
            return entry[0] if entry else None

    def set(self, key: str, value: str, ttl_seconds: int, *, only_if_absent: bool = False) -> bool:
        """Write ``value``; with ``only_if_absent`` only when no live value exists (claim once).
        Returns whether it was written."""
        _check_ttl(ttl_seconds)
        key = self.prefix + key
        with self._lock:
            now = self._clock()
            if only_if_absent and self._live(key, now) is not None:
                return False
            self._data[key] = (str(value), now + ttl_seconds)
            self._wrote(now)
            return True

    def get_many(self, keys: list[str]) -> list[str | None]:
        """The values of several keys at once (None where absent)."""
        with self._lock:
            now = self._clock()
            return [
                entry[0] if (entry := self._live(self.prefix + key, now)) else None for key in keys
            ]

    def set_many(self, values: dict[str, tuple[str, int]]) -> None:
        """Write several ``key: (value, ttl_seconds)`` at once."""
        for key, (value, ttl) in values.items():
            self.set(key, value, ttl)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(self.prefix + key, None)

    def ttl(self, key: str) -> int | None:
        """Whole seconds until the key expires (rounded up), or None when it does not exist."""
        with self._lock:
            now = self._clock()
            entry = self._live(self.prefix + key, now)
            return math.ceil(entry[1] - now) if entry else None

    # --- R24: the inquiry allocation's state (``allocate``, ``counts``) -------------------------

    def _hash(self, key: str, now: float) -> dict[str, int]:
        entry = self._hashes.get(key)
        if entry is None or entry[1] <= now:
            entry = self._hashes[key] = ({}, now)
        return entry[0]

    def allocate(
        self, answer_key: str, rotation_key: str, count_key: str, members, ttls
    ) -> tuple[str, bool]:
        """The same steps as ``RedisStore.allocate``'s script, under this store's lock."""
        answer_ttl, rotation_ttl, count_ttl = (_check_ttl(t) for t in ttls)
        answer_key, rotation_key, count_key = (
            self.prefix + k for k in (answer_key, rotation_key, count_key)
        )
        with self._lock:
            now = self._clock()
            held = self._live(answer_key, now)
            if held is not None and any(held[0] == member for member, _ in members):
                self._data[answer_key] = (held[0], now + answer_ttl)
                return held[0], True
            rotation = self._hash(rotation_key, now)
            chosen = smooth_weighted_choice(rotation, members)
            self._hashes[rotation_key] = (rotation, now + rotation_ttl)
            self._data[answer_key] = (chosen, now + answer_ttl)
            counts = self._hash(count_key, now)
            counts[chosen] = counts.get(chosen, 0) + 1
            self._hashes[count_key] = (counts, now + count_ttl)
            self._wrote(now)
            return chosen, False

    def counts(self, key: str) -> dict[str, int]:
        """A counts hash (``allocate``'s per day) as ``{member: count}``."""
        with self._lock:
            entry = self._hashes.get(self.prefix + key)
            return dict(entry[0]) if entry and entry[1] > self._clock() else {}


# INCR and, on the first increment, EXPIRE, as one atomic step: a crash between the two must not
# leave a counter that never expires.
_INCR_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


def smooth_weighted_choice(current: dict[str, int], members) -> str:
    """R24's weighted round-robin, the smooth one of nginx (``ngx_http_upstream_round_robin``):
    every member's current value grows by its weight, the largest is chosen (the first of
    ``members`` on a tie) and loses the weights' total. Over any run of choices each member's
    count stays within 1 of its weighted share, and the choices of a heavy member are spread
    out rather than bunched. ``current`` is updated in place; the Lua twin is ``_ALLOCATE``."""
    total, chosen, best = 0, None, None
    for member, weight in members:
        value = current[member] = current.get(member, 0) + weight
        total += weight
        if best is None or value > best:
            chosen, best = member, value
    current[chosen] -= total
    return chosen


# R24, as one atomic step on the shared store, so that instances allocating at once neither give
# one inquiry two answers nor skew the rotation. KEYS: the inquiry's answer, the rotation's
# current values (a hash), today's counts (a hash). ARGV: the three TTLs, then member, weight, …
# in a fixed order (ties go to the first). An answer whose member is still eligible is kept.
_ALLOCATE = """
local held = redis.call('GET', KEYS[1])
if held then
    for i = 4, #ARGV, 2 do
        if ARGV[i] == held then
            redis.call('EXPIRE', KEYS[1], ARGV[1])
            return {held, 1}
        end
    end
end
local total, chosen, best = 0, nil, nil
for i = 4, #ARGV, 2 do
    local weight = tonumber(ARGV[i + 1])
    local value = redis.call('HINCRBY', KEYS[2], ARGV[i], weight)
    total = total + weight
    if best == nil or value > best then
        chosen, best = ARGV[i], value
    end
end
redis.call('HINCRBY', KEYS[2], chosen, -total)
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], chosen, 'EX', ARGV[1])
redis.call('HINCRBY', KEYS[3], chosen, 1)
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {chosen, 0}
"""


class RedisStore:
    """The same interface on Redis, shared by all processes (``IDP_REDIS_URL``)."""

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self._incr = self.client.register_script(_INCR_WITH_TTL)
        self._allocate = self.client.register_script(_ALLOCATE)
        self._local = threading.local()

    def _connection(self):
        """This thread's own connection, for the reads on every request (``get_many``): taking
        one from redis-py's pool and giving it back costs a lock and a socket poll each time,
        about a third of a read here. Made again after a fork or an error."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = local.conn = self.client.connection_pool.make_connection()
            local.pid = os.getpid()
        return conn

    def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one and return the new count; a new key expires ``ttl_seconds`` from now."""
        return int(self._incr(keys=[self.prefix + key], args=[_check_ttl(ttl_seconds)]))

    def get(self, key: str) -> str | None:
        return self.client.get(self.prefix + key)

    def set(self, key: str, value: str, ttl_seconds: int, *, only_if_absent: bool = False) -> bool:
        """``SET key value EX ttl [NX]``: with ``only_if_absent`` an atomic claim-once."""
        written = self.client.set(
            self.prefix + key, str(value), ex=_check_ttl(ttl_seconds), nx=only_if_absent
        )
        return bool(written)

    def get_many(self, keys: list[str]) -> list[str | None]:
        """``MGET``: one round trip for several keys. A broken connection is replaced and the
        read tried once more (a Redis restart breaks every open connection)."""
        if not keys:
            return []
        command = ("MGET", *(self.prefix + key for key in keys))
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.send_command(*command, check_health=False)
                return conn.read_response()
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()
                self._local.conn = None
                if attempt == 2:
                    raise
            except BaseException:
                conn.disconnect()  # a reply may be left unread: never reuse this connection
                self._local.conn = None
                raise
        raise AssertionError("unreachable")

    def set_many(self, values: dict[str, tuple[str, int]]) -> None:
        """Write several ``key: (value, ttl_seconds)`` in one pipelined round trip."""
        if not values:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, (value, ttl) in values.items():
            pipe.set(self.prefix + key, str(value), ex=_check_ttl(ttl))
        pipe.execute()

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*(self.prefix + key for key in keys))

    def ttl(self, key: str) -> int | None:
        """Whole seconds until the key expires, or None when it does not exist."""
        seconds = self.client.ttl(self.prefix + key)
        return seconds if seconds >= 0 else None

    def allocate(
        self, answer_key: str, rotation_key: str, count_key: str, members, ttls
    ) -> tuple[str, bool]:
        """R24: the member an inquiry goes to and whether it was its answer already (kept
        while that member is among ``members``, the eligible ``(member, weight)`` pairs),
        else the next of the smooth weighted rotation (``smooth_weighted_choice``), counted
        for the day. One script: atomic across every instance."""
        args = [_check_ttl(t) for t in ttls]
        for member, weight in members:
            args += [member, int(weight)]
        keys = [self.prefix + k for k in (answer_key, rotation_key, count_key)]
        chosen, kept = self._allocate(keys=keys, args=args)
        return chosen, bool(kept)

    def counts(self, key: str) -> dict[str, int]:
        return {k: int(v) for k, v in self.client.hgetall(self.prefix + key).items()}


Store = MemoryStore | RedisStore


def store_for(redis_url: str, *, prefix: str = DEFAULT_PREFIX) -> Store:
    """Redis when a URL is configured, otherwise the in-process store."""
    return RedisStore(redis_url, prefix) if redis_url else MemoryStore(prefix)


def require_shared_store(workers: int, redis_url: str | None) -> None:
    """Refuse to start several worker processes without Redis: each would keep its own
    revocation markers, sessions and counters, so a token revoked through one process would
    still pass at another."""
    if workers > 1 and not redis_url:
        raise SystemExit(
            f"{workers} worker processes need a shared store: set IDP_REDIS_URL "
            "(or IDP_WORKERS=1 for a single process)"
        )


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = store_for(app.extensions["idp.settings"].redis_url)


def kv() -> Store:
    """The application's store."""
    try:
        return current_app.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError("idp.kv.init_app(app) has not been called") from None
