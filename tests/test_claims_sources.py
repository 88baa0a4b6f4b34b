"""Issue 14 (item 3): what the cached claims are made of is declared beside their builders
(``idp.oauth.claims.CACHED``), and the cache follows the declaration.

- Every declared source, changed the way the product changes it (a service, or the ORM where
  no service does), is seen at once: by the cached profile claims, the cached account facts,
  the userinfo answer over HTTP, and introspection (of the token held, and of one issued after
  the change). The cases are made from the declaration: a new source needs a new case.
- A column the builders read but no declaration names fails a test: each column of each
  model claims are made of is changed in a savepoint and the claims built again, uncached.
- The listeners are registered once however many apps are made, and the account facts a
  request has read are read again after it flushes a change to them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Column, delete, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import JSON, Boolean, DateTime, Integer, String

from idp.extensions import db
from idp.models import (
    Account,
    Company,
    Role,
    StaffGroup,
    Store,
    StoreAssignment,
    account_roles,
    group_members,
)
from idp.models.accounts import MAIN, PRIVACY_NO_APP
from idp.models.base import utcnow
from idp.oauth import claims, shared_state, userinfo
from idp.services import accounts, avatars, groups, inquiries, privacy, roles, stores
from tests import avatar_files, factories
from tests import oidc_flow as flow

pytest_plugins = ["tests.oidc_fixtures"]

FULL_SCOPE = "openid profile email phone offline_access"


def _sources() -> list[str]:
    """Every source some cached answer declares: ``Model.attribute``, ``Model.*`` (every
    attribute) or an association table's name."""
    found = set()
    for answer in claims.CACHED:
        for model, names in answer.reads.items():
            if names is claims.EVERY:
                found.add(f"{model.__name__}.*")
            else:
                found.update(f"{model.__name__}.{name}" for name in names)
        found.update(table.name for table in answer.tables)
    return sorted(found)


@dataclass
class World:
    """acme: its owner and alice (two of its three stores, one of its two roles, two of the
    three groups of shop1), each signed in to the app with a token for shop1; and globex,
    another company."""

    owner: Account
    alice: Account
    shop1: Store
    shop2: Store
    shop3: Store
    packer: Role
    picker: Role  # alice's not
    pre_sale: StaffGroup
    after_sale: StaffGroup
    night: StaffGroup
    globex: Account
    tokens: dict  # account id -> token response


@pytest.fixture
def world(web, ctx, owner, rp, make) -> World:
    shop1, shop2, shop3 = make.store(owner), make.store(owner), make.store(owner)
    packer = roles.create_role(owner, "Packer", ["orders:ship"])
    picker = roles.create_role(owner, "Picker", ["orders:view"])
    alice = make.staff(
        owner,
        "alice",
        stores_=[shop1, shop2],
        email="alice@acme.example",
        phone="+6581234567",
        roles=[packer.id],
    )
    pre_sale = groups.create_group(owner, shop1, "Pre-sale")
    after_sale = groups.create_group(owner, shop1, "After-sale")
    night = groups.create_group(owner, shop1, "Night")
    for group in (pre_sale, after_sale):
        groups.add_member(owner, group, alice)
    globex = make.company("globex")
    tokens = {}
    for account, login in ((alice, "acme:alice"), (owner, "acme")):
        browser = flow.browser(ctx)
        tokens[account.id] = flow.token_set(
            browser, rp, login=login, password=make.PASSWORD, scope=FULL_SCOPE, store=None
        )
        assert flow.jwt_payload(tokens[account.id]["access_token"])["store"] == shop1.public_id
    return World(
        owner,
        alice,
        shop1,
        shop2,
        shop3,
        packer,
        picker,
        pre_sale,
        after_sale,
        night,
        globex,
        tokens,
    )


def rp_tier(rp) -> str:
    from idp.oauth import clients

    return clients.get_client(rp.client_id).tier


def _get(model, row):
    return db.session.get(model, row.id)


def _owner(w: World) -> Account:
    return _get(Account, w.owner)


