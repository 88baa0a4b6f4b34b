"""Subcommands of ``idp``: thin wrappers that parse, call one service, and print.

Owner operations name the company; they act as its main account, so the audit log shows who."""

from __future__ import annotations

import json
import sys
from functools import wraps

import click
from flask import current_app

from idp.cli import cli
from idp.errors import DomainError
from idp.extensions import db
from idp.models import Account
from idp.services import accounts, companies, groups, roles, stores
from idp.services.permissions import MAIN_ONLY, PERMISSIONS


def friendly(func):
    """Domain errors become one clear line on stderr and exit status 1, never a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


def owner_of(company_name: str) -> Account:
    company = companies.company_by_name(company_name)
    return db.session.query(Account).filter_by(company_id=company.id, kind="main").one()


def split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def describe(account: Account) -> str:
    store_names = ", ".join(
        ("*" if s.id == account.default_store_id else "") + f"{s.marketplace_code}/{s.external_id}"
        for s in account.stores
    )
    role_names = ", ".join(r.name for r in account.roles)
    return (
        f"{account.login_name:<28} {account.status:<9} {account.email or '-':<28} "
        f"roles=[{role_names}] stores=[{store_names}]"
    )


# --- companies ------------------------------------------------------------------------------


@cli.group("company")
def company_group() -> None:
    """Create companies (tenants) and set their plan."""


@company_group.command("create")
@click.argument("name")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--phone")
@click.option(
    "--plan",
    type=click.Choice(sorted(companies.PLAN_LIMITS)),
    default=None,
    help="basic (5 sub-accounts) or standard (99); default IDP_DEFAULT_SUB_ACCOUNT_LIMIT",
)
@friendly
def company_create(name, email, password, phone, plan):
    """Create a company NAME with its main account."""
    main = companies.create_company(
        name,
        email=email,
        password=password,
        phone=phone,
        sub_account_limit=companies.PLAN_LIMITS[plan] if plan else None,
    )
    click.echo(
        f"created company {main.company.name} ({main.company.public_id}); "
        f"the owner signs in as '{main.login_name}'"
    )


@company_group.command("invite-again")
@click.argument("company")
@friendly
def company_invite_again(company):
    """R13: send COMPANY's main account a new activation link (older links stop working)."""
    from idp.services import registration

    registration.invite_again(owner_of(company))
    click.echo(f"a new activation link was sent to the owner of {company}")


@company_group.command("set-limit")
@click.argument("company")
@click.argument("limit", type=int)
@friendly
def company_set_limit(company, limit):
    """R2: set COMPANY's sub-account limit (5 basic, 99 standard)."""
    companies.set_sub_account_limit(companies.company_by_name(company), limit)
    click.echo(f"{company} may now have {limit} sub-accounts")


# --- stores ---------------------------------------------------------------------------------


@cli.group("store")
def store_group() -> None:
    """Authorize, de-authorize and list a company's stores."""


@store_group.command("authorize")
@click.argument("company")
@click.argument("marketplace")
@click.argument("external_id")
@click.argument("name")
@friendly
def store_authorize(company, marketplace, external_id, name):
    """R8: authorize the MARKETPLACE store EXTERNAL_ID called NAME."""
    store = stores.authorize_store(owner_of(company), marketplace, external_id, name)
    click.echo(f"authorized {store.marketplace_code}/{store.external_id} ({store.public_id})")


@store_group.command("deauthorize")
@click.argument("company")
@click.argument("store")
@friendly
def store_deauthorize(company, store):
    """R10: de-authorize STORE (public id or marketplace/external_id)."""
    owner = owner_of(company)
    plan = stores.deauthorize_store(owner, stores.get_store(owner, store))
    click.echo(f"de-authorized {store}; taken from {len(plan)} sub-account(s)")
    for step in plan:
        click.echo(f"  {describe(step.account)}")


@store_group.command("list")
@click.argument("company")
@click.option("--all", "show_all", is_flag=True, help="Include de-authorized stores.")
@friendly
def store_list(company, show_all):
    for store in stores.list_stores(owner_of(company), include_deauthorized=show_all):
        operators = ", ".join(a.login_name for a in stores.store_operators(store))
        click.echo(
            f"{store.public_id}  {store.marketplace_code}/{store.external_id:<14} "
            f"{store.status:<12} {store.operation_mode:<10} {store.name}  "
            f"operators=[{operators}]"
        )


