"""R24: customer inquiries for a store are spread, by weighted round-robin, over the sub-accounts
that are eligible; the owner sets the rules. And issue 18's teams: whom a sub-account reports to,
which is what ``inquiries:team`` means.

A sub-account is eligible for a store's inquiries when all of these hold (``eligible``):
enabled, not muted (R14), assigned to the store, in the target group (R23; the request's group,
else the store's), switched on (by the owner, or by the member for themself), and online in a
chat app (``presence``). The allocation itself is one atomic step on the shared store
(``kv.allocate``): the same inquiry keeps its answer while that member stays eligible, and the
rotation is never skewed by instances allocating at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_ngettext
from sqlalchemy import select

from idp import clock
from idp.defaults import (
    ALLOCATION_COUNT_DAYS,
    ALLOCATION_DAYS_SHOWN,
    INQUIRY_STICKY_TTL,
    MAX_INQUIRY_ID,
    MAX_INQUIRY_WEIGHT,
    MAX_ROW_ID,
    ROTATION_TTL,
)
from idp.errors import Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.i18n import _l, company_zone
from idp.models import (
    Account,
    Client,
    Company,
    StaffGroup,
    Store,
    StoreAssignment,
    group_members,
)
from idp.models.accounts import ACTIVE, MAIN, SUB
from idp.models.companies import STORE_AUTHORIZED
from idp.oauth.crypto import token_hash
from idp.services import accounts, audit, presence, versions
from idp.services.authz import require_owner, require_same_company, require_sub_account
from idp.services.names import normalize
from idp.services.tx import transaction

# Why an inquiry went to the main account (the answer's ``reason``).
ALLOCATION_OFF = "allocation_off"
NO_ONE_ELIGIBLE = "no_one_eligible"


# --- the owner's rules ----------------------------------------------------------------------------


def store_version(store: Store) -> str:
    """The version of a store's allocation rules (the console's form, the API's ETag)."""
    return versions.fingerprint({"on": store.inquiry_allocation, "group": store.inquiry_group_id})


def member_version(account: Account) -> str:
    """The version of a sub-account's inquiry settings."""
    return versions.fingerprint(
        {
            "on": account.receives_inquiries,
            "weight": account.inquiry_weight,
            "manager": account.manager_id,
        }
    )


CHANGED = _l(
    "Someone else changed these settings since you opened this page. The form now shows the "
    "current values; make your change again."
)


def _group_of(store: Store, group_id: int | None) -> StaffGroup | None:
    if group_id is None:
        return None
    group = db.session.get(StaffGroup, group_id) if 0 < group_id <= MAX_ROW_ID else None
    if group is None or group.store_id != store.id:
        raise InvalidInput(_l("Choose a staff group of this store"), field="group")
    return group


@transaction
def set_store_rules(
    actor: Account,
    store: Store,
    *,
    enabled: bool,
    group_id: int | None,
    expected_version: str | None = None,
) -> Store:
    """R24: allocation on or off for the store, and its target group (None: every sub-account
    assigned to it)."""
    require_owner(actor)
    require_same_company(actor, store, "store")
    versions.check(store, expected_version, store_version, CHANGED)
    if not store.is_authorized:
        raise InvalidInput(_l("The store '%(store)s' is not authorized", store=store.name))
    group = _group_of(store, group_id)
    store.inquiry_allocation = bool(enabled)
    store.inquiry_group_id = group.id if group else None
    audit.record(
        actor,
        "inquiries.store_rules",
        company_id=actor.company_id,
        target=store,
        allocation=store.inquiry_allocation,
        group=group.name if group else None,
    )
    return store


def check_weight(weight) -> int:
    """1 to ``MAX_INQUIRY_WEIGHT`` (a form's text or the API's number)."""
    if isinstance(weight, bool) or not isinstance(weight, int):
        try:
            weight = int(str(weight).strip())
        except ValueError:
            raise InvalidInput(_l("The weight is a whole number"), field="weight") from None
    if not 1 <= weight <= MAX_INQUIRY_WEIGHT:
        raise InvalidInput(
            lazy_ngettext(
                "The weight is a whole number from 1 to %(num)d",
                "The weight is a whole number from 1 to %(num)d",
                MAX_INQUIRY_WEIGHT,
            ),
            field="weight",
        )
    return weight


UNCHANGED = object()


@transaction
def set_member_rules(
    actor: Account,
    account: Account,
    *,
    receives: bool | None = None,
    weight: int | None = None,
    manager: Account | None | object = UNCHANGED,
    expected_version: str | None = None,
) -> Account:
    """R24: the owner's switch and weight for a sub-account; issue 18: whom it reports to
    (``manager``: a sub-account of the company, or None for no one). What is not given stays."""
    require_owner(actor)
    require_sub_account(actor, account)
    versions.check(account, expected_version, member_version, CHANGED)
    if receives is not None:
        account.receives_inquiries = bool(receives)
    if weight is not None:
        account.inquiry_weight = check_weight(weight)
    if manager is not UNCHANGED:
        _set_manager(actor, account, manager)
    audit.record(
        actor,
        "inquiries.member_rules",
        company_id=actor.company_id,
        target=account,
        receives=account.receives_inquiries,
        weight=account.inquiry_weight,
        manager=manager_of(account),
    )
    return account


