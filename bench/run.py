"""``make bench``: the provider under load, per worker core, on PostgreSQL and Redis.

The server (Granian by default, or gunicorn) is pinned to core 0, so figures are per core. Core 1
holds everything else: the load generator (wrk with Lua scripts for single requests; a Python
driver for the multi-step password sign-in) and, for the run, PostgreSQL and Redis (their
affinity is set back afterwards), as a database on its own machine would be. Each scenario runs a
bounded time. For each one: peak req/s with p50/p99 and how busy the server's core was, then a
run at about 80% of peak for the p99 target. Results go to bench/results/latest.json and a
Markdown table (printed, and pasted into the README)."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
PORT = int(os.environ.get("IDP_BENCH_PORT", "8765"))
BASE = f"http://127.0.0.1:{PORT}"
PG_ADMIN = os.environ.get("IDP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("IDP_BENCH_REDIS", "redis://127.0.0.1:6379/14")
DURATION = int(os.environ.get("IDP_BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("IDP_BENCH_CONNECTIONS", "16"))
# Sync workers sharing the one measured core: while one waits on PostgreSQL, another computes.
SERVER = os.environ.get("IDP_BENCH_SERVER", "granian")  # or gunicorn
WORKERS = int(os.environ.get("IDP_BENCH_WORKERS", "1" if SERVER == "granian" else "3"))
ONLY = [s for s in os.environ.get("IDP_BENCH_ONLY", "").split(",") if s]
# Each scenario runs in every round, rounds one after the other: this machine's speed drifts by
# a quarter over minutes, and interleaved rounds show it (the report gives each one's figures).
ROUNDS = int(os.environ.get("IDP_BENCH_ROUNDS", "3"))
# password_sign_in: "new" (the default), every flow a new browser; "returning", each client
# thread one browser that keeps its device cookie (a staff member's own computer)
RETURNING_DEVICES = os.environ.get("IDP_BENCH_DEVICES", "new") == "returning"
# Refresh tokens are single-use: every refresh run starts past the last token a run before it
# could have sent (its requests, plus one in flight per connection). Enough for 3 rounds at
# ~5,000 refreshes/s; a run that reaches the end sends "exhausted" and counts errors.
REFRESH_TOKENS = int(os.environ.get("IDP_BENCH_REFRESH_TOKENS", "150000"))
TX = "urn:ietf:params:oauth:grant-type:token-exchange"
TARGETS = {  # per worker core, SPEC of the performance issue
    "client_credentials": 2000,
    "introspection": 2500,
    "userinfo": 2500,
    "refresh": 1000,
    "token_exchange": 1000,
    "password_sign_in": 30,
    "jwks": None,
    "allocation": None,  # issue 18 sets no figure; the README shows it beside the others
}
# R24's bench staff: the demo's SG pre-sale group gains these, online for the whole run.
ALLOCATION_STAFF = {"cs1": 1, "cs2": 2, "cs3": 1, "cs4": 1}


def env() -> dict[str, str]:
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN).set(database="idp_bench")
    return {
        **os.environ,
        "IDP_ENV": "development",
        "IDP_INSTANCE_PATH": str(WORK / "instance"),
        "IDP_DATABASE_URL": url.render_as_string(hide_password=False),
        "IDP_REDIS_URL": REDIS,
        "IDP_ISSUER": BASE,
        "IDP_LOG_LEVEL": "WARNING",
        "IDP_ACCESS_LOG": "false",
        "IDP_BIND": f"127.0.0.1:{PORT}",
        "IDP_WORKERS": str(WORKERS),
        "IDP_PRESENCE_TTL": "3600",  # the allocation's staff stay online for the whole run
    }


def fresh_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "idp_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "idp_bench"'))
    admin.dispose()
    import redis

    redis.Redis.from_url(REDIS).flushdb()


def prepare() -> dict:
    """Migrate, load the demo company, register the bench clients and mint what the scenarios
    need (through the provider's own code, in one process)."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    fresh_database()
    subprocess.run([VENV / "idp", "db", "upgrade"], env=env(), check=True, capture_output=True)
    out = subprocess.run(
        [VENV / "python", __file__, "--prepare-inside"], env=env(), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"preparing the benchmark data failed:\n{out.stderr[-3000:]}")
    settle()
    # The steady state: preparing held the new client's cache entry (30 s, shared_state.hold),
    # which would send the first scenarios to the database for it. Nothing else is in Redis yet
    # that the database does not hold (markers are rebuilt from it on first use).
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    online = subprocess.run(
        [VENV / "python", __file__, "--online-inside"], env=env(), capture_output=True, text=True
    )
    if online.returncode != 0:
        raise SystemExit(f"putting the allocation's staff online failed:\n{online.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def settle() -> None:
    """VACUUM ANALYZE after the bulk load, so that autovacuum does not start in the middle of a
    measured run and every scenario sees the same statistics."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(
        make_url(PG_ADMIN).set(database="idp_bench"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def prepare_inside() -> None:
    from datetime import timedelta

    from idp.app import create_app
    from idp.demo import load_demo
    from idp.extensions import db
    from idp.models import IssuedToken, SsoSession
    from idp.models.base import utcnow
    from idp.oauth import clients
    from idp.oauth.crypto import random_token, token_hash
    from idp.services import accounts

    app = create_app()
    with app.app_context():
        list(load_demo())
        client, secret = clients.create_client(
            "Bench app",
            redirect_uris=[f"{BASE}/cb"],
            scope="openid profile email offline_access",
            grant_types=["authorization_code", "refresh_token", "client_credentials", TX],
        )
        alice = accounts.find_by_login_name("acme:alice")
        session = SsoSession(
            sid=random_token(16),
            token_hash=token_hash(random_token()),
            account_id=alice.id,
            amr=["pwd"],
            acr="1",
            expires_at=utcnow() + timedelta(hours=12),
        )
        db.session.add(session)
        db.session.flush()
        refresh_tokens = []
        rows = []
        now = utcnow()
        for _ in range(REFRESH_TOKENS):  # refresh tokens are single-use: one per request
            value = random_token(32)
            refresh_tokens.append(value)
            rows.append(
                dict(
                    jti=random_token(16),
                    family=random_token(16),
                    refresh_token_hash=token_hash(value),
                    client_id=client.id,
                    account_id=alice.id,
                    session_id=session.id,
                    scope="openid profile email",
                    offline=False,
                    issued_at=now,
                    access_expires_at=now + timedelta(minutes=15),
                    refresh_expires_at=now + timedelta(hours=12),
                    store_id=alice.default_store_id,
                )
            )
        db.session.execute(IssuedToken.__table__.insert(), rows)  # one executemany
        db.session.commit()
        stores = {s.marketplace_code: s.public_id for s in alice.stores}
        client_id = client.client_id
        platform = allocation_inside()
    (WORK / "refresh_tokens.txt").write_text("\n".join(refresh_tokens))
    print(json.dumps({"client_id": client_id, "secret": secret, "stores": stores, **platform}))


def allocation_inside() -> dict:
    """R24: the chat platform's back end (client credentials, ``inquiries:allocate``), and the
    SG store allocating to its pre-sale group, which gains the bench staff (weights 1-2)."""
    from idp.oauth import clients
    from idp.services import accounts, groups, inquiries, stores

    owner = accounts.find_by_login_name("acme")
    sg = stores.get_store(owner, "shopee-sg/1001")
    presale = next(g for g in groups.list_groups(owner, sg) if g.name == "Pre-sale")
    for name, weight in ALLOCATION_STAFF.items():
        member = accounts.create_sub_account(
            owner, name=name, password=secrets.token_urlsafe(16), roles=[], stores=[sg]
        )
        accounts.mark_verified(member, "email")
        groups.add_member(owner, presale, member)
        inquiries.set_member_rules(owner, member, weight=weight)
    inquiries.set_store_rules(owner, sg, enabled=True, group_id=presale.id)
    platform, secret = clients.create_client(
        "Chat platform", grant_types=["client_credentials"], scope="inquiries:allocate"
    )
    return {"platform": [platform.client_id, secret], "sg": sg.public_id}


def online_inside() -> None:
    """The bench staff online (a chat app's heartbeat, ``IDP_PRESENCE_TTL`` long), after the
    flush of the shared store that follows preparing."""
    from idp.app import create_app
    from idp.models import Account
    from idp.services import presence

    app = create_app()
    with app.app_context():
        for account in Account.query.filter(Account.name.in_(list(ALLOCATION_STAFF) + ["alice"])):
            presence.heartbeat(account.id, "bench-chat-app")


def server_description() -> str:
    if SERVER == "gunicorn":
        return f"gunicorn, {WORKERS} sync workers"
    threads = os.environ.get("IDP_THREADS", "4")
    return f"Granian, {WORKERS} worker process(es) x {threads} threads"


def server_command() -> list:
    if SERVER == "gunicorn":
        return [VENV / "gunicorn", "-c", ROOT / "deploy" / "gunicorn.conf.py", "idp.wsgi:app"]
    return [VENV / "python", ROOT / "deploy" / "granian_serve.py"]


def _service_pids() -> list[int]:
    """PostgreSQL (the postmaster and every backend: new backends inherit its affinity) and
    Redis."""
    out = subprocess.run(["pgrep", "-x", "postgres|redis-server"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def pin_services(cpus: str) -> dict[int, str]:
    """Move PostgreSQL and Redis to ``cpus``; returns their previous affinity, for ``unpin``."""
    before = {}
    for pid in _service_pids():
        out = subprocess.run(["taskset", "-p", str(pid)], capture_output=True, text=True)
        if out.returncode == 0:
            before[pid] = out.stdout.rsplit(":", 1)[1].strip()
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)
    return before


def unpin(before: dict[int, str]) -> None:
    for pid, mask in before.items():
        subprocess.run(["taskset", "-a", "-p", mask, str(pid)], capture_output=True)


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """User + system CPU of every process of the server's session (Granian's or gunicorn's
    master and workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == server.pid:  # session id (start_new_session=True)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def start_server() -> subprocess.Popen:
    process = subprocess.Popen(
        ["taskset", "-c", "0", *server_command()],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(WORK / "server.log", "w"),
        start_new_session=True,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{BASE}/readyz", timeout=1)  # noqa: S310 (loopback)
            return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not become ready; see bench/.work/server.log")


def http(method: str, path: str, data: dict | None = None, headers: dict | None = None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(
        f"{BASE}{path}", data=body, method=method, headers=headers or {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)


def sign_in_once(
    client_id: str, secret: str, steps: list[float] | None = None, device: dict | None = None
) -> dict:
    """The full password sign-in an app's user goes through: authorize → login form → code →
    token. Returns the token response; each request's latency (to its response headers) is
    appended to ``steps``. ``device``: a returning browser's device cookie, kept in the dict
    from one flow to the next (``IDP_BENCH_DEVICES=returning``); without it every flow is a new
    browser, which since issue 17 also sends the account a "new sign-in" email."""
    import requests

    verifier = secrets.token_urlsafe(48)
    import hashlib

    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    browser = requests.Session()
    if device:
        browser.cookies.set("idp_device", device["idp_device"])
    authorize = browser.get(
        f"{BASE}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": f"{BASE}/cb",
            "scope": "openid profile",
            "state": "s",
            "nonce": secrets.token_hex(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=True,
    )
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', authorize.text).group(1)
    next_url = (
        re.search(r'name="next" value="([^"]+)"', authorize.text).group(1).replace("&amp;", "&")
    )
    login = browser.post(
        f"{BASE}/login",
        data={
            "csrf_token": csrf,
            "next": next_url,
            "login": "acme:alice",
            "password": "alice-staff-pw",
        },
        allow_redirects=False,
    )
    back = browser.get(f"{BASE}{login.headers['Location']}", allow_redirects=False)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back.headers["Location"]).query)["code"][0]
    token = requests.post(
        f"{BASE}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{BASE}/cb",
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    token.raise_for_status()
    if device is not None and browser.cookies.get("idp_device"):
        device["idp_device"] = browser.cookies.get("idp_device")
    if steps is not None:
        for response in (*authorize.history, authorize, login, back, token):
            steps.append(response.elapsed.total_seconds())
    return token.json()


LUA_REQUEST = """
wrk.method = "{method}"
wrk.body = {body}
{headers}
{extra}
"""
LUA_REFRESH = """
local tokens = {{}}
local n = 0
init = function(args)
  for line in io.lines("{path}") do table.insert(tokens, line) end
end
request = function()
  n = n + 1
  local token = tokens[n]
  if token == nil then token = "exhausted" end
  return wrk.format("POST", "/oauth/token", nil,
    "grant_type=refresh_token&refresh_token=" .. token)
end
"""
LUA_ALLOCATE = """
local i = 0
-- every wrk run (warm-up, peak, probe, paced) sends inquiries no run sent before
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local prefix = "{prefix}-" .. os.time() .. "-" .. math.random(1, 1000000000) .. "-"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  i = i + 1
  return wrk.format(nil, "/api/inquiries/allocate", nil,
    '{{"store": "{store}", "inquiry_id": "' .. prefix .. i .. '"}}')
end
"""
LUA_PACE = """
local pace_ms = {pace}
delay = function() return pace_ms end
"""
LUA_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("JSON{\\"requests\\":%d,\\"seconds\\":%f,\\"p50\\":%f,\\"p99\\":%f,"
    .. "\\"errors\\":%d,\\"non2xx\\":%d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def core_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies of each core, from /proc/stat."""
    cores = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]  # idle + iowait
            cores.append((sum(values) - idle, sum(values)))
    return cores


def measured(server: subprocess.Popen, run) -> dict:
    """``run()``'s result, with ``core_busy``: the share of one core the server used meanwhile
    (1.0 = the measured core was saturated), and ``other_busy``: how busy core 1 (load
    generator, PostgreSQL, Redis) was; near 1.0 it, not the server, set the pace."""
    cpu, wall, cores = server_cpu_seconds(server), time.monotonic(), core_times()
    data = run()
    data["core_busy"] = (server_cpu_seconds(server) - cpu) / (time.monotonic() - wall)
    after = core_times()
    if len(after) > 1:
        busy, total = (after[1][0] - cores[1][0]), (after[1][1] - cores[1][1])
        data["other_busy"] = busy / total if total else 0.0
    return data


class TokenCursor:
    """Where the next refresh run starts in the list of minted refresh tokens."""

    next = 0

    @classmethod
    def start(cls, lua: str) -> str:
        return lua.replace("local n = 0", f"local n = {cls.next}")

    @classmethod
    def advance(cls, run: dict, connections: int) -> None:
        cls.next += run["requests"] + run["errors"] + connections + 1


def wrk(
    name: str, path: str, lua: str, *, connections: int = CONNECTIONS, seconds: int = DURATION
) -> dict:
    script = WORK / f"{name}.lua"
    uses_tokens = "local n = 0" in lua
    script.write_text(TokenCursor.start(lua) + LUA_DONE)
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"{BASE}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(re.search(r"JSON(\{.*\})", out.stdout).group(1))
    data["rps"] = data["requests"] / data["seconds"]
    if uses_tokens:
        TokenCursor.advance(data, connections)
    return data


def paced(name: str, path: str, lua: str, peak: dict) -> dict:
    """A run offering about 80% of the peak rate, for its p99. wrk paces each connection by a
    whole number of milliseconds between requests: enough connections that a cycle lasts a few
    ms, and the delay corrected once from a short probe run."""
    target = 0.8 * peak["rps"]
    connections = max(CONNECTIONS, math.ceil(target * 0.005))
    delay = max(0.0, connections * 1000 / target - 1000 / peak["rps"])  # a first guess
    probe = wrk(
        f"{name}-probe",
        path,
        lua + LUA_PACE.format(pace=round(delay)),
        connections=connections,
        seconds=3,
    )
    delay = max(0.0, delay + connections * 1000 / target - connections * 1000 / probe["rps"])
    at80 = wrk(
        f"{name}-80", path, lua + LUA_PACE.format(pace=round(delay)), connections=connections
    )
    at80["share_of_peak"] = at80["rps"] / peak["rps"]
    return at80


def form_lua(method: str, form: dict | None, headers: dict) -> str:
    body = json.dumps(urllib.parse.urlencode(form)) if form else "nil"
    header_lines = "\n".join(f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in headers.items())
    return LUA_REQUEST.format(method=method, body=body, headers=header_lines, extra="")


def scenarios(info: dict) -> dict[str, tuple[str, str]]:
    basic = "Basic " + base64.b64encode(f"{info['client_id']}:{info['secret']}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}
    tokens = sign_in_once(info["client_id"], info["secret"])
    access = tokens["access_token"]
    other_store = info["stores"]["shopee-my"]
    refresh_lua = (
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = '
        f'"application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = '
        f'"{basic}"\n' + LUA_REFRESH.format(path=WORK / "refresh_tokens.txt")
    )
    return {
        "jwks": ("/oauth/jwks", form_lua("GET", None, {})),
        "client_credentials": (
            "/oauth/token",
            form_lua("POST", {"grant_type": "client_credentials", "scope": "openid"}, form),
        ),
        "introspection": ("/oauth/introspect", form_lua("POST", {"token": access}, form)),
        "userinfo": (
            "/oauth/userinfo",
            form_lua("GET", None, {"Authorization": f"Bearer {access}"}),
        ),
        "token_exchange": (
            "/oauth/token",
            form_lua(
                "POST",
                {
                    "grant_type": TX,
                    "subject_token": access,
                    "store": other_store,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                },
                form,
            ),
        ),
        "refresh": ("/oauth/token", refresh_lua),
        "allocation": ("/api/inquiries/allocate", allocation_lua(info)),
    }


def allocation_lua(info: dict) -> str:
    """R24: every request a new inquiry (its id unique across runs) for the SG store, answered
    by the weighted rotation over its online pre-sale staff; the platform's own token."""
    platform_id, platform_secret = info["platform"]
    basic = base64.b64encode(f"{platform_id}:{platform_secret}".encode()).decode()
    token = http(
        "POST",
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "inquiries:allocate"},
        {"Authorization": f"Basic {basic}"},
    )["access_token"]
    return LUA_ALLOCATE.format(prefix=secrets.token_hex(6), token=token, store=info["sg"])


def sign_in_load(info: dict, seconds: int, workers: int, rate: float = 0.0) -> dict:
    """The password sign-in flow from ``workers`` client threads (pinned to core 1), as fast as
    they go or, with ``rate``, starting ``rate`` flows per second between them (a flow late
    for its slot starts at once: the latency counted is the flow's own)."""
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            VENV / "python",
            __file__,
            "--sign-in-load",
            info["client_id"],
            info["secret"],
            str(seconds),
            str(workers),
            str(rate),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def sign_in_load_inside(
    client_id: str, secret: str, seconds: int, workers: int, rate: float
) -> None:
    import statistics
    import threading

    latencies: list[float] = []
    steps: list[float] = []
    errors = 0
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    interval = workers / rate if rate else 0.0

    def loop(offset: float) -> None:
        nonlocal errors
        slot = started + offset
        device = {} if RETURNING_DEVICES else None
        while time.monotonic() < deadline:
            if interval:
                time.sleep(max(0.0, slot - time.monotonic()))
                slot += interval
            began = time.perf_counter()
            mine: list[float] = []
            try:
                sign_in_once(client_id, secret, mine, device)
                with lock:
                    latencies.append(time.perf_counter() - began)
                    steps.extend(mine)
            except Exception:  # counted, reported
                with lock:
                    errors += 1

    threads = [
        threading.Thread(target=loop, args=(i * interval / workers,)) for i in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    steps.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "seconds": elapsed,
                "rps": len(latencies) / elapsed,
                "errors": errors,
                "non2xx": 0,
                "p50": statistics.median(latencies) * 1000 if latencies else 0,
                "p99": p99 * 1000,
                "request_p99": steps[int(len(steps) * 0.99) - 1] * 1000 if steps else 0,
                "requests_per_flow": len(steps) / len(latencies) if latencies else 0,
            }
        )
    )


CALIBRATION = """
import json, time
start = time.process_time()
for i in range(60_000):
    json.loads(json.dumps({"n": i, "s": str(i) * 4, "l": list(range(8))}))
print(time.process_time() - start)
"""


def calibrate() -> float:
    """CPU seconds of a fixed piece of Python on the server's core: how fast this machine is
    right now (lower is faster), to compare runs."""
    out = subprocess.run(
        ["taskset", "-c", "0", VENV / "python", "-c", CALIBRATION],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(float(out.stdout.strip()), 3)


def one_round(server, info: dict, number: int) -> dict:
    results = {}
    for name, (path, lua) in scenarios(info).items():
        if ONLY and name not in ONLY:
            continue
        wrk(name, path, lua, seconds=2)  # warm up (and reach steady state)
        peak = measured(server, lambda lua=lua, path=path, name=name: wrk(name, path, lua))
        at80 = paced(name, path, lua, peak)
        results[name] = {"peak": peak, "at_80": at80}
        print(
            f"{name:<20} {peak['rps']:>8.0f} req/s  p50 {peak['p50']:.1f} ms  "
            f"p99 {peak['p99']:.1f} ms  core {peak['core_busy']:.0%} "
            f"(core 1: {peak.get('other_busy', 0):.0%}) | at "
            f"{at80['rps']:.0f} req/s ({at80['share_of_peak']:.0%}): p99 "
            f"{at80['p99']:.1f} ms  "
            f"(errors {peak['errors'] + peak['non2xx']}, "
            f"{at80['errors'] + at80['non2xx']})",
            flush=True,
        )
    if not ONLY or "password_sign_in" in ONLY:
        peak = measured(server, lambda: sign_in_load(info, DURATION, 4))
        at80 = sign_in_load(info, DURATION, 4, rate=0.8 * peak["rps"])
        at80["share_of_peak"] = at80["rps"] / peak["rps"]
        results["password_sign_in"] = {"peak": peak, "at_80": at80}
        print(
            f"{'password_sign_in':<20} {peak['rps']:>8.1f} /s     p50 {peak['p50']:.0f} ms  "
            f"p99 {peak['p99']:.0f} ms  core {peak['core_busy']:.0%} "
            f"(core 1: {peak.get('other_busy', 0):.0%}) | at {at80['rps']:.1f}/s "
            f"({at80['share_of_peak']:.0%}): p99 {at80['p99']:.0f} ms a flow of "
            f"{at80['requests_per_flow']:.0f} requests, {at80['request_p99']:.0f} ms a "
            f"request  (errors {peak['errors']}, {at80['errors']})",
            flush=True,
        )
    return results


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    RESULTS.mkdir(exist_ok=True)
    print("preparing (PostgreSQL database idp_bench, Redis db 14)…", flush=True)
    info = prepare()
    speed = [calibrate()]
    pinned = pin_services("1")
    server = start_server()
    rounds = []
    try:
        for number in range(ROUNDS):
            print(f"round {number + 1} of {ROUNDS}", flush=True)
            rounds.append(one_round(server, info, number))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        unpin(pinned)
    speed.append(calibrate())
    results = {}
    for name in rounds[0]:
        runs = sorted((r[name] for r in rounds), key=lambda run: run["peak"]["rps"])
        median = runs[len(runs) // 2]
        results[name] = {
            **median,
            "target": TARGETS.get(name),
            "peaks": [round(run["peak"]["rps"], 1) for run in runs],
        }
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores; server: {server_description()} pinned to core 0; "
        f"load generator, PostgreSQL and Redis pinned to core 1",
        "calibration_seconds": speed,
        "rounds": ROUNDS,
        "seconds_per_run": DURATION,
        "connections": CONNECTIONS,
        "results": results,
    }
    # A partial run (IDP_BENCH_ONLY) must not stand in for the full one the README shows.
    name = "partial.json" if ONLY else "latest.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    print(f"results: {RESULTS / name}")
    print(f"\ncalibration (CPU s of a fixed workload, before/after; lower is faster): {speed}")
    print("\n" + table(report))


def _share(run: dict) -> str:
    return f", {run['share_of_peak']:.0%}" if "share_of_peak" in run else ""


def table(report: dict) -> str:
    lines = [
        "| scenario | req/s per core (median) | rounds | p50 ms | p99 ms | core busy "
        "| p99 ms at ~80% of peak | target |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for name, r in report["results"].items():
        target = r["target"]
        met = "" if target is None else ("met" if r["peak"]["rps"] >= target else "**missed**")
        rounds = " / ".join(f"{v:.1f}" if v < 100 else f"{v:.0f}" for v in r.get("peaks", []))
        lines.append(
            f"| {name} | {r['peak']['rps']:.0f} | {rounds} | {r['peak']['p50']:.1f} | "
            f"{r['peak']['p99']:.1f} | {r['peak'].get('core_busy', 0):.0%} | "
            f"{r['at_80']['p99']:.1f} (at {r['at_80']['rps']:.0f}/s"
            f"{_share(r['at_80'])}) | "
            f"{'' if target is None else f'≥ {target}/s '}{met} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare-inside":
        prepare_inside()
    elif len(sys.argv) > 1 and sys.argv[1] == "--online-inside":
        online_inside()
    elif len(sys.argv) > 1 and sys.argv[1] == "--sign-in-load":
        sign_in_load_inside(
            sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        )
    else:
        main()
