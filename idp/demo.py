"""The demo company: several marketplaces and stores, staff in several roles, one departed."""

from __future__ import annotations

from collections.abc import Iterator

from idp.extensions import db
from idp.services import accounts, companies, groups, stores

OWNER_PASSWORD = "acme-owner-pw"
STAFF = [
    # name, password, email, roles, stores (first = default)
    (
        "alice",
        "alice-staff-pw",
        "alice@acme.example",
        ["Customer Service"],
        ["shopee-sg/1001", "shopee-my/2001", "lazada-sg/3001"],
    ),
    (
        "bob",
        "bob-staff-pw",
        "bob@acme.example",
        ["Operations"],
        ["shopee-my/2001", "shopee-tw/4001"],
    ),
    (
        "小宝",
        "xiaobao-staff-pw",
        "xiaobao@acme.example",
        ["Marketing", "Design"],
        ["taobao-cn/5001"],
    ),
    (
        "carol",
        "carol-staff-pw",
        "carol@acme.example",
        ["Finance"],
        ["shopee-sg/1001", "shopee-my/2001", "shopee-tw/4001", "lazada-sg/3001", "taobao-cn/5001"],
    ),
    ("dave", "dave-staff-pw", "dave@acme.example", ["Logistics"], ["lazada-sg/3001"]),
]
MUTED = {"bob"}  # R14: bob has not verified his email or phone yet
STORES = [
    ("shopee-sg", "1001", "Acme Official SG"),
    ("shopee-my", "2001", "Acme Official MY"),
    ("lazada-sg", "3001", "Acme Lazada SG"),
    ("shopee-tw", "4001", "Acme 台灣"),
    ("taobao-cn", "5001", "Acme 淘宝旗舰店"),
]


def load_demo() -> Iterator[str]:
    owner = companies.create_company(
        "acme", email="owner@acme.example", password=OWNER_PASSWORD, nickname="Acme Owner"
    )
    yield f"company acme: owner signs in as 'acme' with password '{OWNER_PASSWORD}'"
    for marketplace, external_id, name in STORES:
        stores.authorize_store(owner, marketplace, external_id, name)
    for name, password, email, role_names, store_ids in STAFF:
        staff = accounts.create_sub_account(
            owner, name=name, password=password, email=email, roles=role_names, stores=store_ids
        )
        if name not in MUTED:
            accounts.mark_verified(staff, "email")
            db.session.commit()
        muted = " (muted: not verified yet)" if name in MUTED else ""
        yield f"staff acme:{name} ({', '.join(role_names)}) password '{password}'{muted}"
    presale = groups.create_group(owner, "shopee-sg/1001", "Pre-sale")
    groups.add_member(owner, presale, accounts.get_sub_account(owner, "alice"))
    groups.create_group(owner, "shopee-sg/1001", "After-sale")
    accounts.disable_sub_account(owner, accounts.get_sub_account(owner, "dave"))
    yield "acme:dave has departed (disabled)"
    yield from demo_client()


def demo_client() -> Iterator[str]:
    """The demo relying party served at /demo (development only)."""
    from flask import current_app

    from idp.oauth import clients
    from idp.web.demo_app import CLIENT_ID, SECRET_FILE

    settings = current_app.extensions["idp.settings"]
    _, secret = clients.create_client(
        "Demo seller center",
        client_id=CLIENT_ID,
        redirect_uris=[f"{settings.issuer}/demo/callback"],
        post_logout_redirect_uris=[f"{settings.issuer}/"],
    )
    path = settings.instance_path / SECRET_FILE
    path.write_text(secret)
    path.chmod(0o600)
    yield f"client {CLIENT_ID}: try a sign-in at {settings.issuer}/demo"


def follow_issuer() -> str | None:
    """The demo app's registered addresses follow the issuer (a development server moved to
    another ``IDP_PORT``): the current issuer's are added when missing. Says what it did."""
    from flask import current_app

    from idp.models import Client
    from idp.web.demo_app import CLIENT_ID

    issuer = current_app.extensions["idp.settings"].issuer
    client = db.session.query(Client).filter_by(client_id=CLIENT_ID).one_or_none()
    if client is None:
        return None
    callback, home = f"{issuer}/demo/callback", f"{issuer}/"
    if callback in client.redirect_uris and home in client.post_logout_redirect_uris:
        return None
    client.redirect_uris = [*client.redirect_uris, callback][-5:]
    client.post_logout_redirect_uris = [*client.post_logout_redirect_uris, home][-5:]
    db.session.commit()
    return f"client {CLIENT_ID}: now also accepts {issuer}"
