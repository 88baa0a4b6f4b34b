"""Issue 15: the owner's staff and stores jobs in the console, through the real pages (forms with
their CSRF tokens), each result checked through the services or a token's claims: creating a
sub-account within the plan (R2, R3, R9), editing it (R18) without losing another tab's change,
disabling (R4, R5), handing it over (R4), batch store assignment (R11, all or nothing),
de-authorizing a store after a preview that matches what happens (R10), store operators (R12),
and who may open which console page (R6, tenants)."""

from __future__ import annotations

import re
from html import unescape

import pyotp
import pytest

from idp.extensions import db
from idp.models import Account, AuditEvent
from idp.oauth import clients
from idp.services import accounts, groups, roles, stores, totp
from tests import oidc_flow as flow
from tests.factories import PASSWORD

NEW_PASSWORD = "a fine first password"


@pytest.fixture
def shop(ctx, make):
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg", name="Acme SG")
    my = make.store(owner, "shopee-my", name="Acme MY")
    lz = make.store(owner, "lazada-sg", name="Acme LZ")
    alice = make.staff(owner, "alice", stores_=[sg, my], email="alice@acme.test")
    bob = make.staff(owner, "bob", stores_=[my])
    return type(
        "Shop", (), {"owner": owner, "sg": sg, "my": my, "lz": lz, "alice": alice, "bob": bob}
    )


def signed_in(app, login: str, password: str = PASSWORD) -> flow.Browser:
    web = flow.browser(app)
    assert flow.sign_in(web, login, password).status_code == 302
    return web


@pytest.fixture
def owner_web(ctx, shop):
    return signed_in(ctx, "acme")


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def fields(web, path: str) -> dict:
    page = web.get(path)
    assert page.status_code == 200, text(page)[:400]
    return flow.form_fields(page.get_data(as_text=True))


def error_of(response) -> str:
    found = re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True))
    assert found, text(response)[:600]
    return unescape(found.group(1))


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


def claims_of(ctx, login: str, password: str = PASSWORD) -> dict:
    rp = flow.register("Seller center")
    tokens = flow.token_set(flow.browser(ctx), rp, login=login, password=password)
    return flow.jwt_payload(tokens["access_token"])


# --- creating -----------------------------------------------------------------------------------


def test_r2_r9_create_a_sub_account_which_then_signs_in(ctx, owner_web, shop):
    form = fields(owner_web, "/console/staff/new")
    cs = roles.get_role(shop.owner, "Customer Service")
    created = owner_web.post(
        "/console/staff/new",
        data={
            **form,
            "name": "carol",
            "nickname": "Carol L.",
            "email": "carol@acme.test",
            "phone": "+65 8123 4567",
            "roles": [str(cs.id)],
            "stores": [shop.sg.public_id, shop.lz.public_id],
            "default_store": shop.lz.public_id,
            "password": NEW_PASSWORD,
        },
    )
    assert created.status_code == 302
    assert "acme:carol was created" in text(owner_web.get(flow.location(created)))
    carol = accounts.get_sub_account(shop.owner, "carol")
    assert carol.default_store_id == shop.lz.id  # the chosen default first (R9)
    assert [s.name for s in carol.stores] == ["Acme LZ", "Acme SG"]
    assert [r.name for r in carol.roles] == ["Customer Service"]
    assert carol.must_change_password  # the owner's password is replaced at first sign-in
    signed = flow.sign_in(flow.browser(ctx), "acme:carol", NEW_PASSWORD)
    assert flow.location(signed).startswith("/account/password")
    carol.must_change_password = False
    accounts.mark_verified(carol, "email")
    db.session.commit()
    claims = claims_of(ctx, "acme:carol", NEW_PASSWORD)
    assert claims["store"] == shop.lz.public_id and claims["roles"] == ["Customer Service"]


def test_an_empty_password_is_generated_and_shown_once(owner_web, shop):
    form = fields(owner_web, "/console/staff/new")
    shown = owner_web.post("/console/staff/new", data={**form, "name": "dan"})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    password = re.search(r'<pre id="password"[^>]*>([^<]+)</pre>', text(shown)).group(1)
    assert accounts.authenticate("acme:dan", password).must_change_password


