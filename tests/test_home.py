"""The start page says what is running and how to sign in; errors are a page for people and JSON
for programs, never a stack trace."""

from __future__ import annotations

import pytest

from idp.demo import OWNER_PASSWORD


def test_start_page_says_what_is_running_and_how_to_sign_in(client, backend, make):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "http://localhost" in page  # the issuer
    assert f"<strong>{backend}</strong>" in page
    assert "No company yet" in page and "idp demo" in page
    assert "acme:alice" in page and OWNER_PASSWORD in page  # how to sign in to the demo

    make.company("淘宝")
    page = client.get("/").get_data(as_text=True)
    assert "<code>淘宝:name</code>" in page and "No company yet" not in page


def test_unknown_url_is_a_404_page_without_a_stack_trace(client):
    response = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Error 404 (not_found)" in page and "requested URL was not found" in page
    assert "Traceback" not in page and "werkzeug" not in page.lower()


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/no/such/page", "application/json"), ("/oauth/no-such-endpoint", "text/html")],
    ids=["accept-json", "protocol-path"],
)
def test_unknown_url_answers_json_to_programs(client, path, accept):
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404 and response.is_json
    body = response.get_json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "not_found" and "not found" in body["error_description"]
    assert "Traceback" not in response.get_data(as_text=True)
