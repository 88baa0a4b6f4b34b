"""Fixtures shared by the protocol tests: the company acme, its staff member alice, a
registered app, and a browser signed in as alice. Load with ``pytest_plugins``."""

from __future__ import annotations

import pytest

from tests import oidc_flow as flow


@pytest.fixture
def owner(ctx, make):
    return make.company("acme")


@pytest.fixture
def alice(owner, make):
    return make.staff(owner, "alice")


@pytest.fixture
def rp(ctx):
    return flow.register()


@pytest.fixture
def signed_in(web, alice, make):
    """A browser with alice's SSO session: a refusal is not just "please sign in"."""
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    return web