def test_r2_a_full_company_is_refused_and_the_form_keeps_what_was_typed(owner_web, shop):
    shop.owner.company.sub_account_limit = 2  # alice and bob
    db.session.commit()
    page = text(owner_web.get("/console/staff"))
    assert "2 of 2 sub-accounts used" in page and "Your plan is full" in page
    form = fields(owner_web, "/console/staff/new")
    refused = owner_web.post(
        "/console/staff/new", data={**form, "name": "carol", "email": "carol@acme.test"}
    )
    assert refused.status_code == 409 and "Your plan allows 2 sub-accounts" in error_of(refused)
    assert 'value="carol"' in text(refused) and 'value="carol@acme.test"' in text(refused)
    assert accounts.list_staff(shop.owner, search="carol") == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({"name": "12345"}, "must not be all digits"),
        ({"name": "alice"}, "taken in your company"),
        ({"name": "erin", "email": "alice@acme.test"}, "already used by another account"),
        ({"name": "erin", "password": "short"}, "at least 8"),
        ({"name": "erin", "stores": ["st_nope"]}, "No such store"),
    ],
)
def test_r1_r3_refusals_say_why_and_write_nothing(owner_web, shop, typed, message):
    form = fields(owner_web, "/console/staff/new")
    before = db.session.query(Account).count()
    refused = owner_web.post("/console/staff/new", data={**form, **typed})
    assert refused.status_code in (400, 404, 409)
    assert message in error_of(refused)
    assert db.session.query(Account).count() == before


# --- editing, R18 -----------------------------------------------------------------------------


def test_r18_edit_roles_stores_and_default_store(ctx, owner_web, shop):
    path = f"/console/staff/{shop.alice.public_id}"
    form = fields(owner_web, path)
    ops = roles.get_role(shop.owner, "Operations")
    saved = owner_web.post(
        path,
        data={
            **form,
            "name": "alice",
            "nickname": "Ali",
            "email": "alice@acme.test",
            "roles": [str(ops.id)],
            "stores": [shop.my.public_id, shop.lz.public_id],
            "default_store": shop.lz.public_id,
        },
    )
    assert saved.status_code == 302
    assert "The changes to acme:alice were saved" in text(owner_web.get(path))
    alice = fresh(shop.alice)
    assert alice.nickname == "Ali" and [r.name for r in alice.roles] == ["Operations"]
    assert {s.name for s in alice.stores} == {"Acme MY", "Acme LZ"}
    assert alice.default_store_id == shop.lz.id
    entry = db.session.query(AuditEvent).filter_by(action="subaccount.updated").one()
    assert set(entry.details["changes"]) >= {"nickname", "roles", "stores", "default_store"}
    assert entry.request_id  # the request that made it
    claims = claims_of(ctx, "acme:alice")
    assert claims["store"] == shop.lz.public_id and shop.sg.public_id not in claims["stores"]


def test_two_tabs_editing_one_sub_account_never_overwrite_each_other(owner_web, shop, ctx):
    path = f"/console/staff/{shop.alice.public_id}"
    first_tab, second_tab = fields(owner_web, path), fields(owner_web, path)
    keep = {"name": "alice", "email": "alice@acme.test", "stores": [shop.sg.public_id]}
    assert owner_web.post(path, data={**first_tab, **keep, "nickname": "First"}).status_code == 302
    late = owner_web.post(path, data={**second_tab, **keep, "nickname": "Second"})
    assert late.status_code == 409
    assert "changed by someone else since you opened this page" in error_of(late)
    assert 'value="First"' in text(late)  # the current values, to start again from
    assert fresh(shop.alice).nickname == "First"  # nothing silently overwritten
    again = flow.form_fields(late.get_data(as_text=True))
    assert owner_web.post(path, data={**again, **keep, "nickname": "Second"}).status_code == 302
    assert fresh(shop.alice).nickname == "Second"