@store_group.command("operators")
@click.argument("company")
@click.argument("store")
@click.option("--mode", type=click.Choice(["by_store", "by_product"]), required=True)
@click.option("--operators", help="Comma-separated sub-names ('main' for the main account).")
@friendly
def store_operators(company, store, mode, operators):
    """R12: set how STORE is operated, and by whom (reporting only)."""
    owner = owner_of(company)
    stores.set_store_operators(owner, stores.get_store(owner, store), mode, split(operators))
    click.echo(f"{store} is operated {mode}")


@cli.command("marketplaces")
def marketplaces_list():
    """List the marketplaces stores can belong to."""
    for m in stores.marketplaces():
        click.echo(f"{m.code:<16} {m.name}")


# --- staff ----------------------------------------------------------------------------------


@cli.group("staff")
def staff_group() -> None:
    """Create, edit, disable and re-enable sub-accounts; assign stores."""


@staff_group.command("create")
@click.argument("company")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--email")
@click.option("--phone")
@click.option("--nickname")
@click.option("--notes")
@click.option("--roles", help="Comma-separated role names.")
@click.option("--stores", "store_ids", help="Comma-separated stores; the first is the default.")
@friendly
def staff_create(company, name, password, email, phone, nickname, notes, roles, store_ids):
    """Create the sub-account COMPANY:NAME."""
    account = accounts.create_sub_account(
        owner_of(company),
        name=name,
        password=password,
        email=email,
        phone=phone,
        nickname=nickname,
        notes=notes,
        roles=split(roles),
        stores=split(store_ids),
    )
    click.echo(f"created {describe(account)}")


@staff_group.command("edit")
@click.argument("company")
@click.argument("name")
@click.option("--new-name")
@click.option("--email")
@click.option("--phone")
@click.option("--nickname")
@click.option("--notes")
@click.option("--roles", help="Comma-separated role names (replaces the current ones).")
@click.option("--password", help="Hand the account over with a new password.")
@friendly
def staff_edit(company, name, new_name, email, phone, nickname, notes, roles, password):
    """R18: change a sub-account's information (R4: hand it over to another person)."""
    owner = owner_of(company)
    changes = {
        k: v
        for k, v in {
            "name": new_name,
            "email": email,
            "phone": phone,
            "nickname": nickname,
            "notes": notes,
            "password": password,
        }.items()
        if v is not None
    }
    if roles is not None:
        changes["roles"] = split(roles)
    account = accounts.update_sub_account(owner, accounts.get_sub_account(owner, name), **changes)
    click.echo(f"updated {describe(account)}")


@staff_group.command("disable")
@click.argument("company")
@click.argument("name")
@friendly
def staff_disable(company, name):
    """R4/R5: disable (depart) a sub-account; it is never deleted."""
    owner = owner_of(company)
    account = accounts.disable_sub_account(owner, accounts.get_sub_account(owner, name))
    click.echo(f"disabled {account.login_name}")


@staff_group.command("enable")
@click.argument("company")
@click.argument("name")
@friendly
def staff_enable(company, name):
    """R4: re-enable a departed sub-account."""
    owner = owner_of(company)
    account = accounts.enable_sub_account(owner, accounts.get_sub_account(owner, name))
    click.echo(f"re-enabled {account.login_name}")


@staff_group.command("reset-password")
@click.argument("company")
@click.argument("name")
@click.option("--password", help="The new password; generated and shown once when omitted.")
@friendly
def staff_reset_password(company, name, password):
    """R16: reset a sub-account's password; it must choose a new one at next sign-in."""
    owner = owner_of(company)
    new = accounts.reset_sub_account_password(
        owner, accounts.get_sub_account(owner, name), password
    )
    click.echo(
        "password reset; the staff member must change it at next sign-in"
        + ("" if password else f"\nnew password (shown once): {new}")
    )


@staff_group.command("end-sessions")
@click.argument("company")
@click.argument("name")
@friendly
def staff_end_sessions(company, name):
    """R16: end a sub-account's sessions everywhere (its tokens stop working)."""
    from idp.oauth.sessions import end_sessions_by_owner

    owner = owner_of(company)
    count = end_sessions_by_owner(owner, accounts.get_sub_account(owner, name))
    click.echo(f"ended {count} session(s) of {company}:{name}")