@transaction
def set_own_switch(account: Account, on: bool) -> Account:
    """R24: a staff member takes a break from inquiries, or comes back, on their own."""
    if account.is_main:
        raise Forbidden(_l("Only staff sub-accounts receive inquiries"))
    account.receives_inquiries = bool(on)
    audit.record(
        account, "inquiries.own_switch", company_id=account.company_id, target=account, on=on
    )
    return account


def allocating_stores(account: Account) -> list[Store]:
    """R24: the stores given to a staff member that spread their inquiries (allocation on): where
    the member's own switch matters. None for the main account."""
    if account.is_main:
        return []
    return [store for store in account.stores if store.inquiry_allocation]


# --- teams (issue 18) -----------------------------------------------------------------------------


def _set_manager(actor: Account, account: Account, manager: Account | None) -> None:
    """A sub-account reports to another sub-account of the company, never in a cycle (itself,
    or someone who reports to it, directly or not)."""
    if manager is None:
        account.manager_id = None
        return
    require_sub_account(actor, manager)
    if manager.id == account.id:
        raise InvalidInput(_l("A staff member cannot report to themself"), field="manager")
    seen = {account.id}
    step: Account | None = manager
    while step is not None:
        if step.id in seen:
            raise InvalidInput(
                _l(
                    "%(login)s cannot report to %(manager)s: %(manager)s reports to %(login)s",
                    login=account.login_name,
                    manager=manager.login_name,
                ),
                field="manager",
            )
        seen.add(step.id)
        step = db.session.get(Account, step.manager_id) if step.manager_id else None
    account.manager_id = manager.id


def manager_of(account: Account) -> str | None:
    if account.manager_id is None:
        return None
    return db.session.get(Account, account.manager_id).public_id


def reports_of(account: Account) -> list[Account]:
    """The sub-accounts that report to ``account`` directly (its team, departed ones
    included), by name: the owner's staff page lists them."""
    return sorted(
        db.session.scalars(select(Account).where(Account.manager_id == account.id)),
        key=lambda member: member.name_key,
    )


def manager_choices(actor: Account, *, of=()) -> list[tuple[str, str]]:
    """Whom a sub-account may be set to report to, as (public id, login name): every enabled
    sub-account of the company (a team is company-wide, whatever the stores); and the current
    managers of the accounts ``of`` even when departed, so that a save does not drop them
    unseen."""
    choices = {a.public_id: a.login_name for a in accounts.list_staff(actor)}
    for account in of:
        if account.manager_id is not None:
            current = db.session.get(Account, account.manager_id)
            choices.setdefault(current.public_id, current.login_name)
    return list(choices.items())


def team_of(account: Account) -> list[str]:
    """The ``team`` claim: the ``sub``s of the sub-accounts that report to the account directly,
    departed ones included: their customers' inquiries and contacts are the team's to take over
    (the departed account itself is in no token, R5)."""
    return sorted(
        db.session.scalars(select(Account.public_id).where(Account.manager_id == account.id))
    )


# --- eligibility and allocation -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    id: int
    public_id: str
    name: str
    weight: int


def candidates(store: Store | AllocationStore, group_id: int | None) -> list[Candidate]:
    """Everyone eligible but for presence (R24), by account id: one query."""
    query = (
        select(Account.id, Account.public_id, Account.name, Account.inquiry_weight)
        .join(StoreAssignment, StoreAssignment.account_id == Account.id)
        .where(
            StoreAssignment.store_id == store.id,
            Account.company_id == store.company_id,
            Account.kind == SUB,
            Account.status == ACTIVE,
            Account.receives_inquiries.is_(True),
            Account.unmuted(),
        )
        .order_by(Account.id)
    )
    if group_id is not None:
        query = query.join(
            group_members,
            (group_members.c.account_id == Account.id) & (group_members.c.group_id == group_id),
        )
    return [Candidate(*row) for row in db.session.execute(query)]


def eligible(store: Store | AllocationStore, group_id: int | None) -> list[Candidate]:
    """R24: the members an inquiry of the store (for the group) may go to now."""
    found = candidates(store, group_id)
    online = presence.online([c.id for c in found])
    return [c for c in found if c.id in online]


@dataclass(frozen=True)
class AllocationStore:
    """What an allocation reads of its store and company: one row."""

    id: int
    public_id: str
    company_id: int
    status: str
    allocation: bool
    group_id: int | None
    company_name: str
    zone: str