def _alice(w: World) -> Account:
    return _get(Account, w.alice)


def _orm(change):
    """A change the product makes through no service (yet): set on the row, committed."""

    def run(w: World) -> None:
        change(w)
        db.session.commit()

    return run


def _bob() -> Account:
    return db.session.query(Account).filter_by(name="bob").one()


def _rename_account(w):
    accounts.update_sub_account(_owner(w), _alice(w), name="alicia")


def _move_account(w):
    _alice(w).company_id = _get(Account, w.globex).company_id


def _main_kind(w):
    _alice(w).kind = MAIN


def _new_public_id(model, row):
    return lambda w: setattr(_get(model, getattr(w, row)), "public_id", f"renamed-{row}")


def _assign_shop3(w):
    stores.assign_stores(_owner(w), ["alice"], [w.shop3.public_id], mode=stores.ADD)


def _approve_photo_of_alice(w):  # R20: the picture claim
    photo = avatars.submit(_alice(w), avatar_files.jpeg())
    avatars.approve(_owner(w), photo.public_id)


def _role_of_alice(w):
    accounts.update_sub_account(_owner(w), _alice(w), roles=[w.picker.id])


def _store_to_globex(w):
    _get(Store, w.shop3).company_id = _get(Account, w.globex).company_id


def _group_to_shop2(w):
    _get(StaffGroup, w.pre_sale).store_id = w.shop2.id


def _group_sorts_last(w):
    _get(StaffGroup, w.after_sale).name_key = "zzz"


def _roles_row(w):
    db.session.execute(insert(account_roles).values(account_id=w.alice.id, role_id=w.picker.id))


def _members_rows(w):  # as stores._drop_group_memberships does
    db.session.execute(delete(group_members).where(group_members.c.account_id == w.alice.id))


# How the product changes each declared source. Each must change what some cached answer that
# declares it says (checked below), so that a case that changes nothing is caught too.
CHANGES = {
    "Account.name": _rename_account,
    "Account.nickname": lambda w: accounts.update_sub_account(_owner(w), _alice(w), nickname="Al"),
    "Account.kind": _orm(_main_kind),
    "Account.company_id": _orm(_move_account),
    "Account.public_id": _orm(_new_public_id(Account, "alice")),
    "Account.roles": _role_of_alice,
    "Account.assignments": _assign_shop3,
    "Account.email_verified_at": _orm(lambda w: setattr(_alice(w), "email_verified_at", None)),
    "Account.phone_verified_at": lambda w: (
        accounts.mark_verified(_alice(w), "phone"),
        db.session.commit(),
    ),
    "Account.picture_id": _approve_photo_of_alice,
    "Account.status": lambda w: accounts.disable_sub_account(_owner(w), _alice(w)),
    "Account.gender": lambda w: accounts.update_sub_account(_owner(w), _alice(w), gender="female"),
    "Account.email": lambda w: accounts.update_sub_account(
        _owner(w), _alice(w), email="alicia@acme.example"
    ),
    "Account.phone": lambda w: accounts.update_sub_account(
        _owner(w), _alice(w), phone="+6587654321"
    ),
    "Account.privacy": lambda w: privacy.set_level(_alice(w), PRIVACY_NO_APP),  # R21
    "Account.must_change_password": lambda w: accounts.reset_sub_account_password(
        _owner(w), _alice(w)
    ),
    "Account.default_store_id": lambda w: stores.set_default_store(
        _owner(w), _alice(w), w.shop2.public_id
    ),
    "Company.name": _orm(lambda w: setattr(_owner(w).company, "name", "Acme Trading")),
    "Company.public_id": _orm(lambda w: setattr(_owner(w).company, "public_id", "co_renamed")),
    "Store.public_id": _orm(_new_public_id(Store, "shop2")),
    "Store.company_id": _orm(_store_to_globex),
    "Store.status": lambda w: stores.deauthorize_store(_owner(w), _get(Store, w.shop2)),
    "Store.marketplace_code": _orm(
        lambda w: setattr(_get(Store, w.shop1), "marketplace_code", "lazada-sg")
    ),
    "StoreAssignment.*": _assign_shop3,
    "Role.name": lambda w: roles.update_role(_owner(w), _get(Role, w.packer), name="Shipper"),
    "Role.permissions": lambda w: roles.update_role(
        _owner(w), _get(Role, w.packer), permissions=["orders:ship", "orders:view"]
    ),
    "StaffGroup.store_id": _orm(_group_to_shop2),
    "StaffGroup.name": lambda w: groups.rename_group(
        _owner(w), _get(StaffGroup, w.pre_sale), "Presales"
    ),
    "StaffGroup.name_key": _orm(_group_sorts_last),
    "StaffGroup.members": lambda w: groups.add_member(
        _owner(w), _get(StaffGroup, w.night), _alice(w)
    ),
    "Account.manager_id": lambda w: inquiries.set_member_rules(
        _owner(w), _bob(), manager=_alice(w)
    ),
    "account_roles": _orm(_roles_row),
    "group_members": _orm(_members_rows),
}


