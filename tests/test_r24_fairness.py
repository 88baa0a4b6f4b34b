"""R24 across instances (issue 18, "Done when"): 10,000 inquiries allocated from 8 threads over two
provider instances sharing PostgreSQL and Redis. Every eligible member's count is within 1 of
its weighted share, an ineligible member gets none, and no inquiry id has two answers (some are
asked twice, at once, at both instances)."""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import requests
from werkzeug.serving import make_server

from idp.app import create_app, settings_of
from idp.kv import store_for
from tests.apps import close
from tests.inquiry_helpers import platform

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
INQUIRIES = 10_000
REPEATS = 1_000  # inquiry ids asked a second time, concurrently, at the other instance
THREADS = 8
WEIGHTS = {"alice": 3, "bob": 1, "carol": 2, "dave": 1}

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("IDP_TEST_DATABASE_URL"),
        reason="needs PostgreSQL (none this run: see the report's postgresql line)",
    ),
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session"),
]


@pytest.fixture
def two_instances(ctx):
    """Two apps on two ports over one PostgreSQL database and one Redis (under a key prefix of
    this test's own); a long presence TTL, so that the run does not outlast the heartbeat."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # 11,000 request lines: no
    prefix = f"test-alloc-{secrets.token_hex(4)}:"
    base = replace(
        settings_of(ctx), issuer="http://localhost", redis_url=REDIS_URL, presence_ttl=3600
    )
    servers, urls = [], []
    for _ in range(2):
        app = create_app(base)
        app.extensions["idp.kv"] = store_for(REDIS_URL, prefix=prefix)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls.append(f"http://127.0.0.1:{server.server_port}")
    yield urls
    for server in servers:
        server.shutdown()
        server.server_close()
        close(server.app)
    client = servers[0].app.extensions["idp.kv"].client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_r24_fair_and_atomic_over_two_instances(ctx, two_instances):
    one, two = two_instances
    world = platform(ctx, names=(*WEIGHTS, "erin"), weights=WEIGHTS)
    for name in WEIGHTS:  # online at the shared store; erin is signed in but never online there
        beat = requests.post(
            f"{one}/api/inquiries/presence", headers=world.bearer(world.tokens[name])
        )
        assert beat.status_code == 200, beat.text
    ids = [f"inq-{n}" for n in range(INQUIRIES)]
    rng = random.Random(18)
    work = [(i, n % 2) for n, i in enumerate(ids)]
    work += [(i, 1 - n % 2) for n, i in enumerate(rng.sample(ids, REPEATS))]
    rng.shuffle(work)
    headers = world.bearer(world.backend_token)
    store = world.store.public_id
    answers: dict[str, set[str]] = defaultdict(set)
    lock = threading.Lock()

    def run(chunk):
        session = requests.Session()
        for inquiry, instance in chunk:
            response = session.post(
                f"{(one, two)[instance]}/api/inquiries/allocate",
                headers=headers,
                json={"store": store, "inquiry_id": inquiry},
            )
            assert response.status_code == 200, response.text
            with lock:
                answers[inquiry].add(response.json()["login_name"])

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, [work[k::THREADS] for k in range(THREADS)]))

    assert len(answers) == INQUIRIES
    assert all(len(who) == 1 for who in answers.values()), "an inquiry had two answers"
    counts = Counter(next(iter(who)) for who in answers.values())
    total = sum(WEIGHTS.values())
    for name, weight in WEIGHTS.items():
        share = INQUIRIES * weight / total
        assert abs(counts[f"acme:{name}"] - share) <= 1, (name, counts, share)
    assert counts["acme:erin"] == 0 and sum(counts.values()) == INQUIRIES
