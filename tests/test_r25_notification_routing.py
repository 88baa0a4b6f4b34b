"""R25 (issue 18, section 5): notification routing and the events intake API.

An app publishes an event with its client credentials token (``events:publish``) at
``/api/events``; the company's routing table decides who is emailed, through the outbox and the
real SMTP test server; the main account is the fallback for a departed or unknown recipient; a
replayed event id emails nothing, also when the replays race each other; an unknown kind or an
oversized payload is refused with a clear error. The owner edits the table in the console and
the admin API (ETag / If-Match), each change audited; another company's people, groups and
stores are out of reach."""

from __future__ import annotations

import json
import threading
from html import unescape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.defaults import EVENT_PAYLOAD_MAX
from idp.errors import Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.models import AuditEvent, Client, NotificationEvent, OutboxMessage
from idp.oauth.config import ADMIN_SCOPE, EVENTS_SCOPE
from idp.services import accounts, groups, outbox, routing
from tests import admin_api
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.live import _live_provider, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.smtp"]  # the smtp fixture: a real SMTP server on loopback


def publisher(name: str = "Seller center", **options) -> flow.RP:
    """A downstream app registered by the operators with ``events:publish``."""
    return flow.register(name, grant_types=["client_credentials"], scope=EVENTS_SCOPE, **options)


class Shop:
    def __init__(self, make, web) -> None:
        self.owner = make.company("acme")
        self.sg = make.store(self.owner, "shopee-sg", name="Acme SG")
        self.alice = make.staff(self.owner, "alice", stores_=[self.sg], email="alice@acme.test")
        self.bob = make.staff(self.owner, "bob", stores_=[self.sg], email="bob@acme.test")
        self.carol = make.staff(self.owner, "carol", stores_=[self.sg], email="carol@acme.test")
        self.web = web
        self.app = publisher()
        self.token = admin_api.client_token(web, self.app, EVENTS_SCOPE)
        self.count = 0

    def publish(self, kind: str, sub: str | None = None, event_id: str | None = None, **extra):
        self.count += 1
        body = {
            "id": event_id or f"evt-{self.count}",
            "store": self.sg.public_id,
            "kind": kind,
            "payload": {"product": "Blue kettle 1L", "reason": "Photo shows a watermark"},
            **extra,
        }
        if sub is not None:
            body["sub"] = sub
        return self.web.post(
            "/api/events", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )


@pytest.fixture
def shop(ctx, make, web) -> Shop:
    return Shop(make, web)


def delivered(smtp, expected: int) -> list:
    """Deliver the outbox, wait for ``expected`` emails and show that no more arrive."""
    outbox.deliver_due()
    if expected:
        smtp.wait_for(expected)
    return smtp.settle(0.3)


EXPECTED = {  # R25's table: who receives each kind by default
    "listing_returned": "alice",  # the product's owner, named by the event
    "fraud_complaint": "owner",
    "trade_dispute": "owner",
    "infringement_complaint": "owner",
    "rfq_matched": "owner",
    "quotation_reviewed": "bob",  # the account that submitted it
}


def test_r25_the_table_covers_every_kind():
    assert set(EXPECTED) == set(routing.KINDS) == set(routing.DEFAULTS)
    assert not set(routing.NOTIFICATION_EMAIL_KINDS.values()) & outbox.SECURITY_KINDS


@pytest.mark.parametrize("kind", routing.KINDS)
def test_r25_an_event_of_each_kind_emails_exactly_the_tables_recipient(shop, smtp, kind):
    sub = {"listing_returned": shop.alice, "quotation_reviewed": shop.bob}.get(kind, shop.carol)
    answer = shop.publish(kind, sub=sub.public_id)
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json() == {"event": "evt-1", "status": "accepted", "emailed": 1}
    [message] = delivered(smtp, 1)
    expected = getattr(shop, EXPECTED[kind])
    assert message["To"] == expected.email
    assert "Acme SG" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "Blue kettle 1L" in text and expected.login_name in text


