"""R25: notification routing. Each company has a table, edited by its owner, that says who is
emailed for each kind of event a downstream app publishes (a listing returned, a fraud
complaint, a quotation approved or returned, …): the main account, named accounts, a staff group
(R23), the product's owner or the account that submitted what the event is about. Whenever the
chosen people cannot be reached (departed, unknown, a group deleted or emptied, no email
address), the main account is emailed instead: an event is never silently lost.

Apps publish through the intake API (``idp.web.events``); ``publish`` records the event under
the app's own event id in the same transaction as the emails it queues (``outbox``), and that
row is unique, so a replay (the app retrying, or two instances receiving the same event) emails
nothing more.

Every kind here is an ordinary notification, not a security notice (R22): each recipient's
email subscriptions decide whether it is sent (``NOTIFICATION_EMAIL_KINDS``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp.defaults import EVENT_ID_MAX, EVENT_PAYLOAD_FIELDS, EVENT_PAYLOAD_MAX, MAX_ROUTE_ACCOUNTS
from idp.errors import InvalidInput, NotFound, TooLarge
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Client, NotificationEvent, NotificationRoute, StaffGroup, Store
from idp.models.accounts import MAIN as MAIN_KIND
from idp.oauth.store_context import holds
from idp.services import accounts, audit, groups, outbox, versions
from idp.services.authz import require_owner
from idp.services.tx import transaction

# --- the kinds of event, and who may receive them ------------------------------------------------

LISTING_RETURNED = "listing_returned"
FRAUD_COMPLAINT = "fraud_complaint"
TRADE_DISPUTE = "trade_dispute"
INFRINGEMENT_COMPLAINT = "infringement_complaint"
RFQ_MATCHED = "rfq_matched"
QUOTATION_REVIEWED = "quotation_reviewed"
KINDS = (
    LISTING_RETURNED,
    FRAUD_COMPLAINT,
    TRADE_DISPUTE,
    INFRINGEMENT_COMPLAINT,
    RFQ_MATCHED,
    QUOTATION_REVIEWED,
)
KIND_LABELS = {
    LISTING_RETURNED: _l("Listing returned"),
    FRAUD_COMPLAINT: _l("Fraud complaint"),
    TRADE_DISPUTE: _l("Trade dispute"),
    INFRINGEMENT_COMPLAINT: _l("Infringement complaint"),
    RFQ_MATCHED: _l("Matched to a buyer request (RFQ)"),
    QUOTATION_REVIEWED: _l("Quotation approved or returned"),
}

MAIN = "main"
ACCOUNTS = "accounts"
GROUP = "group"
PRODUCT_OWNER = "product_owner"
SUBMITTER = "submitter"
RECIPIENTS = (MAIN, ACCOUNTS, GROUP, PRODUCT_OWNER, SUBMITTER)
RECIPIENT_LABELS = {
    MAIN: _l("The main account"),
    ACCOUNTS: _l("Named accounts"),
    GROUP: _l("A staff group"),
    PRODUCT_OWNER: _l("The product's owner"),
    SUBMITTER: _l("The account that submitted it"),
}

# R25's table: the recipient of each kind until the owner chooses another.
DEFAULTS = {
    LISTING_RETURNED: PRODUCT_OWNER,
    FRAUD_COMPLAINT: MAIN,
    TRADE_DISPUTE: MAIN,
    INFRINGEMENT_COMPLAINT: MAIN,
    RFQ_MATCHED: MAIN,
    QUOTATION_REVIEWED: SUBMITTER,
}

# R22: the email kind (``templates/email/<kind>.txt``) each event sends. None of them is a
# security notice: they are ordinary notifications, which each recipient's email subscriptions
# decide (today ``Account.email_opt_out``, honoured by ``outbox.send_email``). This is the one
# place that lists them, for the subscriptions' registry.
NOTIFICATION_EMAIL_KINDS = {kind: f"event_{kind}" for kind in KINDS}
assert not set(NOTIFICATION_EMAIL_KINDS.values()) & outbox.SECURITY_KINDS


# --- the owner's table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One kind's line of the table, as the owner sees it."""

    kind: str
    recipient: str
    accounts: tuple[Account, ...] = ()
    group: StaffGroup | None = None
    is_default: bool = True