# What a case needs done (and committed) before the caches are read, so that its change shows:
# alice unverified, her phone's verification unmutes her (R14).
PREPARE = {
    "Account.phone_verified_at": _orm(lambda w: setattr(_alice(w), "email_verified_at", None)),
    # issue 18: alice leads a team (inquiries:team), which bob is about to join
    "Account.manager_id": lambda w: (
        roles.update_role(
            _owner(w), _get(Role, w.packer), permissions=["orders:ship", "inquiries:team"]
        ),
        factories.staff(_owner(w), "bob"),
    ),
}

# Changes after which alice's refresh token no longer works (R5 and its kin end her sessions
# and tokens, a new email or phone hands the account over (R4), or the account it names is no
# longer hers).
ENDS_REFRESH = {
    "Account.status",
    "Account.must_change_password",
    "Account.company_id",
    "Account.email",
    "Account.phone",
}


def test_issue14_every_declared_source_has_a_case():
    assert sorted(CHANGES) == _sources()


def _caches_of(source: str) -> list[claims.Cached]:
    model, _, name = source.partition(".")
    found = []
    for answer in claims.CACHED:
        if not name:
            if model in {table.name for table in answer.tables}:
                found.append(answer)
            continue
        for declared, names in answer.reads.items():
            if declared.__name__ == model and (names is claims.EVERY or name in names):
                found.append(answer)
    return found


@dataclass
class Seen:
    """What one account's caches and endpoints say, and what the database says now."""

    profile: claims.Profile | None
    facts: dict | None
    userinfo: dict | None  # None: 401
    active: bool  # introspection of the token held


def _seen(web, rp, w: World, account_id: int, *, built: bool = False) -> Seen:
    """Through the caches (``built``: the same, built from the database, uncached)."""
    token = w.tokens[account_id]["access_token"]
    payload = flow.jwt_payload(token)
    sub, store, scope = payload["sub"], payload.get("store"), payload["scope"]
    if built:
        profile = claims.build_profile(sub, store)
        facts = claims.build_account_facts(account_id)
        answer = userinfo._build(sub, store, scope)  # the profile claims in it: checked equal
        active = not shared_state._revoked_in_database(payload)
        loads = lambda text: None if text is None else json.loads(text)  # noqa: E731
        if answer is not None:  # as released to the app (first-party), R21
            level, _, body = answer.partition("|")
            answer = privacy.release_text(body, level, rp_tier(rp))
        profile = None if profile is None else claims.Profile(**json.loads(profile))
        return Seen(profile, loads(facts), loads(answer) if active else None, active)
    facts = claims._account_facts(account_id)  # the shared store's, not this request's memo
    response = flow.userinfo(web, token)
    assert response.status_code in (200, 401)
    return Seen(
        claims.profile(sub, store),
        None if facts is None else _facts_dict(facts),
        response.get_json() if response.status_code == 200 else None,
        flow.introspect(web, rp, token)["active"],
    )


