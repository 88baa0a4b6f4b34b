"""Issue 15, the owner console's Company page and Audit log.

Company: R19, requiring a second factor of all staff sends a staff member without one to enrol
at the next sign-in; R2, the plan and its quota are shown (departed staff count) and only the
operators raise it; the company's language and time zone are saved, or refused with the form
keeping what was typed. Audit log: filters by actor, target, kind and days (of the viewer's time
zone), keyset paging over more than a page, tenant isolation, the CSV and JSON Lines exports
(formula cells neutralized, Chinese names intact), streamed in constant memory over 100,000
entries; and a browser journey that filters the log and downloads the CSV."""

from __future__ import annotations

import contextvars
import csv
import gc
import io
import json
import re
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from html import unescape
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, text, update

from idp.extensions import db
from idp.models import Account, AuditEvent, Company
from idp.services import accounts, audit, companies, groups, roles
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.live import _live_provider, live_app, live_server  # noqa: F401  (fixtures)

pytest_plugins = ["tests.browser"]  # browser, page: Chromium through Playwright

NEW_PASSWORD = "a brand new secret"
FORMULA = '=HYPERLINK("https://evil.example","open")'


# --- the world --------------------------------------------------------------------------------


@pytest.fixture
def w(ctx, make):
    """acme: stores "Acme SG" and a store whose name is a spreadsheet formula, alice and bob,
    a role, a limit set by an operator; beside it globex, with a group (a kind acme never has)
    and an alice of its own."""
    owner = make.company("acme")
    sg = make.store(owner, "shopee-sg", name="Acme SG")
    formula = make.store(owner, "lazada-sg", name=FORMULA)
    alice = make.staff(owner, "alice", stores_=[sg])  # subaccount.created; acme:alice verifies
    bob = make.staff(owner, "bob", stores_=[sg])
    roles.create_role(owner, "Night shift", ["chat:read"])
    with audit.operator("cli:root"):
        companies.set_sub_account_limit(owner.company, 120)
    other = make.company("globex")
    other_sg = make.store(other, "shopee-sg", name="Globex SG")
    other_alice = make.staff(other, "alice", stores_=[other_sg])
    groups.create_group(other, other_sg, "Pre-sale")
    return SimpleNamespace(
        owner=owner,
        sg=sg,
        formula=formula,
        alice=alice,
        bob=bob,
        other=other,
        other_alice=other_alice,
    )


