"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and a fixture that points
the test app's outbox at it. A test module uses it with ``pytest_plugins = ["tests.smtp"]``.

The server can be stopped and started again on the same port, to show that mail written while it
is down waits in the outbox and is delivered once it is back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1; ``messages`` are the emails received, parsed, in order."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # as received, before any parser decodes a header
        self._received = threading.Condition()
        self._controller: Controller | None = None

    # aiosmtpd handler hook
    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        with self._received:
            self.raw.append(raw)
            self.messages.append(message)
            self._received.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> None:
        """Listen (again) on the same port; a new controller each time, as a restarted server."""
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages once at least ``count`` have arrived; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} emails, received {len(self.messages)}: "
                        f"{[m['Subject'] for m in self.messages]}"
                    )
                self._received.wait(left)
            return list(self.messages)

    def settle(self, seconds: float = 0.5) -> list[EmailMessage]:
        """The messages after a short quiet time: to show that nothing more arrives."""
        time.sleep(seconds)
        with self._received:
            return list(self.messages)


@pytest.fixture
def smtp(ctx) -> Iterator[SmtpServer]:
    """A running SMTP server the app's outbox sends to (plain SMTP, no TLS, on loopback), for
    the length of one test; the app's settings are put back afterwards."""
    server = SmtpServer()
    server.start()
    settings = ctx.extensions["idp.settings"]
    ctx.extensions["idp.settings"] = replace(
        settings, smtp_host=server.host, smtp_port=server.port, smtp_security="none"
    )
    try:
        yield server
    finally:
        ctx.extensions["idp.settings"] = settings
        server.stop()