def test_a_version_that_is_no_version_is_answered_as_a_stale_one_never_a_500(owner_web, shop):
    """Found in review: a form's ``version`` of non-ASCII text made ``hmac.compare_digest`` raise
    (a 500) on every form that carries one. Whatever is sent that this service never gave is
    an edit conflict, the answer to a stale version, and nothing is written."""
    staff = f"/console/staff/{shop.alice.public_id}"
    store = f"/console/inquiries/{shop.sg.public_id}"
    forms = {
        staff: (staff, {"name": "alice", "stores": [shop.sg.public_id], "nickname": "Mallory"}),
        store: (store, {"allocation": "on"}),
        store + "/staff/bob": (store, {"receives": "on", "weight": "3"}),
        "/console/notifications/trade_dispute": ("/console/notifications", {"recipient": "main"}),
    }
    for bad in ("\u202e", "\u00e9" * 16, "0" * 15 + "\u00e9", "x" * 40, "DEADBEEFDEADBEEF"):
        for path, (page, typed) in forms.items():
            path = path.replace("/staff/bob", f"/staff/{shop.bob.public_id}")
            answer = owner_web.post(path, data={**fields(owner_web, page), **typed, "version": bad})
            assert answer.status_code == 409, (path, bad, answer.status_code)
    assert fresh(shop.alice).nickname != "Mallory"


# --- R4, R5: disabling, handing over ------------------------------------------------------------


def test_r5_disable_makes_the_staff_members_tokens_inactive_and_enable_lets_them_in(
    ctx, owner_web, shop
):
    rp = flow.register("Seller center")
    tokens = flow.token_set(flow.browser(ctx), rp, login="acme:alice", password=PASSWORD)
    path = f"/console/staff/{shop.alice.public_id}"
    disabled = owner_web.post(f"{path}/disable", data=fields(owner_web, path))
    assert disabled.status_code == 302
    assert "its tokens stopped working" in text(owner_web.get(path))
    assert flow.introspect(owner_web, rp, tokens["access_token"]) == {"active": False}
    assert flow.refresh(owner_web, rp, tokens["refresh_token"]).status_code == 400
    assert flow.sign_in(flow.browser(ctx), "acme:alice", PASSWORD).status_code == 403
    listed = text(owner_web.get("/console/staff?status=departed"))
    assert "acme:alice" in listed
    enabled = owner_web.post(f"{path}/enable", data=fields(owner_web, path))
    assert enabled.status_code == 302
    assert flow.sign_in(flow.browser(ctx), "acme:alice", PASSWORD).status_code == 302


def test_r4_hand_over_ends_everything_of_the_previous_holder(ctx, owner_web, shop):
    rp = flow.register("Seller center")
    old = flow.browser(ctx)
    tokens = flow.token_set(old, rp, login="acme:alice", password=PASSWORD)
    secret = pyotp.random_base32()
    totp.confirm_enrolment(shop.alice, secret, pyotp.TOTP(secret).now())
    accounts.disable_sub_account(shop.owner, fresh(shop.alice))
    path = f"/console/staff/{shop.alice.public_id}"
    form = fields(owner_web, f"{path}/hand-over")
    handed = owner_web.post(
        f"{path}/hand-over",
        data={**form, "name": "erin", "email": "erin@acme.test", "password": NEW_PASSWORD},
    )
    assert handed.status_code == 302
    assert "handed over" in text(owner_web.get(flow.location(handed)))
    erin = fresh(shop.alice)
    assert (erin.name, erin.email, erin.is_active, erin.must_change_password) == (
        "erin",
        "erin@acme.test",
        True,
        True,
    )
    assert not totp.is_enrolled(erin)  # the old authenticator is refused
    assert flow.refresh(owner_web, rp, tokens["refresh_token"]).status_code == 400
    assert old.get("/account/password").status_code == 302  # the old session is over
    assert flow.sign_in(flow.browser(ctx), "acme:erin", NEW_PASSWORD).status_code == 302
    entry = db.session.query(AuditEvent).filter_by(action="subaccount.handed_over").one()
    assert NEW_PASSWORD not in str(entry.details)


# --- R11: batch assignment ------------------------------------------------------------------------