def signed_in(app, login: str) -> flow.Browser:
    web = flow.browser(app)
    response = flow.sign_in(web, login, PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return web


@pytest.fixture
def owner_web(ctx, w) -> flow.Browser:
    return signed_in(ctx, "acme")


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def csrf(web, page: str = "/console/company") -> str:
    return flow.form_fields(web.get(page).get_data(as_text=True))["csrf_token"]


def fresh_company(account: Account) -> Company:
    db.session.expire_all()
    return db.session.get(Company, account.company_id)


def entries(company_id: int, action: str | None = None) -> list[AuditEvent]:
    db.session.expire_all()
    query = db.session.query(AuditEvent).filter_by(company_id=company_id)
    if action:
        query = query.filter_by(action=action)
    return query.order_by(AuditEvent.id.desc()).all()


def jsonl(web, **filters) -> list[dict]:
    response = web.get(f"/console/audit.jsonl?{urlencode(filters)}")
    assert response.status_code == 200, response.status_code
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


# --- the company page -------------------------------------------------------------------------


def test_r2_company_page_shows_the_plan_the_quota_and_how_to_get_more(ctx, make):
    owner = make.company("tiny", limit=companies.PLAN_LIMITS["basic"])
    make.staff(owner, "alice")
    accounts.disable_sub_account(owner, make.staff(owner, "bob"))
    page = text_of(signed_in(ctx, "tiny").get("/console/company"))
    assert "Basic: up to 5 sub-accounts" in page
    assert "2 of 5" in page
    assert "1 departed sub-account, counted in the limit" in page
    assert "idp company set-limit tiny 99" in page  # what to ask the operators for
    assert "limit" not in " ".join(re.findall(r'name="([^"]+)"', page))  # nothing to raise it


def test_r2_the_owner_cannot_raise_its_own_limit(owner_web, w):
    """No route of the console changes the limit: posting one anywhere changes nothing."""
    token = csrf(owner_web)
    for path in ("/console/company", "/console/company/preferences"):
        owner_web.post(path, data={"csrf_token": token, "sub_account_limit": "9999"})
    assert fresh_company(w.owner).sub_account_limit == 120


def test_r19_requiring_a_second_factor_sends_staff_to_enrol_at_next_sign_in(ctx, owner_web, w):
    before = text_of(owner_web.get("/console/company"))
    assert "Not required" in before and "2 staff members have no second factor today." in before

    answer = owner_web.post(
        "/console/company/second-factor", data={"csrf_token": csrf(owner_web), "required": "on"}
    )
    assert answer.status_code == 302 and flow.location(answer) == "/console/company"
    shown = text_of(owner_web.get("/console/company"))
    assert "asked to turn it on at their next sign-in" in shown
    assert "2 staff members have not turned it on yet." in shown
    assert fresh_company(w.owner).require_totp is True
    assert entries(w.owner.company_id, "company.totp_required")[0].details == {"required": True}

    bob = flow.browser(ctx)
    signing_in = flow.sign_in(bob, "acme:bob", PASSWORD)
    assert flow.location(signing_in) == "/login/2fa"
    assert flow.location(bob.get("/login/2fa")) == "/login/2fa/enrol"
    assert flow.sso_cookie(bob) is None

    owner_web.post(
        "/console/company/second-factor", data={"csrf_token": csrf(owner_web), "required": "off"}
    )
    assert fresh_company(w.owner).require_totp is False
    again = flow.browser(ctx)
    assert flow.location(flow.sign_in(again, "acme:bob", PASSWORD)) == "/"


def test_company_language_and_zone_are_saved_and_audited(owner_web, w):
    answer = owner_web.post(
        "/console/company/preferences",
        data={"csrf_token": csrf(owner_web), "language": "zh_Hans", "timezone": ""},
    )
    assert answer.status_code == 302
    company = fresh_company(w.owner)
    assert (company.language, company.timezone) == ("zh_Hans", None)
    page = owner_web.get("/console/company").get_data(as_text=True)
    assert "(UTC+08:00)" in page  # the Chinese default zone, now the company's

    owner_web.post(
        "/console/company/preferences",
        data={"csrf_token": csrf(owner_web), "language": "en", "timezone": " Asia/Singapore "},
    )
    company = fresh_company(w.owner)
    assert (company.language, company.timezone) == ("en", "Asia/Singapore")
    changed = entries(w.owner.company_id, "company.preferences_changed")
    assert [e.details for e in changed] == [
        {
            "before": {"language": "zh_Hans", "timezone": None},
            "after": {"language": "en", "timezone": "Asia/Singapore"},
        },
        {
            "before": {"language": "en", "timezone": None},
            "after": {"language": "zh_Hans", "timezone": None},
        },
    ]
    assert changed[0].actor == "acme" and changed[0].request_id  # made through a request


@pytest.mark.parametrize(
    ("language", "timezone", "message"),
    [
        ("en", "Mars/Olympus_Mons", "'Mars/Olympus_Mons' is not a time zone"),
        ("tlh", "Asia/Tokyo", "Choose one of the languages offered"),
        ("", "Asia/Tokyo", "Choose one of the languages offered"),
    ],
)
def test_invalid_language_or_zone_is_refused_and_the_form_keeps_what_was_typed(
    owner_web, w, language, timezone, message
):
    answer = owner_web.post(
        "/console/company/preferences",
        data={"csrf_token": csrf(owner_web), "language": language, "timezone": timezone},
    )
    page = text_of(answer)
    assert answer.status_code == 400 and message in page
    assert f'value="{timezone}"' in page
    company = fresh_company(w.owner)
    assert (company.language, company.timezone) == ("en", None)
    assert entries(w.owner.company_id, "company.preferences_changed") == []


def test_set_company_preferences_is_the_owners_alone(w):
    with pytest.raises(Exception, match="main account"):
        companies.set_company_preferences(w.alice, language="en", timezone="UTC")


# --- the audit log: who may read it -----------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/console/audit", "/console/audit.csv", "/console/audit.jsonl", "/console/company"]
)
def test_r6_a_sub_account_gets_403(ctx, w, path):
    assert signed_in(ctx, "acme:alice").get(path).status_code == 403


def test_another_companys_owner_never_sees_these_entries(ctx, w):
    globex = signed_in(ctx, "globex")
    page = text_of(globex.get("/console/audit"))
    assert "Pre-sale" in page and "Acme SG" not in page and "cli:root" not in page
    exported = jsonl(globex)
    assert exported and {e["actor"] for e in exported} <= {"globex", "globex:alice", "system"}
    for target in (w.alice.public_id, "Acme SG", "acme:alice", w.owner.company.public_id):
        assert jsonl(globex, target=target) == []
    assert jsonl(globex, actor="acme") == []
    csv_text = globex.get("/console/audit.csv").get_data(as_text=True)
    assert "acme" not in csv_text and "Acme SG" not in csv_text


