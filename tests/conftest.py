"""Test harness. Every test runs on SQLite and again on PostgreSQL whenever the run can get one
(``IDP_TEST_DATABASE_URL``, else the local server, else one started for the run: see
tests/harness.py; ``IDP_TEST_NO_POSTGRES=1`` for SQLite only). The report's header and summary
say which ran. The schema is built by the Alembic migrations, never by ``create_all``. Each
pytest-xdist worker gets its own PostgreSQL database; tables are emptied after every test."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp.app import create_app
from idp.extensions import db
from idp.models.base import utcnow
from idp.settings import Settings
from tests import harness
from tests.apps import close

FOUND: harness.Found | None = None  # this run's PostgreSQL and Redis, set by pytest_configure
OWN_SERVERS: list[harness.OwnServer] = []  # a PostgreSQL started for this run, stopped after it
# Kept between tests: seeded by the migrations, or (signing keys) slow to make and cached.
SEED_TABLES = {"alembic_version", "marketplaces", "signing_keys"}


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _admin_engine():
    base = make_url(os.environ["IDP_TEST_DATABASE_URL"])
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    return base, create_engine(base, isolation_level="AUTOCOMMIT")


def _postgres_database(action: str, name: str) -> None:
    _, admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if action == "create":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _postgres_url() -> tuple[str, str]:
    """A fresh database of this run's and this worker's own (runs may overlap on one server),
    next to the one IDP_TEST_DATABASE_URL names; dropped when the session ends."""
    base, _ = _admin_engine()
    name = f"{base.database}_idp_{_worker()}_{os.getpid()}"
    _postgres_database("create", name)
    return base.set(database=name).render_as_string(hide_password=False), name


def pytest_configure(config) -> None:
    """Before any test module is imported (some read IDP_TEST_DATABASE_URL at import)."""
    global FOUND
    FOUND = harness.resolve(hasattr(config, "workerinput"), OWN_SERVERS)


def pytest_unconfigure(config) -> None:
    while OWN_SERVERS:
        OWN_SERVERS.pop().stop()


def pytest_report_header(config) -> list[str]:
    return FOUND.lines() if FOUND else []


def pytest_terminal_summary(terminalreporter) -> None:
    if FOUND:
        terminalreporter.section("backends")
        for line in FOUND.lines():
            terminalreporter.write_line(line)


def backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if FOUND and FOUND.postgres_url else [])


def pytest_generate_tests(metafunc) -> None:
    """Every test that uses the database runs once per backend (unless it names its own)."""
    if "backend" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if "backend" in names:
            return
    metafunc.parametrize("backend", backends(), indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def app(backend, tmp_path_factory):
    instance: Path = tmp_path_factory.mktemp(f"instance-{backend}")
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{instance / 'test.sqlite3'}"
    else:
        url, pg_name = _postgres_url()
    settings = Settings(
        env="test", instance_path=instance, database_url=url, issuer="http://localhost"
    ).with_development_defaults()
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        upgrade()
    yield app
    close(app)
    if pg_name:
        _postgres_database("drop", pg_name)


def _empty_tables() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in SEED_TABLES]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def ctx(app):
    """An application context on a clean database and a clean shared store (counters, markers
    and caches of one test never meet another's)."""
    from idp import kv

    app.extensions[kv.EXTENSION] = kv.MemoryStore()
    app.extensions.pop("idp.verified", None)
    # Signing keys outlive a test (a seed table), and an earlier test may have rotated them
    # through another app over this database (a live server, a second instance): this app's
    # ring, loaded under the old keys less than REFRESH_SECONDS ago, would still sign with the
    # superseded key and switch at its next refresh, in the middle of this test.
    app.extensions["idp.keyring"].invalidate()
    with app.app_context():
        try:
            yield app
        finally:
            db.session.rollback()
            db.session.remove()
            _empty_tables()
            db.session.remove()


@pytest.fixture
def client(ctx):
    return ctx.test_client()


@pytest.fixture
def web(ctx):
    """A browser on the test app: cookies kept, each request in its own app context."""
    from tests import oidc_flow

    return oidc_flow.browser(ctx)


@pytest.fixture
def make():
    from tests import factories

    return factories


class Clock:
    """The app's injectable clock (idp.clock), for 72-hour links and 15-minute locks."""

    def __init__(self, start: datetime) -> None:
        self.start = self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, **delta: float) -> None:
        """Move to ``start + delta`` (hours=71, minutes=59, …)."""
        self.now = self.start + timedelta(**delta)


@pytest.fixture
def clock(ctx):
    before = ctx.extensions.get("idp.clock")
    ctx.extensions["idp.clock"] = fixed = Clock(utcnow().replace(microsecond=0))
    try:
        yield fixed
    finally:
        if before is None:
            ctx.extensions.pop("idp.clock", None)
        else:
            ctx.extensions["idp.clock"] = before


@pytest.fixture
def run(ctx, monkeypatch):
    """``run("staff", "list", "acme", code=0)``: invoke ``idp`` and check its exit status."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import idp.commands  # noqa: F401  (registers the subcommands on ``cli``)
    from idp.cli import cli

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # FlaskGroup sets it; undone after the test
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: ctx))
        assert result.exit_code == code, result.output
        return result

    return invoke