@dataclass(frozen=True)
class Allocation:
    store: AllocationStore
    inquiry_id: str
    sub: str
    login_name: str
    account_type: str
    reason: str | None  # why it is the main account
    kept: bool  # the inquiry's earlier answer, kept


def store_for_allocation(client: Client, store_id) -> AllocationStore:
    """The store named by an allocation request, with its company, in one statement: any
    company's for a provider app (the chat platform), only its own for a company's API client,
    and only on the marketplaces the app serves (``Client.serves``, as for the events intake).
    Anything else is "no such store"."""
    if not isinstance(store_id, str) or not store_id or len(store_id) > 40:
        raise InvalidInput("'store' is required: the store's id (st_...)", field="store")
    row = db.session.execute(
        select(
            Store.id,
            Store.public_id,
            Store.company_id,
            Store.status,
            Store.inquiry_allocation,
            Store.inquiry_group_id,
            Company.name,
            Company.timezone,
            Company.language,
            Store.marketplace_code,
        )
        .join(Company, Company.id == Store.company_id)
        .where(Store.public_id == store_id)
    ).one_or_none()
    if (
        row is None
        or (client.company_id is not None and client.company_id != row.company_id)
        or not client.serves(row.marketplace_code)
    ):
        raise NotFound("No such store")
    zone = company_zone(row)  # the row has the company's timezone and language
    return AllocationStore(*row[:7], zone)


def _request_group(store: AllocationStore, name) -> int | None:
    if name is None:
        return store.group_id
    if not isinstance(name, str) or not name.strip() or len(name) > 60:
        raise InvalidInput("'group' is the name of one of the store's staff groups", field="group")
    group_id = db.session.scalars(
        select(StaffGroup.id).where(
            StaffGroup.store_id == store.id, StaffGroup.name_key == normalize(name)
        )
    ).one_or_none()
    if group_id is None:
        raise InvalidInput("The store has no staff group of that name", field="group")
    return group_id


def check_inquiry_id(inquiry_id) -> str:
    if (
        not isinstance(inquiry_id, str)
        or not inquiry_id
        or len(inquiry_id) > MAX_INQUIRY_ID
        or any(ch < " " or ch == "\x7f" for ch in inquiry_id)
    ):
        raise InvalidInput(
            f"'inquiry_id' is required: 1 to {MAX_INQUIRY_ID} printable characters",
            field="inquiry_id",
        )
    return inquiry_id


def local_day(zone: str) -> date:
    return clock.now().astimezone(ZoneInfo(zone)).date()


def _count_key(store_id: int, day: date) -> str:
    return f"inq:n:{store_id}:{day.isoformat()}"


def allocate(client: Client, store_id, inquiry_id, group=None) -> Allocation:
    """R24: who answers the inquiry. Off, or nobody eligible: the main account, with why.
    ``client``: the calling app, whose company and marketplaces bound the stores it names."""
    store = store_for_allocation(client, store_id)
    inquiry_id = check_inquiry_id(inquiry_id)
    group_id = _request_group(store, group)
    reason = None
    members = []
    if not store.allocation or store.status != STORE_AUTHORIZED:
        reason = ALLOCATION_OFF
    else:
        members = eligible(store, group_id)
        if not members:
            reason = NO_ONE_ELIGIBLE
    if reason is not None:
        sub = db.session.scalars(
            select(Account.public_id).where(
                Account.company_id == store.company_id, Account.kind == MAIN
            )
        ).one()
        return Allocation(store, inquiry_id, sub, store.company_name, MAIN, reason, False)
    from idp.kv import kv

    by_id = {str(m.id): m for m in members}
    chosen, kept = kv().allocate(
        # the inquiry id is the platform's text: hashed, so that a key has a bounded length
        f"inq:a:{store.id}:{token_hash(inquiry_id)}",
        f"inq:rr:{store.id}:{group_id or '-'}",
        _count_key(store.id, local_day(store.zone)),
        [(str(m.id), m.weight) for m in members],
        (INQUIRY_STICKY_TTL, ROTATION_TTL, ALLOCATION_COUNT_DAYS * 86400),
    )
    member = by_id[chosen]
    login_name = f"{store.company_name}:{member.name}"
    return Allocation(store, inquiry_id, member.public_id, login_name, SUB, None, kept)


@dataclass(frozen=True)
class DayCounts:
    day: date
    counts: dict[int, int]  # account id -> inquiries allocated that day

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def day_counts(actor: Account, store: Store, days: int = ALLOCATION_DAYS_SHOWN) -> list[DayCounts]:
    """The owner's "monitor feedback": inquiries allocated to each member per day, the last
    ``days`` days of the company's calendar, newest first."""
    require_owner(actor)
    require_same_company(actor, store, "store")
    from idp.kv import kv

    today = local_day(company_zone(store.company))
    found = []
    for back in range(days):
        day = today - timedelta(days=back)
        counts = kv().counts(_count_key(store.id, day))
        found.append(DayCounts(day, {int(k): int(v) for k, v in counts.items()}))
    return found