# --- filters ----------------------------------------------------------------------------------


def test_filter_by_actor_as_recorded_by_account_or_operators(owner_web, w):
    by_alice = jsonl(owner_web, actor="acme:alice")
    assert by_alice and {e["actor"] for e in by_alice} == {"acme:alice"}
    assert "account.verified" in {e["action"] for e in by_alice}
    assert jsonl(owner_web, actor="ACME：Alice") == by_alice  # R1: as a login name is typed
    assert jsonl(owner_web, actor="alice") == by_alice
    operators = jsonl(owner_web, actor="cli:")
    assert [(e["actor"], e["action"]) for e in operators] == [("cli:root", "company.limit_changed")]
    assert jsonl(owner_web, actor="cli:root") == operators
    assert jsonl(owner_web, actor="nobody") == []


def test_filter_by_target_id_login_name_or_store_name(owner_web, w):
    about_alice = jsonl(owner_web, target="acme:alice")
    assert {e["action"] for e in about_alice} == {"subaccount.created", "account.verified"}
    assert {e["target_name"] for e in about_alice} == {"acme:alice"}
    assert jsonl(owner_web, target=w.alice.public_id) == about_alice
    store = jsonl(owner_web, target="acme sg")
    assert [(e["action"], e["target_id"]) for e in store] == [("store.authorized", w.sg.public_id)]
    about_company = [e["action"] for e in jsonl(owner_web, target="acme")]
    assert about_company == ["company.limit_changed", "company.created"]


def test_filter_by_kind_and_the_kinds_offered_are_the_companys(owner_web, w):
    authorized = jsonl(owner_web, action="store.authorized")
    assert [e["target_name"] for e in authorized] == [FORMULA, "Acme SG"]
    page = owner_web.get("/console/audit?action=store.authorized").get_data(as_text=True)
    assert '<option value="store.authorized" selected>Store authorized</option>' in page
    assert 'value="role.created"' in page
    assert 'value="group.created"' not in page  # globex's kind, never acme's
    assert page.count("<tr>") == 1 + 2


def test_filter_by_days_of_the_viewers_time_zone(owner_web, w):
    """acme speaks Chinese, so its days run in UTC+8: 2026-03-01T17:30Z is on March 2nd."""
    companies.set_company_preferences(w.owner, language="zh_Hans", timezone="")
    moments = {
        "role.created": datetime(2026, 3, 1, 17, 30, tzinfo=UTC),  # 03-02 01:30 in Shanghai
        "company.limit_changed": datetime(2026, 3, 1, 15, 0, tzinfo=UTC),  # 03-01 23:00
    }
    for action, moment in moments.items():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.company_id == w.owner.company_id, AuditEvent.action == action)
            .values(created_at=moment)
        )
    db.session.commit()

    def kinds(**days):
        return [e["action"] for e in jsonl(owner_web, **days)]

    assert kinds(since="2026-03-02", until="2026-03-02") == ["role.created"]
    assert kinds(since="2026-03-01", until="2026-03-01") == ["company.limit_changed"]
    assert kinds(until="2026-03-02") == ["company.limit_changed", "role.created"]
    assert "role.created" not in kinds(since="2026-03-03")
    assert kinds(since="2026-03-03", until="2026-03-02") == []
    page = owner_web.get("/console/audit?since=2026-03-02&until=2026-03-02").get_data(as_text=True)
    assert 'value="2026-03-02"' in page and "Asia/Shanghai" in page


def test_hostile_query_strings_are_ignored_not_errors(owner_web, w):
    for query in (
        "before=99999999999999999&since=0001-01-01&until=9999-12-31",
        "actor=%00%00&target=%00&action=" + "A" * 5000,
        "before=-1&since=2026-02-30&until=yesterday",
        "target=" + "中" * 500 + "&actor=cli",
    ):
        for path in ("/console/audit", "/console/audit.csv", "/console/audit.jsonl"):
            status = owner_web.get(f"{path}?{query}").status_code
            assert status == (400 if "%00" in query else 200), (path, query)  # NUL: the app's


# --- the page ---------------------------------------------------------------------------------


