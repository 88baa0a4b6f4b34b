"""R8, R9, R10, R27: "the account may work in this store now" is one rule in two forms, side by
side in ``idp.oauth.store_context``: ``holds`` in Python and ``holds_sql`` inside the token
statements. Here both are asked about every combination of account (active or departed, main or
sub) and store (authorized or de-authorized, of the account's company or another, assigned to the
account or not) and must agree with each other and with the truth table, on SQLite and, when
``IDP_TEST_DATABASE_URL`` is set, PostgreSQL. Some of these rows no service writes (a store of
another company assigned, a de-authorized store still assigned): the forms must agree on them
too. The stores listed in claims are exactly those ``holds`` is true for."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select

from idp.errors import StoreRefused
from idp.extensions import db
from idp.models import Account, Store, StoreAssignment
from idp.models.accounts import ACTIVE, DEPARTED
from idp.oauth import claims, store_context
from idp.oauth.store_context import holds, holds_sql
from idp.services import stores

ACCOUNTS, STORES = Account.__table__, Store.__table__


@pytest.fixture
def world(ctx, make):
    """acme (its owner and alice, who holds nothing yet) and globex, each with an authorized
    and a de-authorized store."""
    acme, globex = make.company("acme"), make.company("globex")
    shops = {}
    for owner, company in ((acme, "acme"), (globex, "globex")):
        shops[company, True] = make.store(owner, name=f"{company} open")
        shops[company, False] = make.store(owner, name=f"{company} closed")
        stores.deauthorize_store(owner, shops[company, False])
    return SimpleNamespace(owner=acme, alice=make.staff(acme, "alice"), shops=shops)


def _set(account: Account, *, active: bool, assigned: list[Store]) -> None:
    """Put the account in a state through its rows (as any writer could leave them)."""
    account.status = ACTIVE if active else DEPARTED
    db.session.execute(delete(StoreAssignment).where(StoreAssignment.account_id == account.id))
    for store in assigned:
        db.session.add(StoreAssignment(account_id=account.id, store_id=store.id))
    db.session.flush()
    db.session.expire(account)


def _sql(account: Account, store: Store, *, aliased: bool = False) -> bool:
    accounts, shops = (ACCOUNTS.alias("a"), STORES.alias("s")) if aliased else (ACCOUNTS, STORES)
    pair = accounts.join(shops, shops.c.id == store.id)  # one row: the account and the store
    query = select(holds_sql(accounts, shops)).select_from(pair).where(accounts.c.id == account.id)
    return bool(db.session.execute(query).scalar_one())


CASES = list(
    itertools.product(
        ("active", "departed"),
        ("main", "sub"),
        ("authorized", "deauthorized"),
        ("same company", "other company"),
        ("assigned", "not assigned"),
    )
)


def test_r10_r27_python_and_sql_forms_of_holds_agree_on_every_combination(world):
    table = []
    for status, kind, authorization, company, assignment in CASES:
        account = world.owner if kind == "main" else world.alice
        store = world.shops[
            "acme" if company == "same company" else "globex", authorization == "authorized"
        ]
        _set(
            account, active=status == "active", assigned=[store] if assignment == "assigned" else []
        )
        expected = (
            status == "active"
            and authorization == "authorized"
            and company == "same company"
            and (kind == "main" or assignment == "assigned")
        )
        looked_up = holds(account, store)  # assignments not loaded: one key lookup
        account.assignments  # noqa: B018 (loaded now: judged without a query)
        answers = (
            looked_up,
            holds(account, store),
            _sql(account, store),
            _sql(account, store, aliased=True),
        )
        table.append(((status, kind, authorization, company, assignment), expected, answers))

    wrong = [
        (case, expected, answers) for case, expected, answers in table if set(answers) != {expected}
    ]
    assert not wrong, "\n".join(f"{case}: expected {e}, got {a}" for case, e, a in wrong)
    assert len(table) == 32 and sum(e for _, e, _ in table) == 3  # main twice, assigned sub once


@pytest.mark.parametrize("kind", ["main", "sub"])
def test_r10_r27_claims_list_exactly_the_stores_held(world, make, kind):
    """The stores a token lists (``profile_claims``) and token exchange judges by
    (``check_held``) are those ``holds`` is true for, in the order given (R9); a store given but
    closed or of another company is in none."""
    account = world.owner if kind == "main" else world.alice
    later = make.store(world.owner, name="acme later")
    candidates = [later, *world.shops.values()]
    _set(account, active=True, assigned=candidates)
    db.session.commit()

    account = db.session.get(Account, account.id)
    held = [s for s in candidates if holds(account, s)]
    assert {s.public_id for s in held} == {world.shops["acme", True].public_id, later.public_id}
    listed = claims.profile_claims(account.public_id, None)["stores"]
    assert listed == [s.public_id for s in account.stores]
    assert set(listed) == {s.public_id for s in held}
    facts = claims.account_facts(account.id)
    assert [s.public_id for s in facts.stores] == listed
    for store in candidates:
        if holds(account, store):
            store_context.check_held(
                claims.profile_claims(account.public_id, store.public_id), None, store.public_id
            )
        else:
            with pytest.raises(StoreRefused):
                store_context.check_held(
                    claims.profile_claims(account.public_id, None), None, store.public_id
                )


def test_r4_a_departed_account_holds_none_of_the_stores_it_keeps(world):
    """Departed, it keeps its stores for when it is re-enabled (R4, ``Account.stores``), but holds
    none of them: no claims of it are live (R5)."""
    store = world.shops["acme", True]
    _set(world.alice, active=False, assigned=[store])
    assert world.alice.stores == [store]
    assert not holds(world.alice, store) and not _sql(world.alice, store)