@staff_group.command("reset-2fa")
@click.argument("company")
@click.argument("name")
@friendly
def staff_reset_2fa(company, name):
    """R16: reset a sub-account's second factor (it enrols again at next sign-in)."""
    from idp.services import totp

    owner = owner_of(company)
    totp.reset_totp(owner, accounts.get_sub_account(owner, name))
    click.echo(f"second factor of {company}:{name} reset")


@cli.command("require-2fa")
@click.argument("company")
@click.argument("required", type=click.Choice(["on", "off"]))
@friendly
def require_2fa(company, required):
    """R19: require a second factor for all staff of COMPANY."""
    from idp.services import totp

    totp.set_required_for_staff(owner_of(company), required == "on")
    click.echo(f"second factor for all staff of {company}: {required}")


@staff_group.command("list")
@click.argument("company")
@click.option("--departed", is_flag=True, help="List departed (disabled) staff instead.")
@click.option("--search")
@click.option("--json", "as_json", is_flag=True)
@friendly
def staff_list(company, departed, search, as_json):
    """List enabled staff, or departed staff with --departed (R4)."""
    rows = accounts.list_staff(owner_of(company), departed=departed, search=search)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "login": a.login_name,
                        "id": a.public_id,
                        "status": a.status,
                        "stores": [s.public_id for s in a.stores],
                        "default_store": a.default_store.public_id if a.default_store else None,
                        "roles": [r.name for r in a.roles],
                    }
                    for a in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for account in rows:
        click.echo(describe(account))
    if not rows:
        click.echo("no departed staff" if departed else "no staff")


@staff_group.command("assign")
@click.argument("company")
@click.option("--accounts", "names", required=True, help="Comma-separated sub-names.")
@click.option("--stores", "store_ids", required=True, help="Comma-separated stores.")
@click.option("--mode", type=click.Choice(stores.BATCH_MODES), default="add", show_default=True)
@friendly
def staff_assign(company, names, store_ids, mode):
    """R11: add, remove or reset stores for one or many sub-accounts, all or nothing."""
    changed = stores.assign_stores(owner_of(company), split(names), split(store_ids), mode)
    for account in changed:
        click.echo(describe(account))


@staff_group.command("default-store")
@click.argument("company")
@click.argument("name")
@click.argument("store")
@friendly
def staff_default_store(company, name, store):
    """R9: set a sub-account's default store."""
    owner = owner_of(company)
    account = stores.set_default_store(owner, accounts.get_sub_account(owner, name), store)
    click.echo(describe(account))


# --- roles and groups -----------------------------------------------------------------------


@cli.group("role")
def role_group() -> None:
    """Manage roles (named permission sets)."""


@role_group.command("list")
@click.argument("company")
@friendly
def role_list(company):
    for role in roles.list_roles(owner_of(company)):
        kind = "built-in" if role.is_builtin else "custom"
        click.echo(f"{role.name:<22} {kind:<9} {', '.join(role.permissions)}")


@role_group.command("permissions")
def role_permissions():
    """The permission catalogue, and what only the main account can do (R6)."""
    for name, text in PERMISSIONS.items():
        click.echo(f"{name:<20} {text}")
    click.echo("\nmain account only (no role can grant these):")
    for name, text in MAIN_ONLY.items():
        click.echo(f"{name:<20} {text}")


@role_group.command("create")
@click.argument("company")
@click.argument("name")
@click.option("--permissions", required=True, help="Comma-separated permission strings.")
@click.option("--description")
@friendly
def role_create(company, name, permissions, description):
    role = roles.create_role(owner_of(company), name, split(permissions), description)
    click.echo(f"created role {role.name}: {', '.join(role.permissions)}")


@role_group.command("update")
@click.argument("company")
@click.argument("name")
@click.option("--new-name")
@click.option("--permissions", help="Comma-separated; replaces the current ones.")
@friendly
def role_update(company, name, new_name, permissions):
    owner = owner_of(company)
    role = roles.update_role(
        owner,
        roles.get_role(owner, name),
        name=new_name,
        permissions=split(permissions) if permissions is not None else None,
    )
    click.echo(f"updated role {role.name}: {', '.join(role.permissions)}")


