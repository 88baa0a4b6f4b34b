"""What the test run talks to: which PostgreSQL (if any) and which Redis.

Resolved once per run, in the pytest process that starts it (pytest-xdist's controller), and
handed to the workers through the environment:

PostgreSQL, first found wins:
  1. ``IDP_TEST_NO_POSTGRES=1``: none, SQLite only.
  2. ``IDP_TEST_DATABASE_URL``: that server (not probed: a wrong URL fails the run loudly).
  3. a local server at ``127.0.0.1:5432`` (user ``postgres``, database ``test``, trust auth),
     probed with a 2 s timeout; ``IDP_TEST_PG_PROBE=host:port`` moves the probe (to see the
     fallback without stopping the real server, e.g. ``IDP_TEST_PG_PROBE=127.0.0.1:1``).
  4. a server started for this run from the ``pgserver`` wheel's PostgreSQL binaries, on a free
     loopback port with a throwaway data directory, stopped and deleted when the run ends.
     PostgreSQL refuses to run as root: as root it runs as ``nobody`` (``IDP_TEST_PG_OS_USER``).
  Otherwise the run is SQLite only, and the report header and summary say why.

Redis: ``IDP_TEST_REDIS_URL``, else ``redis://127.0.0.1:6379/15`` (``IDP_TEST_REDIS_PROBE`` moves
the probe); the tests that need Redis use it either way, and the report says whether it answered.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

RESOLVED = "_IDP_TEST_RESOLVED"  # the controller's findings, for the xdist workers
PG_DEFAULT_PROBE = "127.0.0.1:5432"
REDIS_DEFAULT_PROBE = "127.0.0.1:6379"


@dataclass
class Found:
    postgres_url: str | None  # None: SQLite only
    postgres_note: str  # where it came from, or why there is none
    redis_url: str
    redis_note: str
    redis_ok: bool

    def lines(self) -> list[str]:
        if self.postgres_url:
            shown = make_url(self.postgres_url).render_as_string(hide_password=True)
            pg = [f"backends: sqlite, postgresql ({shown}, {self.postgres_note})"]
        else:
            pg = ["backends: sqlite", f"postgresql: NOT exercised — {self.postgres_note}"]
        if self.redis_ok:
            redis = f"redis: {self.redis_url} ({self.redis_note})"
        else:
            redis = f"redis: NOT exercised — {self.redis_note}"
        return [*pg, redis]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


# --- PostgreSQL ---------------------------------------------------------------------------------


def _probe_local_postgres(host: str, port: int) -> tuple[str | None, str]:
    """The local server's URL, or why not. Creates the ``test`` database when it is missing."""
    import psycopg

    args = {"host": host, "port": port, "user": "postgres", "connect_timeout": 2}
    try:
        psycopg.connect(dbname="test", **args).close()
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            return None, f"no PostgreSQL at {host}:{port} ({_first_line(error)})"
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **args) as conn:
                conn.execute("CREATE DATABASE test")
        except psycopg.Error as create_error:
            return None, f"{host}:{port} has no database test ({_first_line(create_error)})"
    return f"postgresql+psycopg://postgres@{host}:{port}/test", "local server"


class OwnServer:
    """A PostgreSQL of this run's own, from the pgserver wheel's binaries."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("pgserver")
        if spec is None or not spec.origin:
            raise RuntimeError("the pgserver package is not installed (pip install -e '.[test]')")
        self.bin = Path(spec.origin).parent / "pginstall" / "bin"
        self.run_as: dict = {}
        self.who = ""
        if os.geteuid() == 0:
            import pwd

            name = os.environ.get("IDP_TEST_PG_OS_USER", "nobody")
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                raise RuntimeError(
                    f"running as root, and PostgreSQL refuses root; there is no user {name!r} "
                    "to run it as (set IDP_TEST_PG_OS_USER)"
                ) from None
            self.run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            self.uid, self.gid, self.who = entry.pw_uid, entry.pw_gid, f", as user {name}"
        self.dir = Path(tempfile.mkdtemp(prefix="idp-test-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self.version = ""

    def _run(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(  # noqa: S603  (our own arguments)
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            **self.run_as,
        )
        if done.returncode:
            said = " ".join((done.stderr or done.stdout).split())[-600:]
            raise RuntimeError(f"{args[0]} failed: {said}")
        return done.stdout

    def start(self) -> str:
        if self.run_as:
            os.chown(self.dir, self.uid, self.gid)
        try:
            self.version = self._run("postgres", "--version", timeout=10).split()[-1]
        except (OSError, RuntimeError) as error:
            raise RuntimeError(
                f"its postgres binary does not run{self.who} ({_first_line(error)}); as root the "
                f"binaries under {self.bin} must be readable by that user"
            ) from None
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        with socket.socket() as s:  # a free port (another process could take it: then retry)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60",
                  "-o", options, "start", timeout=90)  # fmt: skip
        atexit.register(self.stop)
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                  "postgres", "-qc", "CREATE DATABASE test")  # fmt: skip
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres(own: list[OwnServer]) -> tuple[str | None, str]:
    if os.environ.get("IDP_TEST_NO_POSTGRES", "") not in ("", "0"):
        return None, "IDP_TEST_NO_POSTGRES is set (SQLite only)"
    if url := os.environ.get("IDP_TEST_DATABASE_URL"):
        return url, "IDP_TEST_DATABASE_URL"
    host, port = _host_port(os.environ.get("IDP_TEST_PG_PROBE", PG_DEFAULT_PROBE))
    url, why_not_local = _probe_local_postgres(host, port)
    if url:
        return url, "local server"
    server = None
    try:
        server = OwnServer()
        url = server.start()
    except Exception as error:
        if server is not None:
            server.stop()
        return None, f"{why_not_local}; and none could be started from pgserver: {error}"
    own.append(server)
    return url, (
        f"no server at {host}:{port}, so started for this run from pgserver's "
        f"PostgreSQL {server.version}{server.who}"
    )


# --- Redis --------------------------------------------------------------------------------------


def _redis() -> tuple[str, str, bool]:
    import redis

    if url := os.environ.get("IDP_TEST_REDIS_URL"):
        where, note = url, "IDP_TEST_REDIS_URL"
    else:
        host, port = _host_port(os.environ.get("IDP_TEST_REDIS_PROBE", REDIS_DEFAULT_PROBE))
        url, where, note = f"redis://{host}:{port}/15", f"{host}:{port}", "local server"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as error:
        why = f"no Redis at {where} ({_first_line(error)}); the tests that need it fail"
        return url, why, False
    return url, note, True


# --- once per run -------------------------------------------------------------------------------


def resolve(is_worker: bool, own: list[OwnServer]) -> Found:
    """In the controller (or a run without xdist): find both, export them. In a worker: read."""
    if is_worker and RESOLVED in os.environ:
        return Found(**json.loads(os.environ[RESOLVED]))
    pg_url, pg_note = _postgres(own)
    redis_url, redis_note, redis_ok = _redis()
    found = Found(pg_url, pg_note, redis_url, redis_note, redis_ok)
    if pg_url:
        os.environ["IDP_TEST_DATABASE_URL"] = pg_url
    else:
        os.environ.pop("IDP_TEST_DATABASE_URL", None)
    os.environ["IDP_TEST_REDIS_URL"] = redis_url
    os.environ[RESOLVED] = json.dumps(asdict(found))
    return found
