"""The ``idp`` command, driven in-process against the test app: owner operations print what they
did; a refused operation is one ``error: …`` line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import json

import pytest

import idp.commands  # noqa: F401  (registers the subcommands on ``cli``)
from idp.demo import OWNER_PASSWORD, STAFF, STORES
from idp.models import Account
from idp.services import accounts, roles, stores
from idp.services.permissions import MAIN_ONLY, PERMISSIONS

PW = "correct horse battery"
SG, MY, LZ = "shopee-sg/1001", "shopee-my/2001", "lazada-sg/3001"


@pytest.fixture
def acme(run):
    """The company ``acme`` with three authorized stores, made through the command."""
    run("company", "create", "acme", "--email", "owner@acme.test", "--password", PW)
    for ref in (SG, MY, LZ):
        marketplace, external_id = ref.split("/")
        run("store", "authorize", "acme", marketplace, external_id, f"Acme {marketplace}")
    return run


def owner() -> Account:
    return accounts.find_by_login_name("acme")


def sid(ref: str) -> str:
    return stores.get_store(owner(), ref).public_id


def staff(run, *flags: str) -> dict[str, dict]:
    out = run("staff", "list", "acme", "--json", *flags).stdout
    return {row["login"]: row for row in json.loads(out)}


def hire(run, name: str, *store_refs: str, roles: str = "") -> None:
    run(
        "staff",
        "create",
        "acme",
        name,
        "--password",
        PW,
        "--stores",
        ",".join(store_refs),
        "--roles",
        roles,
    )


# --- companies and stores -------------------------------------------------------------------


@pytest.mark.parametrize(("plan", "limit"), [("standard", 99), ("basic", 5)])
def test_company_create(run, plan, limit):
    out = run(
        "company", "create", "acme", "--email", "owner@acme.test", "--password", PW, "--plan", plan
    ).stdout
    assert "the owner signs in as 'acme'" in out
    main = accounts.authenticate("acme", PW)
    assert main.is_main and main.company.sub_account_limit == limit


def test_store_authorize_list_deauthorize(acme):
    hire(acme, "alice", SG, MY)
    listed = acme("store", "list", "acme").stdout
    assert all(ref in listed for ref in (SG, MY, LZ)) and "operators=[acme]" in listed

    out = acme("store", "deauthorize", "acme", SG).stdout
    assert "taken from 1 sub-account(s)" in out and "acme:alice" in out
    assert SG not in acme("store", "list", "acme").stdout
    assert "deauthorized" in acme("store", "list", "acme", "--all").stdout
    assert staff(acme)["acme:alice"]["stores"] == [sid(MY)]  # R10


# --- staff ----------------------------------------------------------------------------------


def test_staff_create_edit_disable_enable_and_list(acme):
    out = acme(
        "staff",
        "create",
        "acme",
        "alice",
        "--password",
        PW,
        "--email",
        "a@acme.test",
        "--roles",
        "Customer Service",
        "--stores",
        f"{MY},{SG}",
    ).stdout
    assert out.startswith("created acme:alice") and f"stores=[*{MY}, {SG}]" in out
    hire(acme, "bob", LZ)
    alice = staff(acme)["acme:alice"]
    assert alice["roles"] == ["Customer Service"] and alice["default_store"] == sid(MY)

    out = acme(
        "staff",
        "edit",
        "acme",
        "alice",
        "--email",
        "alice@acme.test",
        "--roles",
        "Operations,Finance",
    ).stdout
    assert "alice@acme.test" in out
    assert sorted(staff(acme)["acme:alice"]["roles"]) == ["Finance", "Operations"]

    assert acme("staff", "disable", "acme", "alice").stdout.strip() == "disabled acme:alice"
    assert list(staff(acme)) == ["acme:bob"]
    assert list(staff(acme, "--departed")) == ["acme:alice"]
    assert list(staff(acme, "--departed", "--search", "ALI")) == ["acme:alice"]
    assert list(staff(acme, "--departed", "--search", "bob")) == []
    assert (
        "no departed staff" in acme("staff", "list", "acme", "--departed", "--search", "zed").stdout
    )

    assert "re-enabled acme:alice" in acme("staff", "enable", "acme", "alice").stdout
    assert list(staff(acme)) == ["acme:alice", "acme:bob"]
    assert "no departed staff" in acme("staff", "list", "acme", "--departed").stdout


@pytest.mark.parametrize(
    ("mode", "refs", "alice", "bob"),
    [
        ("add", [MY], [SG, LZ, MY], [SG, MY]),
        ("remove", [SG], [LZ], [MY]),
        ("reset", [LZ], [LZ], [LZ]),
    ],
)
def test_staff_assign_batch_modes(acme, mode, refs, alice, bob):
    hire(acme, "alice", SG, LZ)
    hire(acme, "bob", SG, MY)
    acme(
        "staff",
        "assign",
        "acme",
        "--accounts",
        "alice,bob",
        "--stores",
        ",".join(refs),
        "--mode",
        mode,
    )
    rows = staff(acme)
    for login, expected in (("acme:alice", alice), ("acme:bob", bob)):
        assert rows[login]["stores"] == [sid(r) for r in expected]
        assert rows[login]["default_store"] == sid(expected[0])  # R9/R10: earliest still held


def test_staff_assign_is_all_or_nothing(acme):
    hire(acme, "alice", SG)
    result = acme("staff", "assign", "acme", "--accounts", "alice,nobody", "--stores", MY, code=1)
    assert result.stderr.startswith("error: ")
    assert staff(acme)["acme:alice"]["stores"] == [sid(SG)]


def test_staff_default_store(acme):
    hire(acme, "alice", SG, MY)
    assert staff(acme)["acme:alice"]["default_store"] == sid(SG)  # R9: the first given
    assert f"stores=[{SG}, *{MY}]" in acme("staff", "default-store", "acme", "alice", MY).stdout
    assert staff(acme)["acme:alice"]["default_store"] == sid(MY)
    acme("staff", "default-store", "acme", "alice", LZ, code=1)  # not held


def test_staff_reset_password_shows_a_generated_password_once(acme):
    hire(acme, "alice", SG)
    out = acme("staff", "reset-password", "acme", "alice").stdout
    assert "must change it at next sign-in" in out
    (line,) = [ln for ln in out.splitlines() if "shown once" in ln]
    new = line.rsplit(": ", 1)[1]
    account = accounts.authenticate("acme:alice", new)
    assert account.must_change_password is True
    with pytest.raises(accounts.AuthenticationFailed):
        accounts.authenticate("acme:alice", PW)

    out = acme("staff", "reset-password", "acme", "alice", "--password", "chosen by owner").stdout
    assert "shown once" not in out and "chosen by owner" not in out
    assert accounts.authenticate("acme:alice", "chosen by owner").must_change_password


# --- roles and groups -----------------------------------------------------------------------


def test_role_permissions_lists_the_catalogue_and_main_only_capabilities(run):
    out = run("role", "permissions").stdout
    catalogue, main_only = out.split("main account only")
    assert all(p in catalogue for p in PERMISSIONS)
    assert all(p in main_only and p not in catalogue for p in MAIN_ONLY)


def test_role_create_list_update_delete(acme):
    assert "Customer Service" in acme("role", "list", "acme").stdout
    out = acme("role", "create", "acme", "Night shift", "--permissions", "chat:send,chat:read")
    assert out.stdout.strip() == "created role Night shift: chat:read, chat:send"
    assert "Night shift" in acme("role", "list", "acme").stdout

    out = acme(
        "role",
        "update",
        "acme",
        "night SHIFT",
        "--new-name",
        "Late shift",
        "--permissions",
        "orders:view",
    )
    assert out.stdout.strip() == "updated role Late shift: orders:view"
    assert roles.get_role(owner(), "Late shift").permissions == ["orders:view"]

    hire(acme, "alice", SG, roles="Late shift")
    acme("role", "delete", "acme", "Late shift", code=1)  # still held
    acme("staff", "edit", "acme", "alice", "--roles", "")
    assert acme("role", "delete", "acme", "Late shift").stdout.strip() == "deleted role Late shift"
    assert "Late shift" not in acme("role", "list", "acme").stdout


def test_group_create_add_remove_list(acme):
    hire(acme, "alice", SG)
    out = acme("group", "create", "acme", SG, "Pre-sale").stdout
    assert out.startswith("created group Pre-sale")
    group_id = out.split("(id ")[1].split(")")[0]

    assert "alice joined Pre-sale" in acme("group", "add", "acme", group_id, "alice").stdout
    assert "[acme:alice]" in acme("group", "list", "acme").stdout
    assert "alice left Pre-sale" in acme("group", "remove", "acme", group_id, "alice").stdout
    listed = acme("group", "list", "acme").stdout
    assert "Pre-sale" in listed and "[]" in listed
    acme("group", "remove", "acme", group_id, "alice", code=1)  # not a member any more


# --- demo -----------------------------------------------------------------------------------


def test_demo_loads_the_demo_company_once(run):
    out = run("demo").stdout
    assert "owner signs in as 'acme'" in out
    main = accounts.authenticate("acme", OWNER_PASSWORD)
    held = stores.list_stores(main)
    assert len(held) == len(STORES) >= 3
    assert len({s.marketplace_code for s in held}) >= 3
    active, departed = accounts.list_staff(main), accounts.list_staff(main, departed=True)
    assert [a.name for a in departed] == ["dave"]
    assert len(active) == len(STAFF) - 1 >= 3
    assert len({r.name for a in active for r in a.roles}) >= 3
    name, password = STAFF[0][:2]
    assert accounts.authenticate(f"acme:{name}", password).stores

    assert run("demo", "--if-empty").stdout.strip() == "database not empty; demo not loaded"
    assert len(accounts.list_staff(main)) == len(active)
    assert run("demo", code=1).stderr.startswith("error: ")  # the name acme is taken


def test_demo_if_empty_loads_into_an_empty_database(run):
    assert "owner signs in as 'acme'" in run("demo", "--if-empty").stdout


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("staff", "create", "acme", "123", "--password", PW), "must not be all digits"),
        (("staff", "list", "nope"), "No company named 'nope'"),
        (("staff", "disable", "acme", "ghost"), "No such sub-account"),
        (("store", "authorize", "acme", "ebay-us", "1", "Acme eBay"), "Unknown marketplace"),
        (("role", "create", "acme", "Cashier", "--permissions", "wallet:manage"), "main account"),
        (("company", "create", "acme", "--email", "x@acme.test", "--password", PW), "taken"),
    ],
)
def test_a_domain_error_is_one_line_and_exit_1(acme, args, message):
    result = acme(*args, code=1)
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_demo_app_follows_the_issuer_to_another_port(ctx, run, monkeypatch):
    """Issue 12: the development server moved to IDP_PORT=8000; ``make run`` (``idp demo
    --if-empty``) lets the demo app come back to the new address."""
    from dataclasses import replace

    from idp.demo import load_demo
    from idp.oauth import clients
    from idp.web.demo_app import CLIENT_ID

    list(load_demo())
    moved = replace(
        ctx.extensions["idp.settings"], env="development", issuer="http://127.0.0.1:8000"
    )
    monkeypatch.setitem(ctx.extensions, "idp.settings", moved)
    out = run("demo", "--if-empty").output
    assert "now also accepts http://127.0.0.1:8000" in out
    client = clients.get_client(CLIENT_ID)
    assert "http://127.0.0.1:8000/demo/callback" in client.redirect_uris
    assert "now also accepts" not in run("demo", "--if-empty").output  # once