def test_r25_named_accounts_and_a_group_are_each_emailed(shop, smtp):
    group = groups.create_group(shop.owner, shop.sg, "After-sale")
    groups.add_member(shop.owner, group, shop.bob)
    groups.add_member(shop.owner, group, shop.carol)
    routing.set_route(shop.owner, "trade_dispute", "accounts", accounts_=["alice", "carol"])
    routing.set_route(shop.owner, "fraud_complaint", "group", group_id=group.id)
    assert shop.publish("trade_dispute").get_json()["emailed"] == 2
    assert shop.publish("fraud_complaint").get_json()["emailed"] == 2
    received = sorted(m["To"] for m in delivered(smtp, 4))
    assert received == sorted(
        [shop.alice.email, shop.carol.email, shop.bob.email, shop.carol.email]
    )


def test_r25_a_departed_product_owner_falls_back_to_the_main_account(shop, smtp):
    accounts.disable_sub_account(shop.owner, shop.alice)
    assert shop.publish("listing_returned", sub=shop.alice.public_id).status_code == 202
    [message] = delivered(smtp, 1)
    assert message["To"] == shop.owner.email
    assert "nobody the notification routing names" in message.get_body(("plain",)).get_content()
    event = db.session.query(NotificationEvent).one()
    assert (event.recipients, event.fell_back) == ([shop.owner.id], True)


def test_r25_a_departed_named_account_and_an_unknown_submitter_fall_back(shop, make, smtp):
    routing.set_route(shop.owner, "trade_dispute", "accounts", accounts_=["alice"])
    accounts.disable_sub_account(shop.owner, shop.alice)
    other = make.staff(make.company("globex"), "alice", email="alice@globex.test")
    shop.publish("trade_dispute")
    shop.publish("quotation_reviewed", sub="acct_nobody")
    shop.publish("quotation_reviewed", sub=other.public_id)  # another company's: unknown here
    shop.publish("listing_returned")  # no product owner named at all
    assert {m["To"] for m in delivered(smtp, 4)} == {shop.owner.email}


def test_r8_r10_r25_only_people_who_hold_the_events_store_are_emailed(shop, make, smtp):
    """Found in review: an event about a store reached a named product owner who did not hold
    it (a store of the company's they were never given, or one taken from them): its product,
    price and customer went to staff of another store. Whoever the table or the event names is
    emailed only while holding the store; else the main account, marked as a fallback."""
    my = make.store(shop.owner, "shopee-my", name="Acme MY")
    dave = make.staff(shop.owner, "dave", stores_=[my], email="dave@acme.test")
    erin = make.staff(shop.owner, "erin", stores_=[shop.sg, my], email="erin@acme.test")
    accounts.update_sub_account(shop.owner, erin, stores=[my.public_id])  # sg taken from her
    team = groups.create_group(shop.owner, my, "MY team")
    groups.add_member(shop.owner, team, dave)
    routing.set_route(shop.owner, "trade_dispute", "accounts", accounts_=["dave", "alice"])
    routing.set_route(shop.owner, "fraud_complaint", "group", group_id=team.id)
    for who in (dave, erin):
        shop.publish("listing_returned", sub=who.public_id, event_id=f"returned-{who.name}")
    shop.publish("trade_dispute", event_id="dispute")
    shop.publish("fraud_complaint", event_id="fraud")
    received = {m["To"] for m in delivered(smtp, 4)}
    assert received == {shop.owner.email, shop.alice.email}
    fell_back = dict(db.session.query(NotificationEvent.event_id, NotificationEvent.fell_back))
    assert fell_back == {
        "returned-dave": True, "returned-erin": True, "dispute": False, "fraud": True
    }  # fmt: skip


def test_r25_a_deleted_group_falls_back_to_the_main_account(shop, smtp):
    group = groups.create_group(shop.owner, shop.sg, "Pre-sale")
    groups.add_member(shop.owner, group, shop.bob)
    routing.set_route(shop.owner, "infringement_complaint", "group", group_id=group.id)
    groups.delete_group(shop.owner, group)
    again = groups.create_group(shop.owner, shop.sg, "Somebody else's job")  # may reuse the id
    groups.add_member(shop.owner, again, shop.carol)
    [line] = [r for r in routing.table(shop.owner) if r.kind == "infringement_complaint"]
    assert (line.recipient, line.group) == ("group", None)
    shop.publish("infringement_complaint")
    assert [m["To"] for m in delivered(smtp, 1)] == [shop.owner.email]


