"""The password sign-in's cost on the server, measured in one process: CPU time and SQL
statements per flow, with no load generator and no second core involved.

``make bench`` gives flows per second per core, which moves with whatever else the machine runs
(other work on the second core slows PostgreSQL and the client, and the figure with them). This
script runs the bench's flow (authorize → login form → password → back to authorize → token,
``bench/run.py``'s ``sign_in_once``) through Flask's test client against PostgreSQL and Redis, and
reports for each kind of browser:

- the process's CPU per flow (``time.process_time``: the requests' Python, psycopg and redis-py;
  the database's own work is another process's), with the argon2id verification (a fixed ~9 ms)
  given apart, and the outbox's delivery of the "new sign-in" email apart (the server's
  background thread does it, on the same core); the lowest of ``--repeat`` runs, as other work
  on a shared machine only ever adds to CPU time (cache misses, a busy sibling core);
- the SQL statements per flow and the CPU by request step (``--statements``: each statement);
- with ``--profile``, a cProfile top 25 by cumulative CPU time (a separate run: the profiler slows
  everything; ``--pstats PATH`` keeps it for ``pstats``).

Usage (PostgreSQL and Redis as for ``make bench``)::

    PYTHONPATH=$PWD .venv/bin/python bench/signin_profile.py [--flows 300] [--repeat 3]
        [--devices new,returning] [--statements] [--profile] [--pstats /tmp/signin]

With ``PYTHONPATH`` naming another checkout it measures that one's code (a before and after).

It makes its own database (``idp_signin_profile``, or ``IDP_PROFILE_DATABASE``) and uses Redis
database 13 (``IDP_PROFILE_REDIS``): two runs at once (a before and an after, under the same load)
each need their own."""

from __future__ import annotations

import argparse
import base64
import collections
import contextvars
import cProfile
import hashlib
import io
import logging
import os
import pstats
import re
import secrets
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

