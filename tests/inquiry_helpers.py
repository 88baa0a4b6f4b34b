"""The chat platform of R24's tests: a chat app the staff sign in to (its tokens carry
``chat:read``) and its back end (client credentials with ``inquiries:allocate``), and a store
whose pre-sale group receives inquiries."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask

from idp.models import Account, StaffGroup, Store
from idp.oauth import clients
from idp.services import groups, inquiries
from tests import factories
from tests import oidc_flow as flow

CHAT_SCOPE = "openid profile chat:read"
ALLOCATE = "inquiries:allocate"


@dataclass
class Platform:
    app: Flask
    owner: Account
    store: Store
    other_store: Store
    group: StaffGroup
    chat: flow.RP
    backend: flow.RP
    staff: dict[str, Account] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # name -> the chat app's access token
    browsers: dict[str, object] = field(default_factory=dict)
    backend_token: str = ""

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def heartbeat(self, name: str, web=None):
        web = web or flow.browser(self.app)
        return web.post("/api/inquiries/presence", headers=self.bearer(self.tokens[name]))

    def sign_out(self, name: str):
        web = flow.browser(self.app)
        return web.delete("/api/inquiries/presence", headers=self.bearer(self.tokens[name]))

    def allocate(self, inquiry_id: str, web=None, **extra):
        web = web or flow.browser(self.app)
        return web.post(
            "/api/inquiries/allocate",
            headers=self.bearer(self.backend_token),
            json={"store": self.store.public_id, "inquiry_id": inquiry_id, **extra},
        )

    def who(self, inquiry_id: str) -> str:
        """The login name an inquiry goes to."""
        response = self.allocate(inquiry_id)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["login_name"]


def backend_token(web, rp: flow.RP) -> str:
    response = web.post(
        "/oauth/token",
        headers=rp.basic,
        data={"grant_type": "client_credentials", "scope": ALLOCATE},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def platform(app: Flask, names=("alice", "bob", "carol"), weights=None) -> Platform:
    """acme with a store whose "Pre-sale" group holds ``names`` (every one also given a second
    store), allocation on for that group; each member signed in to the chat app and online."""
    owner = factories.company("acme")
    store = factories.store(owner, "shopee-sg")
    other = factories.store(owner, "shopee-my")
    group = groups.create_group(owner, store, "Pre-sale")
    chat = flow.register("Chat console", scope=CHAT_SCOPE)
    backend_client, secret = clients.create_client(
        "Chat platform", grant_types=["client_credentials"], scope=ALLOCATE
    )
    backend = flow.RP(backend_client.client_id, secret)
    world = Platform(app, owner, store, other, group, chat, backend)
    for name in names:
        account = factories.staff(owner, name, stores_=[store, other], email=f"{name}@acme.test")
        groups.add_member(owner, group, account)
        if weights and name in weights:
            inquiries.set_member_rules(owner, account, weight=weights[name])
        world.staff[name] = account
    inquiries.set_store_rules(owner, store, enabled=True, group_id=group.id)
    for name in names:
        web = flow.browser(app)
        tokens = flow.token_set(
            web, chat, login=f"acme:{name}", password=factories.PASSWORD, scope=CHAT_SCOPE
        )
        world.tokens[name] = tokens["access_token"]
        world.browsers[name] = web
        assert world.heartbeat(name).status_code == 200
    world.backend_token = backend_token(flow.browser(app), backend)
    return world
