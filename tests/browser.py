"""Chromium (Debian's, never a downloaded build) driven by Playwright, for the browser tests: one
browser per test session and worker, a fresh context (cookies, storage) per test. Load with
``pytest_plugins = ["tests.browser"]``: a second session fixture defined in another module would
start Playwright twice in one process, which it refuses."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert shutil.which("chromium"), (
        "Chromium is needed for the browser tests: apt-get install chromium (make test does it)"
    )
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()