@role_group.command("delete")
@click.argument("company")
@click.argument("name")
@friendly
def role_delete(company, name):
    owner = owner_of(company)
    roles.delete_role(owner, roles.get_role(owner, name))
    click.echo(f"deleted role {name}")


@cli.group("group")
def group_group() -> None:
    """Manage staff groups per store (R23)."""


@group_group.command("create")
@click.argument("company")
@click.argument("store")
@click.argument("name")
@friendly
def group_create(company, store, name):
    group = groups.create_group(owner_of(company), store, name)
    click.echo(f"created group {group.name} (id {group.id}) in {group.store.name}")


@group_group.command("add")
@click.argument("company")
@click.argument("group_id", type=int)
@click.argument("name")
@friendly
def group_add(company, group_id, name):
    owner = owner_of(company)
    group = groups.add_member(
        owner, groups.get_group(owner, group_id), accounts.get_sub_account(owner, name)
    )
    click.echo(f"{name} joined {group.name}")


@group_group.command("remove")
@click.argument("company")
@click.argument("group_id", type=int)
@click.argument("name")
@friendly
def group_remove(company, group_id, name):
    owner = owner_of(company)
    group = groups.remove_member(
        owner, groups.get_group(owner, group_id), accounts.get_sub_account(owner, name)
    )
    click.echo(f"{name} left {group.name}")


@group_group.command("list")
@click.argument("company")
@friendly
def group_list(company):
    for group in groups.list_groups(owner_of(company)):
        members = ", ".join(m.login_name for m in group.members)
        click.echo(f"{group.id:>4} {group.store.name:<28} {group.name:<20} [{members}]")


# --- demo and serving -----------------------------------------------------------------------


@cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when a company exists already.")
@friendly
def demo(if_empty):
    """Load the demo company 'acme' (several marketplaces, staff in several roles, one departed)."""
    from idp.demo import load_demo

    if if_empty and db.session.query(Account.id).first() is not None:
        from idp.demo import follow_issuer

        click.echo("database not empty; demo not loaded")
        if current_app.extensions["idp.settings"].env == "development" and (
            moved := follow_issuer()
        ):
            click.echo(moved)
        return
    for line in load_demo():
        click.echo(line)


@cli.command("serve")
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def serve(host, port):
    """Serve the provider (development server; see deploy/ for production)."""
    settings = current_app.extensions["idp.settings"]
    host, port = host or settings.host, port or settings.port
    click.echo(f"serving {settings.issuer} on http://{host}:{port} ({settings.env})")
    if port != settings.port:
        click.echo(
            f"note: the issuer follows IDP_PORT ({settings.port}), not --port; "
            f"run with IDP_PORT={port} so that discovery and tokens name this address",
            err=True,
        )
    if settings.env == "development":
        from idp.demo import OWNER_PASSWORD, STAFF

        click.echo(
            f"\nTry a sign-in in a browser:\n"
            f"  1. open {settings.issuer}/demo  (the demo app, client 'demo-seller-center')\n"
            f"  2. sign in as acme:{STAFF[0][0]} / {STAFF[0][1]}  (staff)"
            f" or acme / {OWNER_PASSWORD}  (owner)\n"
            f"  3. the demo app shows the ID token and userinfo it received\n"
            f"Discovery: {settings.issuer}/.well-known/openid-configuration\n"
        )
    from werkzeug.serving import run_simple

    run_simple(host, port, current_app._get_current_object(), threaded=True)


# --- OAuth clients and keys -----------------------------------------------------------------


def relation_options(command):
    """The options of an app's home page and of who may use its tokens (create and set)."""
    for option in reversed(
        (
            click.option("--home-url", help="The app's home page, linked from the start page."),
            click.option(
                "--allow-exchange-by",
                "exchangeable_by",
                multiple=True,
                help="A client id that may exchange this app's tokens (RFC 8693), repeatable.",
            ),
            click.option(
                "--resource-server-for",
                "resource_server_for",
                multiple=True,
                help="A client id whose tokens this client may introspect (RFC 7662), repeatable.",
            ),
        )
    ):
        command = option(command)
    return command


# R21: a client's tier, as typed (``first-party``) and as stored (``first_party``).
TIER_CHOICES = ("first-party", "verified-partner", "third-party")