def test_r11_batch_add_remove_and_reset_and_the_tokens_list_the_stores(ctx, owner_web, shop):
    form = fields(owner_web, "/console/staff")
    chosen = [shop.alice.public_id, shop.bob.public_id]
    added = owner_web.post(
        "/console/staff/assign",
        data={**form, "accounts": chosen, "stores": [shop.lz.public_id], "mode": "add"},
    )
    assert added.status_code == 302
    assert "acme:alice, acme:bob now hold Acme LZ" in text(owner_web.get("/console/staff"))
    assert shop.lz.public_id in claims_of(ctx, "acme:bob")["stores"]
    removed = owner_web.post(
        "/console/staff/assign",
        data={**form, "accounts": chosen, "stores": [shop.my.public_id], "mode": "remove"},
    )
    assert removed.status_code == 302
    assert [s.name for s in fresh(shop.bob).stores] == ["Acme LZ"]
    owner_web.post(
        "/console/staff/assign",
        data={**form, "accounts": chosen, "stores": [shop.sg.public_id], "mode": "reset"},
    )
    assert [s.name for s in fresh(shop.alice).stores] == ["Acme SG"]
    assert claims_of(ctx, "acme:bob")["stores"] == [shop.sg.public_id]


def test_r11_a_batch_that_fails_for_one_changes_nobody_and_names_who(owner_web, shop):
    form = fields(owner_web, "/console/staff")
    refused = owner_web.post(
        "/console/staff/assign",
        data={
            **form,
            "accounts": [shop.alice.public_id, "st_no_such_person"],
            "stores": [shop.lz.public_id],
            "mode": "add",
        },
    )
    assert refused.status_code == 404 and "No such sub-account" in error_of(refused)
    assert shop.alice.public_id in text(refused)  # the selection is kept
    assert shop.lz not in fresh(shop.alice).stores
    nobody = owner_web.post(
        "/console/staff/assign", data={**form, "stores": [shop.lz.public_id], "mode": "add"}
    )
    assert nobody.status_code == 400 and "Choose at least one sub-account" in error_of(nobody)


# --- R10: de-authorizing with a preview ---------------------------------------------------------


def test_r10_the_preview_matches_what_happens(owner_web, shop):
    stores.set_default_store(shop.owner, shop.alice, shop.my)
    path = f"/console/stores/{shop.my.public_id}/deauthorize"
    preview = owner_web.get(path)
    rows = dict(re.findall(r'<tr data-account="([^"]+)">(.*?)</tr>', text(preview), re.S))
    assert set(rows) == {"acme:alice", "acme:bob"}
    assert "Acme SG" in rows["acme:alice"] and "default moves" in rows["acme:alice"]
    assert "disabled: no store left" in rows["acme:bob"]
    done = owner_web.post(path, data=flow.form_fields(preview.get_data(as_text=True)))
    assert done.status_code == 302
    assert "taken from 2 staff, 1 disabled" in text(owner_web.get("/console/stores"))
    assert fresh(shop.alice).default_store_id == shop.sg.id  # as previewed
    assert not fresh(shop.bob).is_active  # as previewed
    assert owner_web.get(path).status_code == 409  # already de-authorized


def test_r12_store_operators(owner_web, shop):
    path = f"/console/stores/{shop.sg.public_id}/operators"
    form = fields(owner_web, path)
    refused = owner_web.post(
        path,
        data={**form, "mode": "by_store", "operators": [shop.alice.public_id, "main"]},
    )
    assert refused.status_code == 400 and "one operator" in error_of(refused)
    saved = owner_web.post(
        path,
        data={**form, "mode": "by_product", "operators": [shop.alice.public_id, "main"]},
    )
    assert saved.status_code == 302
    assert {a.login_name for a in stores.store_operators(shop.sg)} == {"acme", "acme:alice"}


# --- filters ------------------------------------------------------------------------------------


