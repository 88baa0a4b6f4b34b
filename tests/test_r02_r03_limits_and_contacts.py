"""R2: a company has at most its plan's number of sub-accounts, departed ones included, also
under concurrent creation. R3: a sub-account's email and phone belong to no other account."""

import threading

import pytest

from idp.errors import Conflict, LimitReached
from idp.extensions import db
from idp.models import Account
from idp.services import accounts, companies


def test_r2_default_limit_is_99_and_basic_plan_is_5(ctx, make):
    assert make.company("acme").company.sub_account_limit == 99
    assert companies.PLAN_LIMITS == {"standard": 99, "basic": 5}


def test_r2_limit_refuses_the_next_account_and_departed_ones_count(ctx, make):
    owner = make.company("acme", limit=2)
    alice = make.staff(owner, "alice")
    make.staff(owner, "bob")
    accounts.disable_sub_account(owner, alice)
    with pytest.raises(LimitReached, match="allows 2 sub-accounts"):
        make.staff(owner, "carol")
    assert db.session.query(Account).filter_by(kind="sub").count() == 2


def test_r2_raising_the_limit_allows_more(ctx, make):
    owner = make.company("acme", limit=1)
    make.staff(owner, "alice")
    companies.set_sub_account_limit(owner.company, 5)
    assert make.staff(owner, "bob").login_name == "acme:bob"


def test_r2_a_refused_creation_does_not_use_up_a_slot(ctx, make):
    owner = make.company("acme", limit=1)
    make.staff(owner, "alice")
    accounts.disable_sub_account(owner, accounts.get_sub_account(owner, "alice"))
    companies.set_sub_account_limit(owner.company, 2)
    with pytest.raises(Conflict):
        make.staff(owner, "ALICE")  # the name stays taken (R4)
    db.session.refresh(owner.company)
    assert owner.company.sub_account_count == 1
    make.staff(owner, "bob")


def test_r2_limit_holds_under_concurrent_creation(ctx, make):
    """20 threads against a limit of 5: exactly 5 accounts and 15 clear refusals."""
    owner = make.company("acme", limit=5)
    owner_id = owner.id
    app = ctx
    barrier = threading.Barrier(20, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        with app.app_context():
            actor = db.session.get(Account, owner_id)
            barrier.wait()
            try:
                accounts.create_sub_account(actor, name=f"staff{i}", password=make.PASSWORD)
                result = "created"
            except LimitReached as exc:
                result = "refused: " + exc.message
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("created") == 5
    refusals = [o for o in outcomes if o.startswith("refused")]
    assert len(refusals) == 15
    assert all("allows 5 sub-accounts" in r for r in refusals)
    db.session.expire_all()
    assert db.session.query(Account).filter_by(kind="sub").count() == 5


def test_r3_email_of_another_company_is_refused_in_any_case(ctx, make):
    acme = make.company("acme")
    globex = make.company("globex")
    make.staff(acme, "alice", email="Alice@Example.com")
    with pytest.raises(Conflict, match="email address is already used") as err:
        make.staff(globex, "alice", email="ALICE@example.COM")
    assert err.value.field == "email"
    assert accounts.list_staff(globex) == []


def test_r3_main_account_email_and_phones_are_taken_too(ctx, make):
    acme = make.company("acme")
    make.staff(acme, "alice", phone="+65 8123 4567")
    with pytest.raises(Conflict, match="email"):
        make.staff(acme, "bob", email=acme.email.upper())
    with pytest.raises(Conflict, match="phone number"):
        make.staff(make.company("globex"), "bob", phone="+6581234567")


def test_r3_editing_to_a_taken_email_is_refused_and_nothing_changes(ctx, make):
    acme = make.company("acme")
    make.staff(acme, "alice", email="alice@example.com")
    bob = make.staff(acme, "bob", email="bob@example.com")
    with pytest.raises(Conflict):
        accounts.update_sub_account(acme, bob, email="ALICE@example.com", nickname="Bobby")
    db.session.expire_all()
    assert (bob.email, bob.nickname) == ("bob@example.com", None)
    # keeping one's own email is fine
    accounts.update_sub_account(acme, bob, email="Bob@Example.com")
    assert bob.email == "Bob@Example.com"


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x" * 300 + "@example.com"])
def test_r3_malformed_email_is_refused(ctx, make, email):
    from idp.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not an email address"):
        make.staff(make.company("acme"), "alice", email=email)
