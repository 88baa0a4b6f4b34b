"""Real HTTP on loopback for the interop tests: the provider served by werkzeug, and a receiver
that records back-channel logout POSTs. Import the fixtures into a test module to use them.

The live provider is its own app (one per backend and test session) over the test database: its
issuer must be the address it is served at, since discovery and every token name it."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from idp.app import create_app, settings_of
from tests.apps import close


@dataclass(frozen=True)
class LiveProvider:
    url: str
    app: Flask


def _placeholder(environ, start_response):  # replaced once the port, hence the issuer, is known
    start_response("503 Service Unavailable", [])
    return [b""]


@pytest.fixture(scope="session")
def _live_provider(app) -> Iterator[LiveProvider]:
    """Bind port 0 first (no race for a free port), then build the app whose issuer is that
    address, over the same database and secrets as the test app."""
    server = make_server("127.0.0.1", 0, _placeholder, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    live_app = create_app(replace(settings_of(app), issuer=url))
    server.app = live_app
    thread = threading.Thread(target=server.serve_forever, name="idp-live", daemon=True)
    thread.start()
    try:
        yield LiveProvider(url, live_app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        close(live_app)


@pytest.fixture
def live_server(ctx, _live_provider: LiveProvider) -> str:
    """The provider's base URL (its issuer), serving the clean test database of ``ctx``."""
    return _live_provider.url


@pytest.fixture
def live_app(ctx, _live_provider: LiveProvider) -> Flask:
    """The app object the live server runs (its key cache is per app: rotate keys through it)."""
    return _live_provider.app


class LogoutReceiver:
    """A relying party's back-channel logout endpoint: records each POSTed form."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with receiver._arrived:
                    receiver.received.append(
                        {
                            "content_type": self.headers.get("Content-Type", ""),
                            **dict(parse_qsl(body, keep_blank_values=True)),
                        }
                    )
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, str]]:
        """The forms received, once ``count`` have arrived (delivery runs in the background)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            assert len(self.received) >= count, f"{len(self.received)} of {count} logouts arrived"
            return list(self.received)


@pytest.fixture
def logout_receiver() -> Iterator[LogoutReceiver]:
    receiver = LogoutReceiver()
    thread = threading.Thread(
        target=receiver.server.serve_forever, name="rp-backchannel", daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


def _form_field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field on the page"
    return html.unescape(match.group(1))


class HttpBrowser:
    """A user agent over real HTTP with its own cookie jar. It follows the provider's redirects one
    by one, fills in the sign-in form when one is shown (counting it), and stops at the first
    redirect that leaves the provider (a relying party's redirect URI, never fetched)."""

    def __init__(self, provider_url: str) -> None:
        self.provider_url = provider_url
        self.http = requests.Session()
        self.password_prompts = 0

    def go(self, url: str, login: tuple[str, str] | None = None) -> tuple[str, dict[str, str]]:
        """The address the provider sent the browser back to, and its query parameters."""
        response = self.http.get(url, allow_redirects=False, timeout=10)
        for _ in range(10):
            if response.status_code == 200 and 'name="password"' in response.text:
                self.password_prompts += 1
                assert login, "the provider asked for a password again"
                response = self.http.post(
                    urljoin(response.url, "/login"),
                    data={
                        "csrf_token": _form_field(response.text, "csrf_token"),
                        "next": _form_field(response.text, "next"),
                        "login": login[0],
                        "password": login[1],
                    },
                    allow_redirects=False,
                    timeout=10,
                )
                login = None  # asked twice in one walk: the next prompt fails the test
                continue
            assert response.status_code in (302, 303), (response.status_code, response.text[:300])
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.provider_url + "/"):
                return target, dict(parse_qsl(urlsplit(target).query))
            response = self.http.get(target, allow_redirects=False, timeout=10)
        raise AssertionError("too many redirects")
