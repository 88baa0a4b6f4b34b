"""R24's rules as the owner sets them (the console and the admin API, with the API's ETag and
If-Match) and issue 18's teams: the ``team`` claim of an account holding ``inquiries:team``
lists exactly its direct reports, and a cycle is refused."""

from __future__ import annotations

import re
from html import unescape

import pytest

from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.models import Account
from idp.services import accounts, groups, inquiries, roles
from tests import oidc_flow as flow
from tests.admin_api import Api, owner_tool, user_token
from tests.factories import PASSWORD


@pytest.fixture
def owner(ctx, make) -> Account:
    return make.company("acme")


@pytest.fixture
def sg(owner, make):
    return make.store(owner, "shopee-sg")


@pytest.fixture
def team(owner, sg, make) -> dict[str, Account]:
    """alice leads (inquiries:team); bob and carol report to her, dave to bob."""
    lead = roles.create_role(owner, "Lead", ["inquiries:team", "chat:read"])
    people = {"alice": make.staff(owner, "alice", stores_=[sg], roles=[lead.id])}
    for name in ("bob", "carol", "dave"):
        people[name] = make.staff(owner, name, stores_=[sg])
    inquiries.set_member_rules(owner, people["bob"], manager=people["alice"])
    inquiries.set_member_rules(owner, people["carol"], manager=people["alice"])
    inquiries.set_member_rules(owner, people["dave"], manager=people["bob"])
    return people


@pytest.fixture
def api(ctx, owner) -> Api:
    return Api(flow.browser(ctx), user_token(ctx, owner_tool(), "acme"))


def test_issue18_team_claim_lists_exactly_the_direct_reports(ctx, team):
    """A token and userinfo of a member with inquiries:team carry its direct reports' subs
    (dave reports to bob, not to alice); a member without the permission has no team claim."""
    rp = flow.register("Chat console", scope="openid profile")
    tokens = flow.token_set(flow.browser(ctx), rp, login="acme:alice", password=PASSWORD)
    expected = sorted([team["bob"].public_id, team["carol"].public_id])
    assert flow.jwt_payload(tokens["access_token"])["team"] == expected
    info = flow.userinfo(flow.browser(ctx), tokens["access_token"]).get_json()
    assert info["team"] == expected
    bobs = flow.token_set(flow.browser(ctx), rp, login="acme:bob", password=PASSWORD)
    assert "team" not in flow.jwt_payload(bobs["access_token"])


def test_issue18_a_new_report_shows_in_the_next_token_at_once(ctx, owner, team, make):
    rp = flow.register("Chat console", scope="openid profile")
    flow.token_set(flow.browser(ctx), rp, login="acme:alice", password=PASSWORD)  # cached
    erin = make.staff(owner, "erin")
    inquiries.set_member_rules(owner, erin, manager=team["alice"])
    tokens = flow.token_set(flow.browser(ctx), rp, login="acme:alice", password=PASSWORD)
    assert erin.public_id in flow.jwt_payload(tokens["access_token"])["team"]


@pytest.mark.parametrize(
    ("who", "manager"), [("alice", "alice"), ("alice", "bob"), ("alice", "dave"), ("bob", "dave")]
)
def test_issue18_a_cycle_is_refused(owner, team, who, manager):
    before = {name: account.manager_id for name, account in team.items()}
    with pytest.raises(InvalidInput) as refused:
        inquiries.set_member_rules(owner, team[who], manager=team[manager])
    assert refused.value.field == "manager"
    db.session.expire_all()
    assert {name: db.session.get(Account, a.id).manager_id for name, a in team.items()} == before


def test_issue18_another_company_s_account_is_no_manager(owner, team, make):
    globex = make.company("globex")
    stranger = make.staff(globex, "eve")
    with pytest.raises(NotFound):
        inquiries.set_member_rules(owner, team["bob"], manager=stranger)


def test_issue18_cycle_refused_through_the_api(api, team):
    refused = api("PATCH", "/staff/alice/inquiries", {"manager": "dave"}, if_match="*")
    assert refused.status_code == 400 and refused.get_json()["field"] == "manager"


def test_r24_store_rules_through_the_api_with_etag_and_if_match(api, owner, sg):
    group = groups.create_group(owner, sg, "Pre-sale")
    path = f"/stores/{sg.public_id}/inquiries"
    first = api.get(path)
    assert first.get_json() == {
        "store": sg.public_id,
        "allocation": False,
        "group": None,
        "group_name": None,
    }
    etag = first.headers["ETag"]
    assert api("PUT", path, {"allocation": True, "group": group.id}).status_code == 428
    saved = api("PUT", path, {"allocation": True, "group": group.id}, if_match=etag)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["group_name"] == "Pre-sale" and saved.get_json()["allocation"]
    stale = api("PUT", path, {"allocation": False, "group": None}, if_match=etag)
    assert stale.status_code == 412
    # a group of another store is refused with its field
    other = groups.create_group(owner, owner_store(owner), "Elsewhere")
    wrong = api("PUT", path, {"allocation": True, "group": other.id}, if_match="*")
    assert wrong.status_code == 400 and wrong.get_json()["field"] == "group"


def owner_store(owner):
    from tests import factories

    return factories.store(owner, "lazada-sg")