def test_each_row_says_when_who_what_with_before_after_and_the_request(owner_web, w):
    answer = owner_web.post(
        "/console/company/preferences",
        data={"csrf_token": csrf(owner_web), "language": "en", "timezone": "Asia/Tokyo"},
    )
    request_id = answer.headers["X-Request-ID"]
    page = text_of(owner_web.get("/console/audit?action=company.preferences_changed"))
    assert "Company language or time zone changed" in page
    assert "Time zone: — → Asia/Tokyo" in page
    assert f"Request {request_id}" in page
    assert "(UTC+09:00)" in page  # |when, in the viewer's (now the company's) zone
    limit = text_of(owner_web.get("/console/audit?actor=cli:"))
    assert "Sub-account limit changed by the operators" in limit and "99 → 120" in limit


def bulk_insert(rows, chunk: int = 10_000) -> None:
    """Core executemany, ``chunk`` rows a statement: fast on SQLite and PostgreSQL alike."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == chunk:
            db.session.execute(insert(AuditEvent), batch)
            batch = []
    if batch:
        db.session.execute(insert(AuditEvent), batch)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # as autovacuum soon would: fresh statistics
        db.session.execute(text("ANALYZE audit_events"))
        db.session.commit()


def entry(company_id: int, n: int, *, action: str = "test.bulk", **extra) -> dict:
    return {
        "company_id": company_id,
        "actor_id": None,
        "actor": "acme",
        "action": action,
        "target_type": None,
        "target_id": None,
        "details": {"n": n},
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        "request_id": f"page-{n}",
        **extra,
    }


def test_paging_by_cursor_across_more_than_fifty_entries(owner_web, w):
    acme, globex = w.owner.company_id, w.other.company_id
    bulk_insert(
        row
        for n in range(120)
        for row in (entry(acme, n), entry(globex, n, request_id=f"globex-{n}"))
    )

    def shown(url: str):
        page = owner_web.get(url).get_data(as_text=True)
        numbers = [int(n) for n in re.findall(r"Request page-(\d+)", page)]
        assert "globex-" not in page
        links = dict(
            (text, unescape(href))
            for href, text in re.findall(
                r'<a class="button secondary" href="([^"]+)">(\w+)</a>', page
            )
            if text in ("Newer", "Older")
        )
        return numbers, links

    first, links = shown("/console/audit?action=test.bulk")
    assert first == list(range(119, 69, -1)) and set(links) == {"Older"}
    assert "before=" in links["Older"] and "action=test.bulk" in links["Older"]
    second, links2 = shown(links["Older"])
    assert second == list(range(69, 19, -1)) and set(links2) == {"Older", "Newer"}
    third, links3 = shown(links2["Older"])
    assert third == list(range(19, -1, -1)) and set(links3) == {"Newer"}
    back, _ = shown(links3["Newer"])
    assert back == second
    assert shown(links2["Newer"])[0] == first
    assert "before" not in parse_qs(urlsplit(links2["Newer"]).query)  # newest: the first page


# --- exports ----------------------------------------------------------------------------------


def test_csv_export_with_filters_neutralizes_formulas(owner_web, w):
    response = owner_web.get("/console/audit.csv?action=store.authorized")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="audit-co_\w+-\d{8}-\d{6}\.csv"', disposition)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte order mark, for Excel
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r["target_name"] for r in rows] == ["'" + FORMULA, "Acme SG"]
    assert {r["what"] for r in rows} == {"Store authorized"}
    assert json.loads(rows[0]["details"])["name"] == FORMULA  # JSON starts with "{": harmless
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time_utc"]) for r in rows)
    assert list(rows[0]) == list(audit.CSV_COLUMNS)


def test_jsonl_export_with_filters(owner_web, w):
    response = owner_web.get("/console/audit.jsonl?actor=acme&action=subaccount.created")
    assert response.headers["Content-Disposition"].endswith('.jsonl"')
    lines = response.get_data(as_text=True).splitlines()
    found = [json.loads(line) for line in lines]
    assert [(e["actor"], e["target_name"]) for e in found] == [
        ("acme", "acme:bob"),
        ("acme", "acme:alice"),
    ]
    assert found[0]["details"] == {"name": "bob", "roles": [], "stores": [w.sg.public_id]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found[0]["time"])
    assert set(found[0]) == {
        "id",
        "time",
        "actor",
        "action",
        "target_type",
        "target_id",
        "target_name",
        "details",
        "request_id",
    }


def test_exports_keep_chinese_names_and_hold_no_secret(ctx, make):
    owner = make.company("淘宝")
    shop = make.store(owner, "taobao-cn", name="淘宝旗舰店")
    xiaobao = make.staff(owner, "小宝", stores_=[shop], email="xb@example.test")
    accounts.reset_sub_account_password(owner, xiaobao, NEW_PASSWORD)
    accounts.update_sub_account(owner, xiaobao, password=NEW_PASSWORD + "!", nickname="宝宝")
    web = signed_in(ctx, "淘宝")
    body = web.get("/console/audit.csv").get_data()
    text = body.decode("utf-8-sig")
    assert "淘宝:小宝" in text and "淘宝旗舰店" in text and "宝宝" in text
    raw = web.get("/console/audit.jsonl").get_data()
    assert "淘宝:小宝".encode() in raw and b"\\u" not in raw  # UTF-8, not escapes
    for exported in (body, raw):
        assert NEW_PASSWORD.encode() not in exported
        assert b"argon2" not in exported


# --- streaming in constant memory ---------------------------------------------------------------

ENTRIES = 100_000
MB = 1024 * 1024


def consume(web: FlaskClient, path: str) -> tuple[int, int]:
    """Download ``path`` as a server would send it, chunk by chunk, keeping nothing: (bytes,
    lines). The request runs in a context of its own (as ``oidc_flow.Browser`` does), so the
    test's application context and session are not the request's."""

    def run():
        response = FlaskClient.open(web, path, buffered=False)
        assert response.status_code == 200
        assert not response.is_sequence  # a generator, not a body already in memory
        size = lines = 0
        try:
            for chunk in response.response:
                data = chunk.encode() if isinstance(chunk, str) else chunk
                size += len(data)
                lines += data.count(b"\n")
        finally:
            response.close()
        return size, lines

    return contextvars.Context().run(run)


def peak_of(work) -> tuple[int, object]:
    """Peak traced memory of ``work()`` above what was allocated before it, and its result."""
    gc.collect()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    result = work()
    return tracemalloc.get_traced_memory()[1] - baseline, result


def test_exports_stream_100k_entries_in_constant_memory(ctx, w, capsys):
    acme = w.owner.company_id
    started = time.perf_counter()
    bulk_insert(
        entry(
            acme,
            n,
            action=("subaccount.created", "subaccount.enabled", "account.verified")[n % 3],
            target_type="account",
            target_id=w.alice.public_id,
            details={"name": f"店员{n}"},
        )
        for n in range(ENTRIES)
    )
    inserted = time.perf_counter() - started
    total = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.company_id == acme)
    )
    assert total > ENTRIES
    web = signed_in(ctx, "acme")
    consume(web, "/console/audit.csv?action=role.created")  # warm caches up (babel, queries)

    jsonl_size, jsonl_lines = consume(web, "/console/audit.jsonl")
    tracemalloc.start()
    try:
        export_peak, (csv_size, csv_lines) = peak_of(lambda: consume(web, "/console/audit.csv"))

        def load_all():
            db.session.expire_all()
            rows = db.session.query(AuditEvent).filter_by(company_id=acme).all()
            count = len(rows)
            db.session.expunge_all()
            return count

        naive_peak, loaded = peak_of(load_all)
    finally:
        tracemalloc.stop()

    assert csv_lines == total + 1  # the header, then every entry
    assert jsonl_lines == loaded == total
    assert min(csv_size, jsonl_size) > 10 * MB  # far more than the export held at any moment
    with capsys.disabled():
        print(
            f"\n[{db.engine.dialect.name}] {total} entries inserted in {inserted:.1f}s; peak "
            f"memory of the CSV export {export_peak / MB:.1f} MB (it wrote {csv_size / MB:.1f} "
            f"MB), of loading every entry with the ORM {naive_peak / MB:.1f} MB"
        )
    assert export_peak < 20 * MB
    assert export_peak * 10 < naive_peak


# --- a browser journey --------------------------------------------------------------------------


def test_owner_filters_the_log_and_downloads_the_filtered_csv(page, live_server, w):  # noqa: F811
    page.goto(f"{live_server}/login?next=/console/audit")
    page.fill("input[name=login]", "acme")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/audit")
    assert "Audit log of acme" in page.inner_text("h1")

    page.fill("input[name=target]", "acme:alice")
    page.select_option("select[name=action]", "subaccount.created")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*action=subaccount\.created.*"))
    rows = page.locator("table.audit-table tbody tr")
    assert rows.count() == 1 and "Sub-account created" in rows.first.inner_text()
    assert page.input_value("input[name=target]") == "acme:alice"

    with page.expect_download() as info:
        page.click("text=Export CSV")
    download = info.value
    assert re.fullmatch(r"audit-co_\w+-\d{8}-\d{6}\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8-sig", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [(r["action"], r["target_name"], r["actor"]) for r in exported] == [
        ("subaccount.created", "acme:alice", "acme")
    ]
