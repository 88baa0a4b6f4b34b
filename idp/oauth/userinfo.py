"""The userinfo answer (OIDC Core 5.3), served from the shared store when nothing it is made of
has changed (issue 6): one signature check and one ``MGET`` that reads the revocation markers,
the claims generation and the cached answer together. A miss builds the answer from the
database and caches it under the current generation (``idp.oauth.shared_state``); what it is
made of is declared beside the claims (``idp.oauth.claims.USERINFO``).

R21: the cached answer is the whole answer and the account's privacy level (``level|json``),
the same for every client. The token's client is read in that same ``MGET`` (its cached row),
so releasing its part costs no round trip: nothing at all when the level allows every app or
none, and a parse only when a profile claim is withheld."""

from __future__ import annotations

import hashlib
import json

from idp.models import Account, Store
from idp.oauth import shared_state
from idp.oauth.claims import USERINFO, fresh, userinfo_claims
from idp.oauth.tokens import decode_access_token
from idp.services import privacy

NOT_A_USER = object()  # a client credentials token
NO_OPENID = object()  # a token without the openid scope


def cache_key(sub: str, store: str | None, scope: str) -> str:
    scope = " ".join(sorted(set(scope.split())))
    digest = hashlib.sha256(f"{store}\n{scope}".encode()).hexdigest()[:32]
    return f"{USERINFO.prefix}{sub}:{digest}"


def answer(access_token: str) -> str | object | None:
    """The JSON body for an active user token with ``openid``; ``NOT_A_USER`` or ``NO_OPENID``
    for a token that may not ask; None for an invalid, expired or revoked one."""
    claims = decode_access_token(access_token)
    if claims is None:
        return None
    key = cache_key(claims["sub"], claims.get("store"), str(claims.get("scope") or ""))
    client_id = str(claims.get("client_id") or "")
    revoked, (generation, cached, client) = shared_state.token_state(
        claims, shared_state.GENERATION, key, shared_state.client_key(client_id)
    )
    if revoked:
        return None
    if not claims.get("account_type"):
        return NOT_A_USER
    scope = str(claims.get("scope") or "")
    if "openid" not in scope.split():
        return NO_OPENID
    text = shared_state.generational(
        key,
        lambda: _build(claims["sub"], claims.get("store"), scope),
        generation=generation,
        cached=cached,
    )
    if text is None:
        return None
    level, _, body = text.partition("|")
    if privacy.tier_matters(level):
        found = shared_state.cached_client(client_id, text=client)
        return privacy.release_text(body, level, found.tier if found else None)
    return privacy.release_text(body, level, None)


def claims(sub: str, store: str | None, scope: str, tier: str | None) -> dict | None:
    """What userinfo answers a client of ``tier`` for account ``sub`` in ``store`` with
    ``scope`` (the ID token carries the same), or None when the account is not active. Cached
    as the answer is."""
    text = shared_state.generational(
        cache_key(sub, store, scope), lambda: _build(sub, store, scope)
    )
    if text is None:
        return None
    level, _, body = text.partition("|")
    return privacy.release(json.loads(body), level, tier)


def _build(sub: str, store: str | None, scope: str) -> str | None:
    """The whole answer, as cached: ``level|json`` (the account's privacy level, R21)."""
    account = fresh(Account, sub)
    if account is None or not account.is_active:
        return None
    store_row = fresh(Store, store) if store else None
    body = json.dumps(userinfo_claims(account, scope, store_row), separators=(",", ":"))
    return f"{account.privacy}|{body}"