def test_r24_member_rules_through_the_api(api, team):
    path = "/staff/bob/inquiries"
    got = api.get(path).get_json()
    assert got["receives"] is True and got["weight"] == 1
    assert got["manager"] == team["alice"].public_id and got["team"] == [team["dave"].public_id]
    saved = api("PATCH", path, {"weight": 3, "receives": False}, if_match=api.etag(path))
    assert saved.status_code == 200 and saved.get_json()["weight"] == 3
    assert saved.get_json()["manager"] == team["alice"].public_id  # not sent: unchanged
    for body in ({"weight": 11}, {"weight": 0}, {"receives": None}, {"colour": "red"}):
        assert api("PATCH", path, body, if_match="*").status_code == 400, body
    cleared = api("PATCH", path, {"manager": None}, if_match="*")
    assert cleared.get_json()["manager"] is None


def test_r24_a_sub_account_cannot_set_rules_r6(ctx, team):
    """R6: only the owner manages staff; a sub-account's token is refused by the admin API,
    and the console is not open to it."""
    web = flow.browser(ctx)
    assert flow.sign_in(web, "acme:alice", PASSWORD).status_code == 302
    assert web.get("/console/inquiries").status_code == 403


def test_r24_console_errors_are_shown_on_the_form_with_400(ctx, owner, sg, team):
    web = flow.browser(ctx)
    assert flow.sign_in(web, "acme", PASSWORD).status_code == 302
    page = web.get(f"/console/inquiries/{sg.public_id}")
    assert page.status_code == 200
    csrf = flow.form_fields(page.get_data(as_text=True))["csrf_token"]
    bad = web.post(
        f"/console/inquiries/{sg.public_id}/staff/{team['bob'].public_id}",
        data={"csrf_token": csrf, "receives": "on", "weight": "many"},
    )
    assert bad.status_code == 400 and "The weight is a whole number" in bad.get_data(as_text=True)
    cycle = web.post(
        f"/console/inquiries/{sg.public_id}/staff/{team['alice'].public_id}",
        data={
            "csrf_token": csrf,
            "receives": "on",
            "weight": "1",
            "manager": team["dave"].public_id,
        },
    )
    assert cycle.status_code == 400 and "cannot report to" in cycle.get_data(as_text=True)
    other = groups.create_group(owner, owner_store(owner), "Elsewhere")
    wrong = web.post(
        f"/console/inquiries/{sg.public_id}",
        data={"csrf_token": csrf, "allocation": "on", "group": str(other.id)},
    )
    assert wrong.status_code == 400
    assert "Choose a staff group of this store" in wrong.get_data(as_text=True)


def test_r24_deleting_the_target_group_turns_allocation_off(owner, sg):
    group = groups.create_group(owner, sg, "Pre-sale")
    inquiries.set_store_rules(owner, sg, enabled=True, group_id=group.id)
    groups.delete_group(owner, group)
    db.session.expire_all()
    store = db.session.get(type(sg), sg.id)
    assert store.inquiry_group_id is None and store.inquiry_allocation is False


def owner_web(ctx) -> flow.Browser:
    web = flow.browser(ctx)
    assert flow.sign_in(web, "acme", PASSWORD).status_code == 302
    return web


def test_issue18_the_staff_page_shows_and_sets_the_team(ctx, owner, team, make):
    """Whom a member reports to, and who reports to them, on their staff page; set there through
    the same service as on a store's page: a cycle is refused with the same message."""
    web = owner_web(ctx)
    bob = f"/console/staff/{team['bob'].public_id}"
    page = web.get(bob).get_data(as_text=True)
    fields = flow.form_fields(page)
    selected = re.search(r'<option value="([^"]+)" selected>acme:alice</option>', page)
    assert selected and selected.group(1) == team["alice"].public_id
    assert re.search(r"Reporting to acme:bob:\s*acme:dave", page)
    assert "a team is company-wide" in page
    erin = make.staff(owner, "erin")  # in no store of bob's: still a choice, a team is company-wide
    assert erin.public_id in web.get(bob).get_data(as_text=True)

    cycle = web.post(
        f"{bob}/reports-to",
        data={"csrf_token": fields["csrf_token"], "manager": team["dave"].public_id},
    )
    assert cycle.status_code == 400
    assert "acme:bob cannot report to acme:dave" in unescape(cycle.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Account, team["bob"].id).manager_id == team["alice"].id

    moved = web.post(
        f"{bob}/reports-to",
        data={"csrf_token": fields["csrf_token"], "manager": erin.public_id},
    )
    assert moved.status_code == 302
    assert "acme:bob now reports to acme:erin." in web.get(bob).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Account, team["bob"].id).manager_id == erin.id
    stale = web.post(  # the version read before the move: another tab's change is kept
        f"{bob}/reports-to",
        data={"csrf_token": fields["csrf_token"], "team_version": fields["team_version"]},
    )
    assert stale.status_code == 409
    db.session.expire_all()
    assert db.session.get(Account, team["bob"].id).manager_id == erin.id
    cleared = web.post(f"{bob}/reports-to", data={"csrf_token": fields["csrf_token"]})
    assert cleared.status_code == 302
    assert "acme:bob reports to nobody now." in web.get(bob).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Account, team["bob"].id).manager_id is None


def test_r24_the_store_page_says_the_settings_follow_the_member_everywhere(ctx, sg, team):
    page = owner_web(ctx).get(f"/console/inquiries/{sg.public_id}").get_data(as_text=True)
    assert "a change here applies in every store they hold" in page
    assert "a team is company-wide" in page


def test_issue18_a_departed_manager_is_kept_by_a_save_on_the_store_page(ctx, owner, sg, team):
    """bob reports to alice, who departs: the store page still shows her as bob's manager, so
    saving bob's weight does not drop her unseen."""
    accounts.disable_sub_account(owner, team["alice"])
    web = owner_web(ctx)
    page = web.get(f"/console/inquiries/{sg.public_id}").get_data(as_text=True)
    assert f'<option value="{team["alice"].public_id}" selected>' in page