def _rows(company_id: int) -> dict[str, NotificationRoute]:
    rows = db.session.scalars(
        select(NotificationRoute).where(NotificationRoute.company_id == company_id)
    ).all()
    return {row.kind: row for row in rows}


def _accounts(company_id: int, ids: list[int]) -> tuple[Account, ...]:
    if not ids:
        return ()
    found = db.session.scalars(
        select(Account).where(Account.company_id == company_id, Account.id.in_(ids))
    ).all()
    by_id = {account.id: account for account in found}
    return tuple(by_id[i] for i in ids if i in by_id)


def _route_of(company_id: int, kind: str, row: NotificationRoute | None) -> Route:
    if row is None:
        return Route(kind=kind, recipient=DEFAULTS[kind])
    group = db.session.get(StaffGroup, row.group_id) if row.group_id is not None else None
    if group is not None and group.company_id != company_id:
        group = None
    return Route(
        kind=kind,
        recipient=row.recipient,
        accounts=_accounts(company_id, list(row.account_ids or [])),
        group=group,
        is_default=False,
    )


def table(actor: Account) -> list[Route]:
    """The company's table, one line per kind, in R25's order."""
    require_owner(actor)
    rows = _rows(actor.company_id)
    return [_route_of(actor.company_id, kind, rows.get(kind)) for kind in KINDS]


def _facts(route: Route) -> dict:
    return {
        "recipient": route.recipient,
        "accounts": [a.public_id for a in route.accounts],
        "group": route.group.id if route.group is not None else None,
    }


def table_version(actor: Account) -> str:
    """The whole table's version (``versions``): the console's form and the admin API's ETag."""
    return versions.fingerprint({route.kind: _facts(route) for route in table(actor)})


def _check_kind(kind) -> str:
    if kind not in KINDS:
        raise InvalidInput(
            _l(
                "'%(kind)s' is not a kind of event; the kinds are %(kinds)s",
                kind=str(kind)[:40],
                kinds=", ".join(KINDS),
            ),
            field="kind",
        )
    return kind


def _check_choice(
    actor: Account, recipient, account_idents, group_id
) -> tuple[str, list[int], int | None]:
    """The recipient choice, its named accounts (active sub-accounts of the company, at least
    one) or its group (one of the company's); nothing else is kept."""
    if recipient not in RECIPIENTS:
        raise InvalidInput(
            _l(
                "Choose who receives it: %(choices)s",
                choices=", ".join(RECIPIENTS),
            ),
            field="recipient",
        )
    if recipient == ACCOUNTS:
        idents = list(dict.fromkeys(account_idents or []))
        if not idents:
            raise InvalidInput(_l("Name at least one account"), field="accounts")
        if len(idents) > MAX_ROUTE_ACCOUNTS:
            raise InvalidInput(
                _l(
                    "Name at most %(num)d accounts; use a staff group for more",
                    num=MAX_ROUTE_ACCOUNTS,
                ),
                field="accounts",
            )
        named = []
        for ident in idents:
            account = accounts.get_sub_account(actor, ident)
            if not account.is_active:
                raise InvalidInput(
                    _l("'%(login)s' has departed; name someone else", login=account.login_name),
                    field="accounts",
                )
            named.append(account.id)
        return recipient, list(dict.fromkeys(named)), None
    if recipient == GROUP:
        if group_id is None or group_id == "":
            raise InvalidInput(_l("Choose a staff group"), field="group")
        try:
            number = int(group_id)
        except (TypeError, ValueError, OverflowError):
            number = 0
        return recipient, [], groups.get_group(actor, number).id  # a row id's size only
    return recipient, [], None