def test_r25_a_replayed_event_id_sends_nothing(shop, smtp):
    first = shop.publish("fraud_complaint", event_id="evt-42")
    again = shop.publish("fraud_complaint", event_id="evt-42")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"event": "evt-42", "status": "replayed", "emailed": 0}
    assert len(delivered(smtp, 1)) == 1
    # The id is the app's: another app may use the same id for its own event.
    other = publisher("Chat console")
    token = admin_api.client_token(shop.web, other, EVENTS_SCOPE)
    answer = shop.web.post(
        "/api/events",
        json={"id": "evt-42", "store": shop.sg.public_id, "kind": "fraud_complaint"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 202


def test_r25_concurrent_replays_email_once(shop, live_server):  # noqa: F811
    """Eight publishers at once, on the live server's threads (another app over the same
    database, as a second instance would be): one is accepted, the others are replays, and one
    email is queued."""
    import requests

    token = requests.post(
        f"{live_server}/oauth/token",
        auth=(shop.app.client_id, shop.app.secret),
        data={"grant_type": "client_credentials", "scope": EVENTS_SCOPE},
        timeout=10,
    ).json()["access_token"]
    answers = []
    body = {"id": "evt-race", "store": shop.sg.public_id, "kind": "rfq_matched"}
    barrier = threading.Barrier(8)

    def send():
        barrier.wait()
        answers.append(
            requests.post(
                f"{live_server}/api/events",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 7 + [202], [a.text for a in answers]
    db.session.expire_all()
    [message] = db.session.query(OutboxMessage).all()  # the live app's own worker sends it
    assert message.recipient == shop.owner.email
    assert db.session.query(NotificationEvent).count() == 1


def test_r25_an_unknown_kind_is_refused_naming_the_kinds(shop):
    answer = shop.publish("price_changed")
    assert answer.status_code == 400
    error = answer.get_json()
    assert error["field"] == "kind"
    assert "price_changed" in error["error_description"]
    assert "listing_returned" in error["error_description"]
    assert db.session.query(NotificationEvent).count() == 0


def test_r25_an_oversized_payload_is_refused(shop):
    answer = shop.publish("fraud_complaint", payload={"text": "x" * EVENT_PAYLOAD_MAX})
    assert answer.status_code == 413
    assert answer.get_json()["field"] == "payload"
    assert str(EVENT_PAYLOAD_MAX) in answer.get_json()["error_description"]
    assert db.session.query(OutboxMessage).count() == 0
    assert shop.publish("fraud_complaint", payload=["not", "an object"]).status_code == 400
    assert shop.publish("fraud_complaint", surprise=1).get_json()["field"] == "surprise"


def test_r25_only_an_apps_token_with_events_publish_may_publish(shop, ctx):
    body = {"id": "e1", "store": shop.sg.public_id, "kind": "fraud_complaint"}
    assert shop.web.post("/api/events", json=body).status_code == 401
    # A person's token, even the owner's, is refused.
    tool = admin_api.owner_tool()
    owner_token = admin_api.user_token(ctx, tool, "acme")
    refused = shop.web.post(
        "/api/events", json=body, headers={"Authorization": f"Bearer {owner_token}"}
    )
    assert refused.status_code == 403
    # A company's admin client holds company:admin, not events:publish.
    erp = admin_api.company_client(shop.owner)
    admin_token = admin_api.client_token(shop.web, erp, ADMIN_SCOPE)
    refused = shop.web.post(
        "/api/events", json=body, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert refused.status_code == 403
    assert EVENTS_SCOPE in refused.headers["WWW-Authenticate"]


def test_r25_apps_publish_only_for_the_stores_they_serve(shop, make):
    globex = make.company("globex")
    their_store = make.store(globex, "lazada-my", name="Globex MY")
    # A company's own client with events:publish: its own company's stores only.
    erp = admin_api.company_client(shop.owner)
    erp_client = db.session.query(Client).filter_by(client_id=erp.client_id).one()
    erp_client.scope = EVENTS_SCOPE
    db.session.commit()
    erp_token = admin_api.client_token(shop.web, erp, EVENTS_SCOPE)
    # An app that serves shopee-sg only.
    sg_app = publisher("Shopee SG seller center", marketplaces=["shopee-sg"])
    sg_token = admin_api.client_token(shop.web, sg_app, EVENTS_SCOPE)
    for token in (erp_token, sg_token):
        answer = shop.web.post(
            "/api/events",
            json={"id": "x", "store": their_store.public_id, "kind": "trade_dispute"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 404, answer.get_json()
    for token in (erp_token, sg_token):
        answer = shop.web.post(
            "/api/events",
            json={"id": "y", "store": shop.sg.public_id, "kind": "trade_dispute"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 202, answer.get_json()


def test_r25_r22_a_recipient_who_unsubscribed_gets_no_email(shop, smtp):
    shop.alice.email_opt_out = [routing.NOTIFICATION_EMAIL_KINDS["listing_returned"]]
    db.session.commit()
    answer = shop.publish("listing_returned", sub=shop.alice.public_id)
    assert answer.get_json()["emailed"] == 0
    assert delivered(smtp, 0) == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    event_id=st.one_of(st.text(max_size=200), st.integers(), st.none()),
    kind=st.one_of(st.sampled_from(routing.KINDS), st.text(max_size=50), st.none()),
    sub=st.one_of(st.none(), st.text(max_size=60), st.integers()),
    payload=st.one_of(
        st.none(),
        st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=12),
        st.lists(st.integers(), max_size=3),
        st.text(max_size=10),
    ),
)
def test_r25_fuzzed_events_are_accepted_or_refused_cleanly(shop, event_id, kind, sub, payload):
    body = {"id": event_id, "store": shop.sg.public_id, "kind": kind, "sub": sub}
    body["payload"] = payload
    try:
        raw = json.dumps(body)
    except ValueError:
        return
    answer = shop.web.post(
        "/api/events",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {shop.token}"},
    )
    assert answer.status_code in (200, 202, 400, 413), answer.get_data(as_text=True)
    assert set(answer.get_json()) >= ({"event"} if answer.status_code < 300 else {"error"})


# --- the owner's table: admin API and console ----------------------------------------------------


def test_r25_the_admin_api_reads_and_edits_the_table_with_if_match(shop):
    erp = admin_api.company_client(shop.owner)
    api = admin_api.Api(shop.web, admin_api.client_token(shop.web, erp))
    read = api.get("/notifications/routing")
    assert read.status_code == 200
    items = {i["kind"]: i for i in read.get_json()["items"]}
    assert items["listing_returned"]["recipient"] == "product_owner"
    assert all(i["default"] for i in items.values())
    edit = {"routes": {"trade_dispute": {"recipient": "accounts", "accounts": ["alice", "bob"]}}}
    assert api("PATCH", "/notifications/routing", edit).status_code == 428
    changed = api("PATCH", "/notifications/routing", edit, If_Match=read.headers["ETag"])
    assert changed.status_code == 200, changed.get_json()
    line = {i["kind"]: i for i in changed.get_json()["items"]}["trade_dispute"]
    assert line["accounts"] == ["acme:alice", "acme:bob"] and not line["default"]
    stale = api("PATCH", "/notifications/routing", edit, If_Match=read.headers["ETag"])
    assert stale.status_code == 412
    unknown = api(
        "PATCH",
        "/notifications/routing",
        {"routes": {"price_changed": {"recipient": "main"}}},
        If_Match="*",
    )
    assert unknown.status_code == 400 and unknown.get_json()["field"] == "routes"
    [entry] = db.session.query(AuditEvent).filter_by(action="notifications.route_changed").all()
    assert entry.details["kind"] == "trade_dispute"
    assert entry.details["before"]["recipient"] == "main"
    assert entry.details["after"]["recipient"] == "accounts"


def test_r25_another_companys_people_and_groups_cannot_be_named(shop, make):
    globex = make.company("globex")
    gstore = make.store(globex, "lazada-my")
    make.staff(globex, "dave", stores_=[gstore], email="dave@globex.test")
    their_group = groups.create_group(globex, gstore, "Pre-sale")
    with pytest.raises(NotFound):
        routing.set_route(shop.owner, "trade_dispute", "accounts", accounts_=["dave"])
    with pytest.raises(NotFound):
        routing.set_route(shop.owner, "trade_dispute", "group", group_id=their_group.id)
    assert all(route.is_default for route in routing.table(shop.owner))
    # Staff never edit the table (R6).
    with pytest.raises(Forbidden):
        routing.set_route(shop.alice, "trade_dispute", "main")


@pytest.mark.parametrize("number", [str(2**31), 2**31, "9" * 20, "-1", "0", "\u0661"])
def test_r25_a_group_number_past_a_row_id_is_no_group_never_a_500(shop, ctx, number):
    """Found in review: a group number past 2**31 - 1 reached PostgreSQL, which refuses to
    compare it with an integer id (a 500). It is "no such group", as in the staff groups'
    own service; the console's form says so."""
    with pytest.raises(NotFound):
        routing.set_route(shop.owner, "fraud_complaint", "group", group_id=number)
    web = flow.browser(ctx)
    assert flow.sign_in(web, "acme", PASSWORD).status_code == 302
    fields = flow.form_fields(web.get("/console/notifications").get_data(as_text=True))
    answer = web.post(
        "/console/notifications/fraud_complaint",
        data={**fields, "recipient": "group", "group": str(number)},
    )
    assert answer.status_code == 404
    assert all(route.is_default for route in routing.table(shop.owner))


def test_r25_a_departed_account_cannot_be_newly_named(shop):
    accounts.disable_sub_account(shop.owner, shop.bob)
    with pytest.raises(InvalidInput) as refused:
        routing.set_route(shop.owner, "rfq_matched", "accounts", accounts_=["bob"])
    assert refused.value.field == "accounts"


def test_r25_console_form_errors_are_shown_on_the_form(shop, ctx):
    web = flow.browser(ctx)
    assert flow.sign_in(web, "acme", PASSWORD).status_code == 302
    page = web.get("/console/notifications")
    assert page.status_code == 200
    fields = flow.form_fields(page.get_data(as_text=True))
    nobody = web.post(
        "/console/notifications/trade_dispute",
        data={
            "csrf_token": fields["csrf_token"],
            "version": fields["version"],
            "recipient": "accounts",
        },
    )
    assert nobody.status_code == 400
    assert "Name at least one account" in nobody.get_data(as_text=True)
    # the page comes back at its top: a summary there names the card and links to it
    assert "Trade dispute was not saved: Name at least one account." in unescape(
        nobody.get_data(as_text=True)
    )
    assert 'href="#kind-trade_dispute"' in nobody.get_data(as_text=True)
    unknown = web.post(
        "/console/notifications/price_changed",
        data={"csrf_token": fields["csrf_token"], "recipient": "main"},
    )
    assert unknown.status_code == 400
    assert "is not a kind of event" in unescape(unknown.get_data(as_text=True))  # no card: top
    saved = web.post(
        "/console/notifications/trade_dispute",
        data={
            "csrf_token": fields["csrf_token"],
            "version": fields["version"],
            "recipient": "accounts",
            "accounts": [shop.alice.public_id, shop.carol.public_id],
        },
    )
    assert saved.status_code == 302
    [line] = [r for r in routing.table(shop.owner) if r.kind == "trade_dispute"]
    assert [a.login_name for a in line.accounts] == ["acme:alice", "acme:carol"]
    accounts.disable_sub_account(shop.owner, shop.carol)
    shown = web.get("/console/notifications").get_data(as_text=True)
    assert "acme:carol" in shown and "departed" in shown  # named, departed: the owner sees it
    stale = web.post(
        "/console/notifications/rfq_matched",
        data={
            "csrf_token": fields["csrf_token"],
            "version": fields["version"],
            "recipient": "group",
        },
    )
    assert stale.status_code == 409
    staff = flow.browser(ctx)
    flow.sign_in(staff, "acme:alice", PASSWORD)
    assert staff.get("/console/notifications").status_code == 403
