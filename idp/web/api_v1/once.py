"""``Idempotency-Key`` on the POSTs that create (the IETF httpapi draft "The Idempotency-Key HTTP
Header Field"), and the per-client rate limit, both in the shared store (``idp.kv``: Redis in
production, so every worker process sees the same keys and counts).

A key is the caller's (its client and account): the first request with it claims it atomically
(``SET NX``) while it is answered, so two concurrent first uses create one thing; the other gets
409 and retries. The answer (status and body) is kept ``IDEMPOTENCY_TTL`` and given again, with
``Idempotent-Replayed: true``, to the same request sent again; the same key with another request
is 422. An answer is never kept with a secret in it: a generated password shown once stays shown
once (a replay carries ``"password": null``). A 5xx or a crash frees the key: the retry runs."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from flask import Response, request

from idp.defaults import (
    API_RATE_LIMIT,
    API_RATE_WINDOW,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_LOCK_TTL,
    IDEMPOTENCY_TTL,
)
from idp.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    MalformedRequest,
    RateLimited,
)
from idp.kv import kv
from idp.services import throttle
from idp.web import answers

REPLAYED = "Idempotent-Replayed"
PENDING = "pending"
SECRET_FIELDS = ("password",)  # never kept in a stored answer


def _fingerprint() -> str:
    """The request a key was first used with: method, path and body."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.get_data(cache=True)):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _store_key(caller_key: str, key: str) -> str:
    return "api:idem:" + hashlib.sha256(f"{caller_key}\x00{key}".encode()).hexdigest()


def _replay(stored: dict) -> Response:
    response = Response(stored["body"], status=stored["status"], mimetype="application/json")
    for name, value in stored.get("headers", {}).items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def _without_secrets(body: bytes) -> str:
    text = body.decode()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict) and any(name in data for name in SECRET_FIELDS):
        data = {k: (None if k in SECRET_FIELDS else v) for k, v in data.items()}
        return json.dumps(data, ensure_ascii=False)
    return text


def once(caller_key: str, answer: Callable[[], Response]) -> Response:
    """``answer()`` at most once per ``Idempotency-Key`` of this caller (none sent: always)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return answer()
    if not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX:
        return answers.of(
            MalformedRequest(
                f"An Idempotency-Key has 1 to {IDEMPOTENCY_KEY_MAX} characters",
                field="Idempotency-Key",
            ),
            answers.Kind.API,
        )
    store, name, fingerprint = kv(), _store_key(caller_key, key), _fingerprint()
    pending = json.dumps({"state": PENDING, "request": fingerprint})
    if not store.set(name, pending, IDEMPOTENCY_LOCK_TTL, only_if_absent=True):
        stored = json.loads(store.get(name) or "null") or {"state": PENDING, "request": ""}
        if stored["request"] != fingerprint:
            error = IdempotencyKeyReused(
                "This Idempotency-Key was used with another request", field="Idempotency-Key"
            )
            return answers.of(error, answers.Kind.API)
        if stored["state"] == PENDING:
            error = IdempotencyInProgress(
                "The first request with this Idempotency-Key is still being answered; retry"
            )
            return answers.of(error, answers.Kind.API)
        return _replay(stored)
    try:
        response = answer()
    except BaseException:
        store.delete(name)
        raise
    if response.status_code >= 500:
        store.delete(name)
        return response
    kept = {
        "state": "done",
        "request": fingerprint,
        "status": response.status_code,
        "body": _without_secrets(response.get_data()),
        "headers": {h: response.headers[h] for h in ("ETag", "Location") if h in response.headers},
    }
    store.set(name, json.dumps(kept, ensure_ascii=False), IDEMPOTENCY_TTL)
    return response


def rate_limit(client_key: str, limit: int | None = None) -> None:
    """At most ``limit`` calls per client and ``API_RATE_WINDOW`` (a fixed window counted with
    the store's atomic INCR + EXPIRE); past it, 429 with the seconds left in the window."""
    limit = API_RATE_LIMIT if limit is None else limit
    digest = hashlib.sha256(client_key.encode()).hexdigest()[:32]
    left = throttle.fixed_window(kv(), f"api:rate:{digest}", limit, API_RATE_WINDOW, time.time())
    if left is not None:
        raise RateLimited(
            f"More than {limit} calls in {API_RATE_WINDOW} seconds from this client", int(left) + 1
        )