def set_route(
    actor: Account,
    kind: str,
    recipient: str,
    *,
    accounts_: list[str] | None = None,
    group_id: int | str | None = None,
    expected_version: str | None = None,
) -> Route:
    """One kind's recipient (``set_table`` with one line)."""
    return set_table(
        actor,
        {kind: {"recipient": recipient, "accounts": accounts_, "group": group_id}},
        expected_version=expected_version,
    )[KINDS.index(_check_kind(kind))]


@transaction
def set_table(
    actor: Account, changes: dict[str, dict], *, expected_version: str | None = None
) -> list[Route]:
    """Set the recipients of the kinds in ``changes`` (``{kind: {"recipient", "accounts",
    "group"}}``), all or none; a kind set back to its default keeps no row. ``expected_version``:
    the table's version the owner edited (``EditConflict`` when it changed meanwhile; the
    company row is the table's lock). Each kind that changed is audited, before and after."""
    require_owner(actor)
    versions.check(
        actor.company,
        expected_version,
        lambda _company: table_version(actor),
        _l(
            "The notification routing was changed by someone else since you read it; "
            "make your change again."
        ),
    )
    rows = _rows(actor.company_id)
    for kind, change in changes.items():
        _check_kind(kind)
        change = change or {}
        recipient, account_ids, group_id = _check_choice(
            actor, change.get("recipient"), change.get("accounts"), change.get("group")
        )
        row = rows.get(kind)
        before = _facts(_route_of(actor.company_id, kind, row))
        if recipient == DEFAULTS[kind]:  # the default is never a list of people to keep
            if row is not None:
                db.session.delete(row)
            after = _facts(Route(kind=kind, recipient=recipient))
        else:
            if row is None:
                row = NotificationRoute(company_id=actor.company_id, kind=kind)
                db.session.add(row)
            row.recipient, row.account_ids, row.group_id = recipient, account_ids, group_id
            after = _facts(_route_of(actor.company_id, kind, row))
        if before != after:
            audit.record(
                actor,
                "notifications.route_changed",
                company_id=actor.company_id,
                kind=kind,
                before=before,
                after=after,
            )
    db.session.flush()
    return table(actor)


# --- who receives an event ----------------------------------------------------------------------


@dataclass(frozen=True)
class Recipients:
    accounts: tuple[Account, ...]
    fell_back: bool  # the chosen people could not be reached: the main account instead


def _reachable(account: Account | None, store: Store) -> bool:
    """R8, R10, R25: an event about a store is emailed only to someone who works in it now (its
    company's, active, the store given to them: ``store_context.holds``) and has an email. What
    happens in a store is not told to staff of the company's other stores."""
    return account is not None and bool(account.email) and holds(account, store)


def main_account(company_id: int) -> Account:
    return db.session.scalars(
        select(Account).where(Account.company_id == company_id, Account.kind == MAIN_KIND)
    ).one()


def recipients(store: Store, kind: str, sub: str | None) -> Recipients:
    """R25: who is emailed for an event of ``kind`` in ``store`` about ``sub`` (the product's
    owner or the submitter, as the app named them). The table's choice, those of them who hold
    the store; else the main account, which holds every store of its company."""
    company_id = store.company_id
    route = _route_of(company_id, kind, _rows(company_id).get(kind))
    chosen: list[Account] = []
    if route.recipient == MAIN:
        chosen = [main_account(company_id)]
    elif route.recipient == ACCOUNTS:
        chosen = list(route.accounts)
    elif route.recipient == GROUP and route.group is not None:
        chosen = list(route.group.members)
    elif route.recipient in (PRODUCT_OWNER, SUBMITTER) and sub:
        named = db.session.scalars(
            select(Account).where(Account.public_id == sub, Account.company_id == company_id)
        ).one_or_none()
        chosen = [named] if named is not None else []
    reachable = tuple(dict.fromkeys(a for a in chosen if _reachable(a, store)))  # in order, once
    if reachable:
        return Recipients(reachable, fell_back=False)
    return Recipients((main_account(company_id),), fell_back=route.recipient != MAIN)


# --- the intake --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    event: NotificationEvent
    replayed: bool  # the event id was published before: nothing was emailed this time
    emailed: int  # emails queued (a recipient who unsubscribed gets none)