def _facts_dict(facts: claims.AccountFacts) -> dict:
    data = dict(facts.__dict__)
    data["stores"] = [[s.id, s.public_id, s.marketplace_code] for s in facts.stores]
    return data


@pytest.mark.parametrize("source", _sources())
def test_issue14_a_change_to_a_declared_source_is_seen_at_once(web, rp, world, source):
    w = world
    alice_id, ids = w.alice.id, (w.alice.id, w.owner.id)
    if source in PREPARE:
        PREPARE[source](w)
    before = {i: _seen(web, rp, w, i) for i in ids}  # cached now, for CLAIMS_TTL
    assert before == {i: _seen(web, rp, w, i, built=True) for i in ids}

    CHANGES[source](w)
    db.session.remove()  # as the next request would

    after = {i: _seen(web, rp, w, i) for i in ids}
    assert after == {i: _seen(web, rp, w, i, built=True) for i in ids}
    what = {
        claims.PROFILE_CLAIMS.prefix: "profile",
        claims.ACCOUNT_FACTS.prefix: "facts",
        claims.USERINFO.prefix: "userinfo",
    }
    for answer in _caches_of(source):
        field = what[answer.prefix]
        assert any(getattr(before[i], field) != getattr(after[i], field) for i in ids), (
            f"changing {source} changed no {field}: the case does not exercise it"
        )

    # A token issued now (a refresh) carries the new profile claims, and introspection says so.
    for i in ids:
        renewed = flow.refresh(web, rp, w.tokens[i]["refresh_token"])
        if renewed.status_code != 200:
            assert i == alice_id and source in ENDS_REFRESH, renewed.get_json()
            continue
        token = renewed.get_json()["access_token"]
        payload = flow.jwt_payload(token)
        profile = claims.profile(payload["sub"], payload.get("store"))
        expected = profile.released_to(rp_tier(rp))
        body = flow.introspect(web, rp, token)
        assert body["active"] is True
        assert {k: body.get(k) for k in expected} == expected


# --- b: no claim reads an undeclared column -------------------------------------------------


def _other_value(column, value, row, model):
    """Candidates for another valid value of ``column`` (for a foreign key: the other rows'
    keys, tried in turn)."""
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column
        return [v for v in db.session.scalars(select(target)).all() if v != value]
    kind = column.type
    kind = getattr(kind, "impl", kind)  # a TypeDecorator's (UTCDateTime)
    if isinstance(kind, Boolean):
        return [not value]
    if isinstance(kind, DateTime):
        if value is None:
            return [utcnow()]
        return [None] if column.nullable else [value + timedelta(days=1)]
    if isinstance(kind, JSON):
        return [[*(value or []), "orders:view"]]
    if isinstance(kind, Integer):
        return [(value or 0) + 1]
    if isinstance(kind, String):
        return [f"{value or ''}x"[: kind.length or 200]]
    raise AssertionError(f"no other value for {model.__name__}.{column.key}")


def _built(w: World, scope: str = FULL_SCOPE) -> dict:
    """Every cached answer for the owner and alice in shop1, built from the database now (a new
    generation first: the profile claims inside userinfo are otherwise cached)."""
    out = {}
    for account in (w.alice, w.owner):
        sub = db.session.scalar(select(Account.public_id).where(Account.id == account.id))
        store = db.session.scalar(select(Store.public_id).where(Store.id == w.shop1.id))
        shared_state.new_generation()
        out[(claims.PROFILE_CLAIMS.prefix, account.id)] = claims.build_profile(sub, store)
        out[(claims.ACCOUNT_FACTS.prefix, account.id)] = claims.build_account_facts(account.id)
        shared_state.new_generation()
        out[(claims.USERINFO.prefix, account.id)] = userinfo._build(sub, store, scope)
    return out


