"""The access log (IDP_ACCESS_LOG, on by default in production) names each request's path; a
token carried in the path itself (activation, password reset, one-click unsubscribe) is masked,
so that reading the log is no password reset. "Never log passwords, codes or tokens."""

from __future__ import annotations

import dataclasses
import logging

import pytest

FAKE_TOKEN = "eyJhIjoiYWNtZSJ9.SECRETSECRETSECRET"


@pytest.fixture
def logged(app, caplog):
    settings = app.extensions["idp.settings"]
    app.extensions["idp.settings"] = dataclasses.replace(settings, access_log=True)
    caplog.set_level(logging.INFO, logger="idp.access")
    try:
        yield caplog
    finally:
        app.extensions["idp.settings"] = settings


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/activate/{t}"),
        ("GET", "/reset/{t}"),
        ("GET", "/unsubscribe/{t}"),
        ("POST", "/unsubscribe/{t}"),
    ],
)
def test_a_token_in_the_path_is_masked_in_the_access_log(ctx, web, logged, method, path):
    web.open(path.format(t=FAKE_TOKEN), method=method)
    lines = [r for r in logged.records if r.name == "idp.access"]
    assert lines, "no access log line"
    line = lines[-1]
    assert "SECRET" not in line.getMessage() and "SECRET" not in line.path
    assert line.path == path.format(t="[redacted]")


def test_other_paths_are_logged_as_they_are(ctx, web, logged):
    web.get("/login")
    assert [r.path for r in logged.records if r.name == "idp.access"][-1] == "/login"
