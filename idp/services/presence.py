"""R24's "signed in to a chat app": which staff members are online, in the shared store so that
every instance sees the same (with no Redis, the in-process store of a single instance).

A chat app reports it with the member's own access token, at sign-in and then as a heartbeat;
a member is offline when the heartbeat lapses (``IDP_PRESENCE_TTL``), when the app signs them
out, and at once when their session ends, the account is disabled (R5) or a store is taken away
(R10): ``idp.oauth.sessions`` calls ``go_offline`` directly where those happen."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from idp.kv import kv

PREFIX = "presence:"


def _key(account_id: int) -> str:
    return f"{PREFIX}{account_id}"


def ttl() -> int:
    return current_app.extensions["idp.settings"].presence_ttl


def heartbeat(account_id: int, client_id: str) -> int:
    """The member is online (in the app ``client_id``) for the next ``ttl()`` seconds; returns
    them."""
    seconds = ttl()
    kv().set(_key(account_id), client_id, seconds)
    return seconds


def go_offline(account_ids: Iterable[int]) -> None:
    """Offline at once (sign-out, session end, R5, R10)."""
    keys = [_key(i) for i in account_ids]
    if keys:
        kv().delete(*keys)


def online(account_ids: list[int]) -> set[int]:
    """Which of these members are online: one read of the shared store."""
    values = kv().get_many([_key(i) for i in account_ids])
    return {i for i, value in zip(account_ids, values, strict=True) if value is not None}
