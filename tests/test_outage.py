"""A database outage: /readyz says so and requests get 503 (never a 500 with a stack trace);
when the database is back the same process recovers, without a restart.

The outage is real: the app reaches PostgreSQL through a TCP proxy on loopback that the test
cuts (dropping every connection) and restores. PostgreSQL itself keeps running for the other
test workers."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import replace

import pytest
from sqlalchemy.engine import make_url

from idp.app import create_app, settings_of
from tests.apps import close

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("IDP_TEST_DATABASE_URL"),
        reason="needs PostgreSQL (none this run: see the report's postgresql line)",
    ),
    # a database server outage: only the PostgreSQL backend has a server to lose
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session"),
]


class Proxy:
    """A TCP proxy that can be cut: while down it refuses new connections and has closed the
    open ones, as a stopped database server would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.listener.listen(64)
        self.up = True
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def app_behind_proxy(ctx):
    url = make_url(ctx.config["SQLALCHEMY_DATABASE_URI"])
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app(replace(settings_of(ctx), database_url=proxied))
    yield app, proxy
    proxy.close()
    close(app)


def test_readyz_fails_during_a_database_outage_and_recovers_without_restart(app_behind_proxy):
    app, proxy = app_behind_proxy
    web = app.test_client()
    assert web.get("/readyz").status_code == 200

    proxy.cut()
    down = web.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["checks"]["database"].startswith("unavailable")
    assert web.get("/healthz").status_code == 200  # alive, just not ready
    for response in (
        web.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic eDp5"},
        ),
        web.get("/oauth/jwks"),
        web.get("/register/check", query_string={"name": "acme"}),
    ):
        assert response.status_code == 503, response.get_data(as_text=True)[:200]
        assert "Traceback" not in response.get_data(as_text=True)
    assert web.post(
        "/oauth/introspect", data={"token": "x"}, headers={"Authorization": "Basic eDp5"}
    ).get_json()["error"] in ("temporarily_unavailable",)

    proxy.restore()
    assert web.get("/readyz").status_code == 200  # same process, no restart
    assert web.get("/oauth/jwks").status_code == 200


def test_the_token_endpoint_answers_503_during_an_outage_for_every_grant(app_behind_proxy, make):
    """Issue 12: client credentials and refresh answered 500 while PostgreSQL was down: the
    statement that records their token is sent on a raw connection, whose failure to connect
    was not seen as an outage. A client copied in the process reaches that statement with no
    other query first."""
    from tests import oidc_flow as flow

    app, proxy = app_behind_proxy
    owner = make.company("acme")
    make.staff(owner, "alice")
    rp = flow.register(grant_types=["authorization_code", "refresh_token", "client_credentials"])
    web = flow.browser(app)
    tokens = flow.token_set(web, rp, login="acme:alice", password=make.PASSWORD)
    service = {"grant_type": "client_credentials"}
    assert web.post("/oauth/token", headers=rp.basic, data=service).status_code == 200

    proxy.cut()
    for data in (
        service,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ):
        for _ in range(3):  # the first meets a dropped pooled connection, the next a refused one
            down = web.post("/oauth/token", headers=rp.basic, data=data)
            assert down.status_code == 503, (data["grant_type"], down.get_data(as_text=True)[:300])
            assert down.get_json()["error"] == "temporarily_unavailable"

    proxy.restore()
    assert web.post("/oauth/token", headers=rp.basic, data=service).status_code == 200
    refreshed = flow.refresh(web, rp, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()  # no rotation was lost