def tier_option(command):
    return click.option(
        "--tier",
        type=click.Choice(TIER_CHOICES),
        help="R21: first-party (no consent asked), verified-partner (a third party the "
        "operators checked: accounts that show their personal information to partner apps "
        "only still share it), or third-party. Default: first-party.",
    )(command)


def _stored_tier(tier: str | None) -> str | None:
    return tier.replace("-", "_") if tier else None


def _shown_tier(tier: str) -> str:
    return tier.replace("_", "-")


@cli.group("clients")
def clients_group() -> None:
    """Register relying parties (apps) that delegate sign-in to this provider."""


@clients_group.command("create")
@click.argument("name")
@click.option("--public", is_flag=True, help="A public client (SPA, mobile): PKCE, no secret.")
@click.option("--consumer", is_flag=True, help="A buyer app: sub-accounts are refused (R6).")
@click.option("--third-party", is_flag=True, help="Users must consent first (--tier third-party).")
@tier_option
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    help="authorization_code, refresh_token, client_credentials, or "
    "urn:ietf:params:oauth:grant-type:token-exchange (default: the first two)",
)
@click.option("--scope", default="openid profile email phone offline_access", show_default=True)
@click.option("--id-token-alg", type=click.Choice(["ES256", "RS256"]), default="ES256")
@click.option("--client-id", help="Choose the client id (default: random).")
@click.option(
    "--marketplace",
    "marketplaces",
    multiple=True,
    help="A marketplace the app serves (e.g. shopee-sg); default: all.",
)
@relation_options
@friendly
def clients_create(
    name,
    public,
    consumer,
    third_party,
    tier,
    redirect_uris,
    logout_uris,
    backchannel_logout_uri,
    grants,
    scope,
    id_token_alg,
    client_id,
    marketplaces,
    home_url,
    exchangeable_by,
    resource_server_for,
):
    from idp.oauth import clients

    if third_party and tier not in (None, "third-party"):
        raise click.UsageError("--third-party and --tier name different tiers")
    client, secret = clients.create_client(
        name,
        client_type="public" if public else "confidential",
        app_type="consumer" if consumer else "merchant",
        first_party=not third_party,
        tier=_stored_tier(tier),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=logout_uris,
        backchannel_logout_uri=backchannel_logout_uri,
        grant_types=grants or ("authorization_code", "refresh_token"),
        scope=scope,
        id_token_alg=id_token_alg,
        client_id=client_id,
        marketplaces=marketplaces,
        client_uri=home_url,
        exchangeable_by=exchangeable_by,
        resource_server_for=resource_server_for,
    )
    click.echo(f"client_id:     {client.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}   (shown once; store it now)")


@clients_group.command("list")
@friendly
def clients_list():
    from idp.oauth import clients

    for c in clients.list_clients():
        click.echo(
            f"{c.client_id:<24} {c.client_type:<12} {c.app_type:<9} "
            f"{_shown_tier(c.tier):<16} {c.name}  "
            f"grants={','.join(c.grant_types)} redirect={' '.join(c.redirect_uris)}"
            + (f" home={c.client_uri}" if c.client_uri else "")
            + (f" exchangeable-by={','.join(c.exchangeable_by)}" if c.exchangeable_by else "")
            + (
                f" resource-server-for={','.join(c.resource_server_for)}"
                if c.resource_server_for
                else ""
            )
            + (" DISABLED" if c.disabled else "")
        )


@clients_group.command("set")
@click.argument("client_id")
@relation_options
@click.option("--no-exchange", is_flag=True, help="No other client may exchange its tokens.")
@click.option("--no-resource-server", is_flag=True, help="Introspect its own tokens only.")
@tier_option
@friendly
def clients_set(
    client_id, home_url, exchangeable_by, no_exchange, resource_server_for, no_resource_server, tier
):
    """Change CLIENT_ID's home page, who may exchange its tokens, whose tokens it introspects,
    its tier (R21)."""
    from idp.oauth import clients

    client = clients.set_relations(
        clients.get_client(client_id),
        client_uri=home_url,
        exchangeable_by=[] if no_exchange else (exchangeable_by or None),
        resource_server_for=[] if no_resource_server else (resource_server_for or None),
        tier=_stored_tier(tier),
    )
    click.echo(
        f"{client.client_id}: tier={_shown_tier(client.tier)} home={client.client_uri or '-'} "
        f"exchangeable-by={','.join(client.exchangeable_by) or '-'} "
        f"resource-server-for={','.join(client.resource_server_for) or '-'}"
    )