def _rows(w: World) -> dict:
    """One row of each model claims are made of, that the world's claims read."""
    assignment = db.session.scalars(
        select(StoreAssignment).where(StoreAssignment.account_id == w.alice.id)
    ).first()
    return {
        Account: [_alice(w), _owner(w)],
        Company: [_owner(w).company],
        Store: [_get(Store, w.shop1), _get(Store, w.shop2)],
        StoreAssignment: [assignment],
        Role: [_get(Role, w.packer)],
        StaffGroup: [_get(StaffGroup, w.pre_sale), _get(StaffGroup, w.after_sale)],
    }


def _declared(prefix: str, model, name: str) -> bool:
    answer = next(a for a in claims.CACHED if a.prefix == prefix)
    names = answer.reads.get(model, frozenset())
    return names is claims.EVERY or name in names or name in answer.keys.get(model, ())


def test_issue14_no_claim_reads_an_undeclared_column(world):
    """For each column of each model the claims are made of (and of Account), another value,
    in a savepoint: if any cached answer built again differs, that answer declares it."""
    w = world
    base = _built(w)
    undeclared, exercised = [], set()
    models = [Account, *(m for m in shared_state.watched().attrs if m is not Account)]
    for model in models:
        for column_attr in inspect(model).column_attrs:
            column = column_attr.columns[0]
            if column.primary_key:
                continue  # a row never changes its key: another key is another row
            if not isinstance(column, Column):
                continue  # a query expression (Account.holds_passkey): no column to write

            for row in _rows(w).get(model, []):
                value = getattr(row, column_attr.key)
                for candidate in _other_value(column, value, row, model):
                    savepoint = db.session.begin_nested()
                    try:
                        setattr(row, column_attr.key, candidate)
                        db.session.flush()
                    except IntegrityError:
                        savepoint.rollback()
                        continue
                    changed = {key for key, text in _built(w).items() if text != base[key]}
                    savepoint.rollback()
                    for prefix, _ in changed:
                        exercised.add(f"{model.__name__}.{column_attr.key}")
                        if not _declared(prefix, model, column_attr.key):
                            undeclared.append(f"{prefix} {model.__name__}.{column_attr.key}")
                    break
    assert _built(w) == base  # every change was taken back
    assert not undeclared, f"read by the claims but declared nowhere: {sorted(set(undeclared))}"
    # The check sees what it should: these are read, and changing them showed.
    assert {"Account.nickname", "Company.name", "Role.permissions", "StaffGroup.name"} <= exercised


# --- the listeners ---------------------------------------------------------------------------


def test_issue14_the_token_store_writes_no_claim_source():
    """``token_store``'s autocommit engine writes beside the ORM session (no listener sees it):
    only issued tokens and authorization codes, which no cached answer is made of."""
    watched = shared_state.watched()
    assert not {"issued_tokens", "authorization_codes"} & watched.tables
    assert not {m.__tablename__ for m in watched.attrs} & {"issued_tokens", "authorization_codes"}


def test_issue14_listeners_are_registered_once_however_many_apps(ctx, alice):
    """Each app made registers the listeners (``shared_state.init_app``), and only the first
    one does: a flush is counted once, not once per app."""
    from idp.app import create_app, settings_of
    from tests.apps import close

    other = create_app(settings_of(ctx))
    try:
        before = shared_state.claims_changes(db.session)
        _get(Account, alice).nickname = "Al"
        db.session.flush()
        assert shared_state.claims_changes(db.session) == before + 1
        db.session.rollback()
    finally:
        close(other)


def test_issue14_a_request_reads_account_facts_again_after_it_changes_them(ctx, owner, alice):
    """The account facts a request has read (``claims.account_facts``, its memo in flask.g) are
    read again once it has changed what they are made of; an unrelated write keeps them."""
    assert claims.account_facts(alice.id).must_change_password is False
    unchanged = shared_state.claims_changes(db.session)
    _get(Account, alice).notes = "not a claim"
    db.session.commit()
    assert shared_state.claims_changes(db.session) == unchanged
    accounts.reset_sub_account_password(_get(Account, owner), _get(Account, alice))
    assert claims.account_facts(alice.id).must_change_password is True