def check_payload(payload) -> dict:
    """A JSON object of at most ``EVENT_PAYLOAD_MAX`` bytes (compact UTF-8 JSON)."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise InvalidInput(_l("The payload must be a JSON object"), field="payload")
    size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    if size > EVENT_PAYLOAD_MAX:
        raise TooLarge(
            _l(
                "The payload is %(size)d bytes; at most %(limit)d are accepted",
                size=size,
                limit=EVENT_PAYLOAD_MAX,
            ),
            field="payload",
        )
    return payload


def _check_event_id(event_id) -> str:
    if (
        not isinstance(event_id, str)
        or not event_id.strip()
        or len(event_id) > EVENT_ID_MAX
        or not event_id.isprintable()
    ):
        raise InvalidInput(
            _l(
                "An event id has 1 to %(num)d printable characters",
                num=EVENT_ID_MAX,
            ),
            field="id",
        )
    return event_id


def store_for_client(client: Client, public_id) -> Store:
    """The store an app publishes for: authorized, of the app's company when the app is a
    company's own client (issue 16), on one of its marketplaces when it serves only some.
    Anything else is "no such store", as another tenant's things always are."""
    store = (
        db.session.scalars(select(Store).where(Store.public_id == public_id)).one_or_none()
        if isinstance(public_id, str) and 0 < len(public_id) <= 40
        else None
    )
    if (
        store is None
        or not store.is_authorized
        or (client.company_id is not None and store.company_id != client.company_id)
        or not client.serves(store.marketplace_code)
    ):
        raise NotFound(_l("No such authorized store"), field="store")
    return store


def _details(payload: dict) -> list[tuple[str, str]]:
    """What the email shows of the payload: its top-level fields, as short text."""
    shown = []
    for key, value in list(payload.items())[:EVENT_PAYLOAD_FIELDS]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        shown.append((str(key)[:60], text[:300]))
    return shown


def publish(
    client: Client,
    *,
    event_id: str,
    store: str,
    kind: str,
    sub: str | None = None,
    payload: dict | None = None,
) -> Published:
    """R25: email the table's recipients of an event, once per (app, event id). The event row
    and the emails commit together; a replay finds the row (or loses the race to insert it, on
    another instance) and queues nothing."""
    event_id = _check_event_id(event_id)
    _check_kind(kind)
    payload = check_payload(payload)
    if sub is not None and (not isinstance(sub, str) or len(sub) > 40):
        raise InvalidInput(_l("'sub' is an account's id"), field="sub")
    found = store_for_client(client, store)
    earlier = _earlier(client, event_id)
    if earlier is not None:
        return Published(earlier, replayed=True, emailed=0)
    try:
        chosen = recipients(found, kind, sub)
        event = NotificationEvent(
            client_id=client.id,
            event_id=event_id,
            company_id=found.company_id,
            store_id=found.id,
            kind=kind,
            recipients=[a.id for a in chosen.accounts],
            fell_back=chosen.fell_back,
        )
        db.session.add(event)
        db.session.flush()  # the unique (client, event id): a concurrent twin waits here
        emailed = 0
        details = _details(payload)
        for account in chosen.accounts:
            queued = outbox.send_email(
                NOTIFICATION_EMAIL_KINDS[kind],
                account.email,
                account=account,
                store=found.name,
                marketplace=found.marketplace.name,
                company=found.company.name,
                kind_label=KIND_LABELS[kind],
                details=details,
                fell_back=chosen.fell_back,
            )
            emailed += queued is not None
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = _earlier(client, event_id)
        if earlier is None:
            raise
        return Published(earlier, replayed=True, emailed=0)
    except BaseException:
        db.session.rollback()
        raise
    return Published(event, replayed=False, emailed=emailed)


def _earlier(client: Client, event_id: str) -> NotificationEvent | None:
    return db.session.scalars(
        select(NotificationEvent).where(
            NotificationEvent.client_id == client.id, NotificationEvent.event_id == event_id
        )
    ).one_or_none()