@clients_group.command("rotate-secret")
@click.argument("client_id")
@friendly
def clients_rotate(client_id):
    from idp.oauth import clients

    secret = clients.rotate_secret(clients.get_client(client_id))
    click.echo(f"client_secret: {secret}   (shown once; the old one no longer works)")


@clients_group.command("disable")
@click.argument("client_id")
@friendly
def clients_disable(client_id):
    """Stop a client at once: it cannot authenticate, and its tokens are inactive everywhere."""
    from idp.oauth import clients

    clients.set_disabled(clients.get_client(client_id), True)
    click.echo(f"disabled {client_id}; its tokens are inactive")


@clients_group.command("enable")
@click.argument("client_id")
@friendly
def clients_enable(client_id):
    """Let a disabled client authenticate again (tokens issued before stay inactive)."""
    from idp.oauth import clients

    clients.set_disabled(clients.get_client(client_id), False)
    click.echo(f"enabled {client_id}")


@cli.command("shared-state-reset")
@friendly
def shared_state_reset():
    """After editing the database by hand: rebuild the revocation markers and drop every cached
    client and claims answer in the shared store (Redis)."""
    from idp.oauth import shared_state

    shared_state.reset()
    click.echo("revocation markers rebuilt from the database; cached clients and claims dropped")


@cli.group("keys")
def keys_group() -> None:
    """Token signing keys."""


@keys_group.command("rotate")
def keys_rotate():
    """A new key per algorithm signs from now; old keys stay in the JWKS until their tokens
    have expired."""
    from idp.oauth import keys

    for key in keys.rotate():
        click.echo(f"now signing {key.alg} with {key.kid}")


@keys_group.command("list")
def keys_list():
    from idp.models import SigningKey

    for key in db.session.query(SigningKey).order_by(SigningKey.id):
        state = "signing" if key.superseded_at is None else f"published until {key.retire_after}"
        click.echo(f"{key.kid:<32} {key.alg}  {state}")


@cli.command("deliver-outbox")
def deliver_outbox():
    """Send due emails and SMS once (the server also does it in the background)."""
    from idp.services.outbox import deliver_due

    click.echo(f"sent {deliver_due()}")


@cli.command("deliver-logouts")
def deliver_logouts():
    """Deliver due back-channel logout tokens once (the server also does it in the background)."""
    from idp.oauth.logout import deliver_due

    click.echo(f"delivered {deliver_due()}")


# --- avatars (R20) --------------------------------------------------------------------------


@cli.group("avatars")
def avatars_group() -> None:
    """Main accounts' photos, when IDP_AVATAR_REVIEW_MAIN makes the operator review them (staff
    photos are reviewed by their owner, in the console)."""


def _photo_owner(photo_id: str) -> Account:
    from idp.models import Avatar

    avatar = db.session.query(Avatar).filter_by(public_id=photo_id).one_or_none()
    if avatar is None:
        click.echo(f"error: no photo {photo_id}", err=True)
        sys.exit(1)
    return db.session.query(Account).filter_by(company_id=avatar.company_id, kind="main").one()


@avatars_group.command("pending")
def avatars_pending():
    from idp.services import avatars

    for avatar in avatars.operator_queue():
        click.echo(f"{avatar.public_id}  {avatar.account.login_name:<28} {avatar.created_at:%F %T}")


@avatars_group.command("approve")
@click.argument("photo_id")
@friendly
def avatars_approve(photo_id):
    from idp.services import avatars

    avatar = avatars.approve(_photo_owner(photo_id), photo_id, by_operator=True)
    click.echo(f"approved: {avatar.account.login_name} shows {photo_id}")


@avatars_group.command("reject")
@click.argument("photo_id")
@click.option("--reason", required=True, help="Told to the account, by email")
@friendly
def avatars_reject(photo_id, reason):
    from idp.services import avatars

    avatar = avatars.reject(_photo_owner(photo_id), photo_id, reason, by_operator=True)
    click.echo(f"rejected: {avatar.account.login_name} keeps its current photo")