PG_ADMIN = os.environ.get("IDP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = os.environ.get("IDP_PROFILE_DATABASE", "idp_signin_profile")
REDIS = os.environ.get("IDP_PROFILE_REDIS", "redis://127.0.0.1:6379/13")
BASE = "http://127.0.0.1:8765"
REDIRECT = f"{BASE}/cb"
USER_AGENT = "python-requests/2.32.3"  # what the bench's client sends


def fresh_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    return make_url(PG_ADMIN).set(database=DATABASE).render_as_string(hide_password=False)


def build_app(instance: Path):
    """The app as the bench's server builds it (development settings, PostgreSQL, Redis), with
    the demo company and a client registered as ``bench/run.py`` does."""
    from flask_migrate import upgrade

    from idp.app import create_app
    from idp.demo import load_demo
    from idp.extensions import db
    from idp.oauth import clients
    from idp.settings import Settings

    settings = Settings(
        env="development",
        instance_path=instance,
        database_url=fresh_database(),
        redis_url=REDIS,
        issuer=BASE,
        log_level="WARNING",
    ).with_development_defaults()
    app = create_app(settings)
    with app.app_context():
        logging.getLogger("alembic").setLevel(logging.WARNING)
        upgrade()
        list(load_demo())
        client, secret = clients.create_client(
            "Bench app",
            redirect_uris=[REDIRECT],
            scope="openid profile email offline_access",
            grant_types=["authorization_code", "refresh_token"],
        )
        client_id = client.client_id
        db.session.remove()
    # As bench/run.py: registering the client held its cache entry for a while (shared_state
    # .hold), which would send the first flows to the database for it.
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    return app, client_id, secret


STEP: contextvars.ContextVar[str] = contextvars.ContextVar("step", default="?")
CPU: collections.Counter = collections.Counter()  # seconds by step, argon2 included


class Counter:
    """Statements sent, by step of the flow (the outbox's delivery is "delivery"); argon2 time
    apart."""

    def __init__(self) -> None:
        self.by_step: collections.Counter = collections.Counter()
        self.texts: collections.Counter = collections.Counter()
        self.argon2 = 0.0

    def record(self, _conn, _cursor, statement, *_args) -> None:
        step = STEP.get()
        self.by_step[step] += 1
        self.texts[(step, " ".join(statement.split())[:150])] += 1

    def reset(self) -> None:
        CPU.clear()
        self.by_step.clear()
        self.texts.clear()
        self.argon2 = 0.0


def instrument(app, counter: Counter) -> None:
    from sqlalchemy import event

    from idp.extensions import db
    from idp.services import passwords

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", counter.record)
    verify = passwords.verify_password

    def timed(*args, **kwargs):
        began = time.thread_time()
        try:
            return verify(*args, **kwargs)
        finally:
            counter.argon2 += time.thread_time() - began

    passwords.verify_password = timed  # accounts.authenticate calls it through the module


def sign_in_once(app, client_id: str, secret: str, device: dict | None) -> None:
    """``bench/run.py``'s flow, each request in an application context of its own (as a
    server runs it); ``device`` keeps a returning browser's device cookie."""
    from flask.testing import FlaskClient

    class Browser(FlaskClient):
        def open(self, *args, **kwargs):
            kwargs.setdefault("buffered", True)
            step = f"{kwargs.get('method', 'GET')} {urllib.parse.urlsplit(args[0]).path}"
            if step == last[0]:
                step += " (again)"
            last[0] = step

            def request():
                STEP.set(step)
                return super(Browser, self).open(*args, **kwargs)

            began = time.process_time()
            try:
                return contextvars.Context().run(request)
            finally:
                CPU[step] += time.process_time() - began

    last = [""]

    browser = Browser(app, app.response_class, use_cookies=True)
    browser.environ_base.update(REMOTE_ADDR="127.0.0.1", HTTP_USER_AGENT=USER_AGENT)
    if device:
        browser.set_cookie("idp_device", device["idp_device"])
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid profile",
            "state": "s",
            "nonce": secrets.token_hex(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    authorize = browser.get(f"/oauth/authorize?{query}")
    assert authorize.status_code == 302, authorize.status_code
    page = browser.get(authorize.headers["Location"])
    text = page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    next_url = re.search(r'name="next" value="([^"]+)"', text).group(1).replace("&amp;", "&")
    login = browser.post(
        "/login",
        data={
            "csrf_token": csrf,
            "next": next_url,
            "login": "acme:alice",
            "password": "alice-staff-pw",
        },
    )
    assert login.status_code == 302, (login.status_code, login.get_data(as_text=True)[:300])
    back = browser.get(login.headers["Location"])
    assert back.status_code == 302, back.status_code
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = browser.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200, token.get_data(as_text=True)[:300]
    if device is not None:
        cookie = browser.get_cookie("idp_device")
        if cookie is not None:
            device["idp_device"] = cookie.value


def deliver_all(app) -> int:
    """What the outbox's background thread does after each sign-in, run here in one go."""
    from idp.extensions import db
    from idp.services import outbox

    sent = 0
    STEP.set("outbox delivery")
    with app.app_context():
        while True:
            batch = outbox.deliver_due(limit=50)
            db.session.remove()
            if not batch:
                return sent
            sent += batch


def run(app, client_id, secret, kind: str, flows: int, counter: Counter, profile: bool):
    device = {} if kind == "returning" else None
    quiet = open(os.devnull, "w")  # noqa: SIM115 (the console transport prints every email)
    stdout, sys.stdout = sys.stdout, quiet
    try:
        for _ in range(20):  # warm up: compiled statements, templates, caches; the device cookie
            sign_in_once(app, client_id, secret, device)
        deliver_all(app)
        counter.reset()
        profiler = cProfile.Profile(time.process_time) if profile else None
        began = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(flows):
            sign_in_once(app, client_id, secret, device)
        requests_cpu = time.process_time() - began
        began = time.process_time()
        delivered = deliver_all(app)
        delivery_cpu = time.process_time() - began
        if profiler:
            profiler.disable()
    finally:
        sys.stdout = stdout
        quiet.close()
    return requests_cpu, delivery_cpu, delivered, profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--devices", default="new,returning")
    parser.add_argument("--profile", action="store_true", help="also a cProfile top 25")
    parser.add_argument("--statements", action="store_true", help="list every statement")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of --flows each; the CPU figures are the "
        "lowest run's (other work on the machine only ever adds to them)",
    )
    parser.add_argument("--pstats", help="save each profile to PATH-<kind>.pstats")
    options = parser.parse_args()
    from idp import background

    with tempfile.TemporaryDirectory(prefix="idp-signin-profile-") as instance:
        app, client_id, secret = build_app(Path(instance))
        with app.app_context():
            from idp.services import outbox

            outbox.sender().stop()  # delivery is measured apart (deliver_all)
        counter = Counter()
        instrument(app, counter)
        for kind in options.devices.split(","):
            runs = []
            for _ in range(options.repeat):
                requests_cpu, delivery_cpu, delivered, _ = run(
                    app, client_id, secret, kind, options.flows, counter, False
                )
                runs.append((requests_cpu - counter.argon2, counter.argon2, delivery_cpu))
            n = options.flows
            print(f"\n== {kind} browser: {options.repeat} runs of {n} flows")
            print(
                "CPU ms per flow without argon2, each run: "
                + ", ".join(f"{r[0] / n * 1000:.2f}" for r in runs)
                + "; argon2: "
                + ", ".join(f"{r[1] / n * 1000:.2f}" for r in runs)
                + "; delivery: "
                + ", ".join(f"{r[2] / n * 1000:.2f}" for r in runs)
            )
            best = min(runs)
            print(
                f"CPU per flow (lowest run): requests without argon2 {best[0] / n * 1000:.2f} ms; "
                f"argon2 {min(r[1] for r in runs) / n * 1000:.2f} ms; outbox delivery "
                f"{min(r[2] for r in runs) / n * 1000:.2f} ms ({delivered} emails a run)"
            )
            statements = sum(counter.by_step.values())
            in_requests = sum(v for k, v in counter.by_step.items() if k != "outbox delivery")
            print(
                f"SQL statements per flow: {statements / n:.2f} "
                f"(requests {in_requests / n:.2f}, delivery {(statements - in_requests) / n:.2f})"
            )
            print("by step (last run): statements, CPU ms (argon2 in POST /login)")
            for step in sorted(set(counter.by_step) | set(CPU)):
                print(f"  {counter.by_step[step] / n:6.2f}  {CPU[step] / n * 1000:6.2f}  {step}")
            if options.statements:
                for (step, text), count in sorted(counter.texts.items()):
                    print(f"  {count / n:6.2f}  {step:<28} {text}")
            if options.profile:
                *_, profiler = run(app, client_id, secret, kind, options.flows, counter, True)
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                if options.pstats:
                    stats.dump_stats(f"{options.pstats}-{kind}.pstats")
                stats.sort_stats("cumulative").print_stats(25)
                print(f"-- cProfile, {kind} browser, top 25 by cumulative time --")
                print("\n".join(out.getvalue().splitlines()[:60]))
        background.stop_all(app)
        with app.app_context():
            from idp.extensions import db

            db.engine.dispose()


if __name__ == "__main__":
    main()