def test_staff_filters_by_role_store_group_muted_and_second_factor(make, owner_web, shop):
    cs = roles.get_role(shop.owner, "Customer Service")
    accounts.update_sub_account(shop.owner, shop.bob, roles=[cs.id])
    make.staff(shop.owner, "muted", stores_=[shop.lz], verified=False)
    presale = groups.create_group(shop.owner, shop.sg, "Pre-sale")
    groups.add_member(shop.owner, presale, shop.alice)

    def listed(query: str) -> set[str]:
        page = text(owner_web.get(f"/console/staff?{query}"))
        return set(re.findall(r"<strong>(acme:[a-z]+)</strong>", page))

    assert listed(f"role={cs.id}") == {"acme:bob"}
    assert listed(f"store={shop.lz.public_id}") == {"acme:muted"}
    assert listed(f"group={presale.id}") == {"acme:alice"}
    assert listed("muted=yes") == {"acme:muted"}
    assert listed("muted=no") == {"acme:alice", "acme:bob"}
    assert listed("tfa=yes") == set()
    assert listed("role=999999") == set()  # a role nobody holds
    assert listed("role=abc&tfa=maybe") == {"acme:alice", "acme:bob", "acme:muted"}  # ignored


# --- who may open which page ------------------------------------------------------------------


def console_rules(app) -> list:
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/console")]
    assert len(rules) >= 15  # staff, stores, roles, groups, company, audit, wallet: no empty walk
    return rules


def fill(rule, shop) -> str:
    """The rule with its variables filled: numbers for numeric ones, alice's id for the others."""
    path = re.sub(r"<int[:(][^>]+>", "1", rule.rule)
    return re.sub(r"<[^>]+>", shop.alice.public_id, path)


def test_r6_staff_and_signed_out_visitors_get_no_console_page(ctx, shop, make):
    staff = signed_in(ctx, "acme:alice")
    visitor = flow.browser(ctx)
    for rule in console_rules(ctx):
        path = fill(rule, shop)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = staff.open(path, method=method, data={"csrf_token": "x"})
            assert answer.status_code in (400, 403), (method, path, answer.status_code)
            if method == "GET":
                assert "Only the company's main account" in text(answer)
            away = visitor.open(path, method=method)
            assert away.status_code in (302, 400), (method, path, away.status_code)
            if away.status_code == 302:
                assert flow.location(away).startswith("/login")


def test_another_companys_owner_never_reaches_this_companys_staff_or_stores(ctx, shop, make):
    make.company("globex")
    other = signed_in(ctx, "globex")
    for path in (
        f"/console/staff/{shop.alice.public_id}",
        f"/console/staff/{shop.alice.public_id}/hand-over",
        f"/console/stores/{shop.sg.public_id}/deauthorize",
        f"/console/stores/{shop.sg.public_id}/operators",
    ):
        answer = other.get(path)
        assert answer.status_code == 404, path
        assert "acme" not in text(answer).replace("Seller ID", "")
    listed = text(other.get("/console/staff?status=all"))
    assert "acme:" not in listed and "Acme SG" not in text(other.get("/console/stores"))
    assert clients  # noqa: B018  (the module is used by the claims helper's registry)


def test_console_numbers_in_unicode_digits_are_no_ids_never_a_500(owner_web, shop):
    """Only ASCII digits make an id, of a row id's size. "²" is a digit to str.isdigit() that
    int() refuses, "١٢" one it reads as 12, and a number past 2**31 - 1 is one PostgreSQL will
    not compare with an id: a filter, a role, an audit cursor or an inquiry group written with
    them is ignored or refused, never a 500 (found in review)."""
    for n, digits in enumerate(("\u00b2", "\u0661\u0662", "9" * 20, str(2**31))):
        assert owner_web.get(f"/console/staff?group={digits}&role={digits}").status_code == 200
        assert owner_web.get(f"/console/audit?before={digits}").status_code == 200
        form = fields(owner_web, "/console/staff/new")
        made = owner_web.post(
            "/console/staff/new",
            data={**form, "name": f"carol{n}", "roles": [digits], "stores": [shop.sg.public_id],
                  "password": NEW_PASSWORD},
        )  # fmt: skip
        assert made.status_code in (302, 400), error_of(made)
        path = f"/console/inquiries/{shop.sg.public_id}"
        answer = owner_web.post(path, data={**fields(owner_web, path), "group": digits})
        assert answer.status_code in (302, 400, 409), error_of(answer)
