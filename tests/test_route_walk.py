"""Issue 12's route walk: every route of the app, every method, as every kind of visitor, with no
input and with hostile input. No answer may be a 5xx (or an exception out of the app), a form
POSTed without its CSRF token must be refused with a 4xx, and no 2xx answer may show a visitor
another company's data.

The routes are not listed here: they are read from ``app.url_map`` (every rule, every method it
allows, plus one it does not) and from ``idp.web.direct.ROUTES`` (the machine endpoints answered
in front of Flask), so a new route is walked as soon as it exists. The parameter names tried on a
route are read from the source of the module that defines its view (``request.args/form/values``
reads, the form and JSON helpers), plus a small table of the parameters Authlib reads for us.

Visitors (one test each):

- ``signed_out``: no SSO cookie, no token;
- ``staff``: a sub-account of quokkatrade, signed in through the real /login form (SSO cookie)
  and carrying a Bearer access token of its own;
- ``owner``: quokkatrade's main account, likewise;
- ``other_owner`` / ``other_staff``: otterlogistics' main account and a sub-account of it.

Each visitor sends, on each (route, method, URL-variable value): nothing; the CSRF token alone;
hostile query strings and forms (one known parameter hostile at a time, the others plausible,
then everything hostile: overlong, non-ASCII, quotes, backslashes, tabs, control characters,
invalid percent-encoding, raw invalid UTF-8 bytes); JSON bodies of the wrong shape; and the
same form without its CSRF token. URL variables are filled with plausible values (a staff
member's name and public id, a well-formed link token) and hostile ones.

Failures are collected over the whole walk, deduplicated, and reported together with the
exception and frame the app logged (a 5xx's traceback), so one run shows everything it found.
Set ``IDP_WALK_REPORT=/some/file.json`` to also get them as JSON."""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import random
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus, urlencode

import pytest

from idp.extensions import csrf as csrf_protect
from idp.extensions import db
from idp.models import Account, Client, Company, SsoSession, Store
from idp.oauth import clients
from idp.services import accounts, api_clients, companies, stores
from idp.web import direct
from tests import oidc_flow as flow
from tests.factories import PASSWORD

VISITORS = ["signed_out", "staff", "owner", "other_owner", "other_staff"]

# The walk must reach at least this many Flask rules and every machine endpoint: an empty or
# broken enumeration cannot pass.
MIN_FLASK_RULES = 35

TOKEN_EXCHANGE = clients.TOKEN_EXCHANGE
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
LOGOUT_URI = "https://app.example/bye"
MAX_LOCATION = 8 * 1024  # no redirect may carry more (servers and browsers cut long URLs)

# --- hostile input -----------------------------------------------------------------------------

HOSTILE = [
    "A" * 5000,
    "é中文🙂Ωß ña",
    '"',
    "\\",
    "\t",
    "'\"\\\t\r\n;--",
    "\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u2028\u2029",
    "%zz%C3%28%",  # a literal percent sign: percent-encoded once more on the way
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "../../../etc/passwd",
    "{{7*7}}${7*7}#{7*7}",
    " ",
    "-1",
    "99999999999999999999999999",
    "\x00",
    "\ufffd\ufeff\u202e",
    "x" * 70_000,
]
# Appended raw to a query string / a form body: percent-escapes that decode to invalid UTF-8,
# broken escapes, a bare key.
RAW_QUERY = "%FF%FE=%C3%28&next=%ZZ&state=%E0%A4%A&x=%&%C0%AF&login=%ED%A0%80&="
RAW_BYTES_QUERY = b"next=/\xff\xfe&state=\xc3\x28&\xed\xa0\x80=1"
RAW_BODY = b"%FF=%C0%AF&login=\xff\xfe\xfd&password=%&next=\xc3\x28&%ZZ=1&=&&"
JSON_BODIES = [
    b"[]",
    b'"a string"',
    b"1e999",
    b"null",
    b'{"password": 123, "store": ["x"], "current_password": {"a": 1}, "new_password": null}',
    b"{",
    b'{"password": "\\ud800", "store": "\\udfff"}',
    b"[" * 5000,
    b'{"new_password": "' + b"x" * 5000 + b'", "totp_code": true}',
    b"\xff\xfe{}",
]

# Parameters read by Authlib or the machine endpoints rather than by our view code.
KNOWN_PARAMS = {
    "oauth.authorize": [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "login_hint",
        "ui_locales",
        "store",
        "claims",
        "decision",
        "response_mode",
        "display",
    ],
    "/oauth/token": [
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "subject_token",
        "subject_token_type",
        "store",
        "client_id",
        "client_secret",
        "requested_token_type",
        "audience",
        "resource",
    ],
    "/oauth/introspect": ["token", "token_type_hint", "client_id", "client_secret"],
    "/oauth/revoke": ["token", "token_type_hint", "client_id", "client_secret"],
    "/oauth/userinfo": ["access_token", "claims"],
    "/oauth/jwks": ["kid"],
}
EXTRA_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

_PARAM_PATTERNS = [
    r"(?:args|form|values|body|data)\.get\(\s*\"([A-Za-z_]+)\"",
    r"(?:args|form|values)\[\"([A-Za-z_]+)\"\]",
    r"_(?:field|password)\(\"([A-Za-z_]+)\"\)",
    r"_text\(\s*body,\s*\"([A-Za-z_]+)\"",
]


def params_read_by(view) -> list[str]:
    """The parameter names a view reads: in its own source and in that of the functions of its
    module it calls (transitively), and in its blueprint's ``before_request`` hooks."""
    module = sys.modules[view.__module__]
    seen: set[str] = set()
    sources = []
    todo = [view]
    while todo:
        func = todo.pop()
        if func.__name__ in seen:
            continue
        seen.add(func.__name__)
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            continue
        sources.append(source)
        for called in re.findall(r"\b([A-Za-z_]\w*)\(", source):
            target = getattr(module, called, None)
            if inspect.isfunction(target) and target.__module__ == module.__name__:
                todo.append(target)
    names: set[str] = set()
    for pattern in _PARAM_PATTERNS:
        for source in sources:
            names.update(re.findall(pattern, source))
    return sorted(names)


def _hook_params(app, endpoint: str) -> set[str]:
    blueprint = endpoint.rpartition(".")[0]
    names: set[str] = set()
    for hook in app.before_request_funcs.get(blueprint, []) if blueprint else []:
        names.update(params_read_by(hook))
    return names


# --- the two companies -------------------------------------------------------------------------


@dataclass
class Tenant:
    company: str
    owner: Account
    staff: Account  # signs in as the staff visitor
    bystander: Account  # the target of the owner's staff actions
    store: Store
    markers: list[str]  # text that only this company's data holds
    api_client_id: str  # its own API client (issue 16)


def _tenant(company: str, letter: str, staff_name: str, bystander: str, store_name: str) -> Tenant:
    owner = companies.create_company(
        company, email=f"{company}-owner-hidden@tenant-{letter}.example", password=PASSWORD
    )
    store = stores.authorize_store(
        owner, "shopee-sg", f"{letter.upper()}X77{letter}0011", store_name
    )
    made = []
    for name in (staff_name, bystander):
        account = accounts.create_sub_account(
            owner,
            name=name,
            password=PASSWORD,
            email=f"{name}-hidden@tenant-{letter}.example",
            roles=[],
            stores=[store],
        )
        accounts.mark_verified(account, "email")
        made.append(account)
    db.session.commit()
    api_client, _ = api_clients.create(owner, f"{company} hidden robot")  # issue 16
    markers = [
        company,
        api_client.name,
        api_client.client_id,
        owner.email,
        store_name,
        store.external_id,
        store.public_id,
        owner.public_id,
        *(a.name for a in made),
        *(a.email for a in made),
        *(a.public_id for a in made),
    ]
    return Tenant(
        company, owner, made[0], made[1], store, [m.lower() for m in markers], api_client.client_id
    )


@dataclass
class World:
    a: Tenant
    b: Tenant
    rp: flow.RP  # confidential, first party, every grant
    public: flow.RP  # public client


@pytest.fixture
def world(ctx) -> World:
    a = _tenant("quokkatrade", "a", "walda", "brunhild", "Quokka Hidden Emporium")
    b = _tenant("otterlogistics", "b", "mallory", "zebedee", "Otter Private Depot")
    rp = flow.register(
        "Walk app",
        grant_types=clients.GRANTS,
        post_logout_redirect_uris=[LOGOUT_URI],
        scope="openid profile email phone offline_access",
    )
    public = flow.register("Walk public app", client_type="public")
    return World(a, b, rp, public)


# --- visitors ----------------------------------------------------------------------------------


@dataclass
class Visitor:
    kind: str
    app: object
    world: World
    login: str | None
    own: Tenant | None
    foreign_markers: list[str]
    web: flow.Browser = None
    csrf: str = ""
    tokens: dict = field(default_factory=dict)
    verifier: str = ""
    sign_ins: int = 0

    def start(self) -> None:
        self.web = flow.browser(self.app)
        if self.login:
            self.sign_in()
        self.refresh_csrf()

    def sign_in(self) -> None:
        self.web.environ_base["REMOTE_ADDR"] = flow.browser(self.app).environ_base["REMOTE_ADDR"]
        response = flow.sign_in(self.web, self.login, PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        assert flow.sso_cookie(self.web), "no SSO cookie after signing in"
        self.sign_ins += 1
        self.tokens = flow.token_set(self.web, self.world.rp)
        self.verifier, _ = flow.pkce()

    def ensure(self) -> None:
        """Signed in again when a request of the walk signed this visitor out."""
        if self.login and not flow.sso_cookie(self.web):
            self.sign_in()

    def refresh_csrf(self) -> None:
        fields = flow.form_fields(self.web.get("/login").get_data(as_text=True))
        self.csrf = fields["csrf_token"]

    @property
    def own_names(self) -> list[str]:
        return [self.own.staff.name, self.own.bystander.name] if self.own else []

    def plausible(self) -> dict[str, list[str]]:
        w = self.world
        foreign = w.b if self.own is w.a else w.a
        access = self.tokens.get("access_token", "")
        refresh = self.tokens.get("refresh_token", "")
        id_token = self.tokens.get("id_token", "")
        _, challenge = flow.pkce()
        own_store = self.own.store.public_id if self.own else "st_unknown"
        return {
            "next": ["/", "/console/staff", "https://evil.example/", "//evil.example", "/\\evil"],
            "login": [f"{foreign.company}:{foreign.bystander.name}", "nobody-here:ghost"],
            "login_hint": [f"{foreign.company}:{foreign.staff.name}"],
            "password": ["wrong password 123"],
            "current_password": ["wrong password 123"],
            "new_password": ["Another good passphrase 1"],
            "confirm_password": ["Another good passphrase 1", "differs"],
            "totp_code": ["000000"],
            "code": ["123456", "ABCD-EFGH"],
            "channel": ["email", "sms"],
            "confirm": ["no", "yes"],
            "decision": ["deny", "allow"],
            "status": ["active", "departed", "all"],
            "search": [*self.own_names[:1], foreign.staff.name],
            "name": [foreign.company, "fresh-walk-name"],
            "company_name": ["walk-new-company"],
            "email": ["walk-new@walk.example"],
            "language": ["zh", "en"],
            "lang": ["zh", "en"],
            "ui_locales": ["zh-CN en", "en"],
            "store": [own_store, foreign.store.public_id, "st_unknown"],
            "claims": [
                json.dumps({"id_token": {"store": {"value": foreign.store.public_id}}}),
                json.dumps({"userinfo": {"store": {"value": own_store}}}),
            ],
            "response_type": ["code", "token", "code id_token"],
            "client_id": [w.rp.client_id, w.public.client_id],
            "client_secret": [w.rp.secret or ""],
            "redirect_uri": [w.rp.redirect_uri, "https://evil.example/cb"],
            "post_logout_redirect_uri": [LOGOUT_URI, "https://evil.example/bye"],
            # The visitor's own ID token signs it out at once: not the first (most used) value.
            "id_token_hint": ["eyJhbGciOiJub25lIn0.e30.", id_token or "a.b.c"],
            "scope": ["openid profile email offline_access", "openid", "wallet:verify"],
            "state": ["st-walk"],
            "nonce": ["n-walk"],
            "code_challenge": [challenge],
            "code_challenge_method": ["S256", "plain"],
            "prompt": ["none", "login", "consent"],
            "max_age": ["86400", "0", "abc", "-5"],
            "response_mode": ["query", "fragment"],
            "display": ["page", "popup"],
            "grant_type": [*clients.GRANTS, "password", "implicit"],
            "code_verifier": [self.verifier or "v" * 50],
            "refresh_token": [refresh or "rt-unknown"],
            "subject_token": [access or "at-unknown"],
            "subject_token_type": [ACCESS_TOKEN_TYPE],
            "token": [access or "at-unknown", refresh or "rt-unknown"],
            "token_type_hint": ["access_token", "refresh_token"],
            "access_token": [access or "at-unknown"],
        }

    def auth_headers(self, path: str, n: int) -> dict[str, str]:
        """The Authorization header of the n-th variant of a request: this visitor's own Bearer
        token where a header makes sense; at the client-authenticated endpoints, the app's
        Basic credentials or a Basic header that does not decode to UTF-8."""
        bearer = {"Authorization": f"Bearer {self.tokens['access_token']}"} if self.tokens else {}
        if path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
            options = [self.world.rp.basic, {}, {"Authorization": "Basic //46/w=="}, bearer]
            return options[n % len(options)]
        return bearer


def _visitor(kind: str, app, world: World) -> Visitor:
    a, b = world.a, world.b
    table = {
        "signed_out": (None, None, a.markers + b.markers),
        "staff": (f"{a.company}:{a.staff.name}", a, b.markers),
        "owner": (a.company, a, b.markers),
        "other_owner": (b.company, b, a.markers),
        "other_staff": (f"{b.company}:{b.staff.name}", b, a.markers),
    }
    login, own, foreign = table[kind]
    return Visitor(kind, app, world, login, own, foreign)


# --- what a request was, and what went wrong ---------------------------------------------------


@dataclass
class Sent:
    method: str
    path: str
    query: str | bytes = ""  # bytes: the raw query string, not UTF-8 in general
    body: bytes | None = None
    content_type: str | None = None
    headers: dict = field(default_factory=dict)
    variant: str = ""

    def as_text(self) -> str:
        """Everything the visitor sent, decoded, to tell a leak from an echo."""
        query = self.query.decode("latin-1") if isinstance(self.query, bytes) else self.query
        parts = [unquote_plus(self.path), unquote_plus(query)]
        if self.body:
            parts.append(unquote_plus(self.body.decode("latin-1")))
            parts.append(unquote_plus(self.body.decode("utf-8", "replace")))
        parts.extend(str(v) for v in self.headers.values())
        return "\n".join(parts).lower()

    def sample(self) -> str:
        def cut(text: str) -> str:
            return text if len(text) <= 300 else f"{text[:300]}…({len(text)} chars)"

        body = self.body.decode("latin-1") if self.body else ""
        auth = self.headers.get("Authorization", "")
        query = repr(self.query) if isinstance(self.query, bytes) else self.query
        return (
            f"{self.method} {cut(self.path)}"
            + (f"?{cut(query)}" if query else "")
            + (f" body[{self.content_type}]={cut(body)!r}" if body else "")
            + (f" Authorization={auth[:20]}…" if auth else "")
        )


class TracebackCatcher(logging.Handler):
    """Keeps the records the app logged with a traceback (``log.exception``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.records.append(record)


def root_cause(exc: BaseException | None) -> str:
    if exc is None:
        return "no traceback logged"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/idp/" in f.filename and "/site-packages/" not in f.filename]
    deepest = frames[-1] if frames else None

    def where(frame) -> str:
        short = re.sub(r".*/(site-packages|work/main)/", "", frame.filename)
        return f"{short}:{frame.lineno} {frame.name}"

    message = " ".join(str(exc).split())  # one line (SQL errors span several)
    text = f"{type(exc).__name__}: {message[:160]}"
    if deepest is not None:
        text += f" | raised at {where(deepest)}"
    if ours and ours[-1] is not deepest:
        text += f" | from {where(ours[-1])}"
    return text


def cause_key(cause: str) -> str:
    """What makes two causes the same: the exception's type and where it was raised and left
    our code, not its message (which quotes the input)."""
    message, *frames = cause.split(" | ")
    if not frames:
        return re.sub(r"0x[0-9a-f]+|\d+", "N", message)[:60]
    return " | ".join([message.partition(":")[0], *frames])


@dataclass
class Finding:
    kind: str
    rule: str
    method: str
    visitor: str
    status: int | None
    cause: str
    sample: str
    variant: str
    count: int = 1
    params: set = field(default_factory=set)  # the hostile parameters (or variants) seen failing


class Walk:
    def __init__(self, visitor: Visitor, catcher: TracebackCatcher) -> None:
        self.visitor = visitor
        self.catcher = catcher
        self.findings: dict[tuple, Finding] = {}
        self.requests = 0
        self.codes = 0  # authorization codes the walk was given: it got past validation
        self.rules: set[str] = set()
        self.direct: set[str] = set()

    def note(self, kind: str, rule: str, sent: Sent, status: int | None, cause: str) -> None:
        target = re.search(r"\[(\w+)\]", sent.variant)  # the one hostile parameter, if any
        key = (kind, rule, sent.method, cause_key(cause))
        found = self.findings.get(key)
        if found is None:
            found = self.findings[key] = Finding(
                kind,
                rule,
                sent.method,
                self.visitor.kind,
                status,
                cause,
                sent.sample(),
                sent.variant,
                count=0,
            )
        found.count += 1
        found.params.add(target.group(1) if target else sent.variant.rpartition(":")[2])

    def send(self, rule: str, sent: Sent, *, csrf_protected: bool) -> None:
        visitor = self.visitor
        visitor.ensure()
        self.catcher.records.clear()
        self.requests += 1
        raw = isinstance(sent.query, bytes)
        url = sent.path + ("?" + sent.query if sent.query and not raw else "")
        try:
            response = visitor.web.open(
                url,
                method=sent.method,
                data=sent.body,
                content_type=sent.content_type,
                headers=sent.headers,
                environ_overrides={"QUERY_STRING": sent.query.decode("latin-1")} if raw else None,
            )
        except Exception as exc:  # out of the app, past every error handler
            self.note("exception", rule, sent, None, root_cause(exc))
            return
        status = response.status_code
        location = response.headers.get("Location", "")
        if location.startswith(visitor.world.rp.redirect_uri + "?") and "code=" in location:
            self.codes += 1
        if status >= 500:
            record = self.catcher.records[-1] if self.catcher.records else None
            cause = root_cause(record.exc_info[1]) if record else "no traceback logged"
            self.note("5xx", rule, sent, status, cause)
        no_token = sent.variant.rpartition(":")[2] in NO_TOKEN_VARIANTS
        if csrf_protected and sent.method == "POST" and no_token and not 400 <= status < 500:
            self.note(
                "csrf-not-enforced",
                rule,
                sent,
                status,
                f"POST without csrf_token answered {status}",
            )
        if len(response.headers.get("Location", "")) > MAX_LOCATION:
            self.note(
                "overlong-location",
                rule,
                sent,
                status,
                f"Location header of {len(response.headers['Location'])} characters",
            )
        if 200 <= status < 300 and sent.method != "HEAD":
            body = response.get_data(as_text=True).lower()
            sent_text = sent.as_text()
            leaked = [m for m in visitor.foreign_markers if m in body and m not in sent_text]
            if leaked:
                self.note(
                    "leak",
                    rule,
                    sent,
                    status,
                    f"2xx body shows another company's data: {sorted(set(leaked))}",
                )
        if (
            status == 400
            and "csrf" in response.get_data(as_text=True).lower()
            and ("csrf_token" in (sent.body or b"").decode("latin-1"))
        ):
            visitor.refresh_csrf()  # its token was dropped: later requests carry a new one


# --- building the requests ---------------------------------------------------------------------


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs).encode()


def _url_values(rule, visitor: Visitor) -> list[tuple[str, dict[str, str]]]:
    """(label, values) for the rule's URL variables: plausible ones first, then hostile ones."""
    if not rule.arguments:
        return [("", {})]
    w = visitor.world
    plausible_by_name = {
        "name": [
            w.a.bystander.name,
            w.a.staff.public_id,
            w.b.bystander.name,
            w.a.owner.name,
            w.a.company,
        ],
        "token": ["AbCdEf0123456789_-" * 3],
        "client_id": [w.a.api_client_id, w.b.api_client_id],
        "filename": ["style.css", "app.js"],
    }
    hostile = [
        "A" * 3000,
        "é中文🙂",
        "\"'\\\t",
        "%FF%FE%C3%28",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        " ",
        "x/y",
    ]
    out = []
    for i in range(max(len(plausible_by_name.get(a, [])) for a in rule.arguments) or 1):
        values = {}
        for arg in rule.arguments:
            options = plausible_by_name.get(arg, ["plain"])
            values[arg] = quote(options[i % len(options)], safe="")
        out.append((f"plausible-{i}", values))
    for i, raw in enumerate(hostile):
        # Percent-escapes of the hostile list are sent as they are (invalid UTF-8 in the path).
        value = raw if raw.startswith("%") or "%2F" in raw else quote(raw, safe="")
        out.append((f"hostile-{i}", dict.fromkeys(rule.arguments, value)))
    return out


def _path(rule, values: dict[str, str]) -> str:
    path = rule.rule
    for name, value in values.items():
        path = re.sub(r"<(?:[a-z]+:)?" + name + r">", lambda _m, v=value: v, path)
    return path


FORM = "application/x-www-form-urlencoded"
_fresh = itertools.count(1)
# Each of these goes into each known parameter of a route, one parameter at a time, the others
# plausible: the characters RFC 6749 forbids in an error description, control characters, an
# overlong value (a 70 KB ``state`` is the classic), and one more of ``HOSTILE`` in turn.
CORE = ["é中文🙂", '"', "\\", "\t", "\x01\x1b\x7f\x85", "x" * 70_000]


def _variants(
    visitor: Visitor, method: str, names: list[str], full: bool, rng: random.Random
) -> Iterator[tuple[str, str, bytes | None, str | None]]:
    """(variant, query, body, content type) for one (route, method)."""
    plausible = visitor.plausible()
    takes_body = method in ("POST", "PUT", "PATCH", "DELETE")
    csrf_pair = [("csrf_token", visitor.csrf)]

    def value(name: str, k: int) -> str:
        if name == "nonce" and k == 0:  # a used nonce is a replay: refused before the rest
            return f"n-{next(_fresh)}"
        options = plausible.get(name) or ["plain-value"]
        return options[k % len(options)]

    def request(pairs, extra_query=()):
        """Parameters in the body for a method with one (and the hostile one in the query
        too), in the query otherwise."""
        if takes_body:
            return urlencode(list(extra_query)), _form(csrf_pair + pairs), FORM
        return urlencode(pairs), None, None

    yield "empty", "", None, None
    if not full:
        hostile = rng.choice(HOSTILE[:-1])
        yield "hostile-all", urlencode({n: hostile for n in names[:8]}), None, None
        return
    # Raw bytes that are not UTF-8 in the query string, as WSGI hands them on (latin-1). Granian
    # and gunicorn refuse such a request line themselves; other WSGI servers pass it through.
    yield "raw-bytes-query", RAW_BYTES_QUERY, None, None
    if takes_body:
        yield "csrf-only", "", _form(csrf_pair), FORM
    # Every parameter plausible, each set of plausible values in turn (the valid ones first).
    sweeps = max((len(plausible.get(n) or [1]) for n in names), default=1)
    for i in range(sweeps):
        yield (f"plausible-{i}", *request([(n, value(n, i)) for n in names]))
    # One parameter hostile at a time, the others at their first (valid) plausible value.
    targets = names or ["q"]
    for r, hostile in enumerate([*CORE, None]):
        for j, target in enumerate(targets):
            bad = hostile if hostile is not None else HOSTILE[(j + r) % len(HOSTILE)]
            pairs = [(n, bad if n == target else value(n, 0)) for n in names] or [(target, bad)]
            yield (f"one-hostile[{target}]#{r}", *request(pairs, [(target, bad)]))
    # Everything hostile, random parameter names too.
    for k in range(2):
        pairs = [(n, rng.choice(HOSTILE)) for n in names]
        pairs += [(rng.choice(HOSTILE[1:12])[:40] or "k", rng.choice(HOSTILE)) for _ in range(3)]
        yield (f"all-hostile-{k}", *request(pairs))
    # Invalid percent-encoding and raw invalid UTF-8.
    raw_names = "&".join(f"{quote(n)}=%FF%C3%28%E2%82" for n in names[:10])
    if takes_body:
        body = RAW_BODY + b"&" + raw_names.encode()
        yield "raw", RAW_QUERY, body, FORM
        yield "raw-csrf", RAW_QUERY, _form(csrf_pair) + b"&" + body, FORM
        yield "json", urlencode(csrf_pair), rng.choice(JSON_BODIES), "application/json"
        for blob in (JSON_BODIES[4], JSON_BODIES[6], JSON_BODIES[7]):
            yield "json-shape", "", blob, "application/json"
        pairs = [(n, value(n, 1)) for n in names]
        yield "no-csrf-plausible", "", _form(pairs), FORM
        yield "no-csrf-hostile", "", _form([(n, rng.choice(HOSTILE)) for n in names]), FORM
    else:
        yield "raw", RAW_QUERY + "&" + raw_names, None, None


# Variants whose body holds no csrf_token field (a token in the query string does not count).
NO_TOKEN_VARIANTS = {
    "empty",
    "raw-bytes-query",
    "hostile-all",
    "raw",
    "json",
    "json-shape",
    "no-csrf-plausible",
    "no-csrf-hostile",
}


def _csrf_protected(app, endpoint: str) -> bool:
    if not app.config.get("WTF_CSRF_ENABLED", True):
        return False
    view = app.view_functions[endpoint]
    blueprint = app.blueprints.get(endpoint.rpartition(".")[0]) if "." in endpoint else None
    if blueprint is not None and blueprint in csrf_protect._exempt_blueprints:
        return False
    return f"{view.__module__}.{view.__name__}" not in csrf_protect._exempt_views


# --- state that a foreign visitor must not change ----------------------------------------------


def snapshot(tenant: Tenant, skip: Account | None = None) -> dict:
    """What a visitor must not change of a company: its accounts' credentials, status and live
    sessions (the visitor's own account aside), its wallet password, its stores and its API
    clients (issue 16)."""
    db.session.expire_all()
    rows = {}
    for account in db.session.query(Account).filter_by(company_id=tenant.owner.company_id):
        if skip is not None and account.id == skip.id:
            continue
        live = db.session.query(SsoSession).filter_by(account_id=account.id, ended_at=None).count()
        rows[account.public_id] = (
            account.password_hash,
            account.status,
            account.must_change_password,
            account.totp_secret_encrypted,
            account.departed_at,
            live,
        )
    company = db.session.get(Company, tenant.owner.company_id)
    rows["wallet"] = company.wallet_password_hash
    rows["stores"] = sorted(
        (s.public_id, s.name, s.is_authorized)
        for s in db.session.query(Store).filter_by(company_id=company.id)
    )
    rows["api_clients"] = sorted(
        (c.client_id, c.name, c.disabled, c.secret_hash)
        for c in db.session.query(Client).filter_by(company_id=company.id)
    )
    return rows


# --- the walk ----------------------------------------------------------------------------------


def walk(app, visitor: Visitor, catcher: TracebackCatcher) -> Walk:
    run = Walk(visitor, catcher)
    rng = random.Random(f"issue-12-{visitor.kind}")
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for rule in rules:
        names = sorted(
            set(params_read_by(app.view_functions[rule.endpoint]))
            | _hook_params(app, rule.endpoint)
            | set(KNOWN_PARAMS.get(rule.endpoint, []))
        )
        protected = _csrf_protected(app, rule.endpoint)
        allowed = sorted(rule.methods)
        not_allowed = [m for m in ("DELETE", "PUT", "PATCH") if m not in rule.methods][:1]
        for label, values in _url_values(rule, visitor):
            path = _path(rule, values)
            first = label in ("", "plausible-0")
            for method in allowed + not_allowed:
                full = first and method in ("GET", "POST")
                for variant, query, body, content_type in _variants(
                    visitor, method, names, full, rng
                ):
                    for headers in _header_sets(visitor, path, variant):
                        sent = Sent(
                            method, path, query, body, content_type, headers, f"{label}:{variant}"
                        )
                        run.send(rule.rule, sent, csrf_protected=protected)
        run.rules.add(rule.rule)
    for path, (_, methods, _) in sorted(direct.ROUTES.items()):
        names = KNOWN_PARAMS.get(path, [])
        for method in EXTRA_METHODS:
            full = method in methods and method in ("GET", "POST")
            for n, (variant, query, body, content_type) in enumerate(
                _variants(visitor, method, names, full, rng)
            ):
                if variant.startswith(("csrf", "no-csrf", "raw-csrf")):
                    continue  # no sessions, no CSRF at the machine endpoints
                every = variant == "empty" or variant.startswith(("plausible", "raw", "json"))
                for m in range(4) if every else [n]:
                    headers = visitor.auth_headers(path, m)
                    sent = Sent(method, path, query, body, content_type, headers, variant)
                    run.send(path, sent, csrf_protected=False)
        run.direct.add(path)
    return run


def _header_sets(visitor: Visitor, path: str, variant: str) -> list[dict[str, str]]:
    """Without an Authorization header and, for a visitor holding a token, with its Bearer
    token (where it matters: the API, and the hostile variants elsewhere)."""
    bearer = visitor.auth_headers(path, 0)
    if not bearer:
        return [{}]
    if path.startswith("/api/") or variant.endswith(("empty", "all-hostile-0")):
        return [{}, bearer]
    return [{}]


def _report(run: Walk) -> str:
    lines = [
        f"{len(run.findings)} distinct failures in {run.requests} requests as {run.visitor.kind}:"
    ]
    for f in sorted(run.findings.values(), key=lambda f: (f.kind, f.rule, f.method)):
        lines.append(
            f"- [{f.kind}] {f.method} {f.rule} as {f.visitor} -> {f.status} (x{f.count}) "
            f"variant={f.variant}\n    via: {sorted(f.params)}\n    cause: {f.cause}"
            f"\n    e.g. {f.sample}"
        )
    return "\n".join(lines)


def _write_json(run: Walk) -> None:
    target = os.environ.get("IDP_WALK_REPORT")
    if not target:
        return
    existing = []
    if os.path.exists(target):
        with open(target) as fh:
            existing = json.load(fh)
    existing += [{**f.__dict__, "params": sorted(f.params)} for f in run.findings.values()]
    with open(target, "w") as fh:
        json.dump(existing, fh, indent=1, default=str)


@pytest.mark.parametrize("kind", VISITORS)
def test_issue12_route_walk_no_5xx_no_csrf_bypass_no_cross_tenant_leak(ctx, world, kind):
    visitor = _visitor(kind, ctx, world)
    visitor.start()
    # Another company's state, and for a sub-account its own company's (R6: staff manage
    # nothing), apart from its own account.
    skip = visitor.own.staff if kind.endswith("staff") else None
    watched = [t for t in (world.a, world.b) if t is not visitor.own or skip is not None]
    before = {t.company: snapshot(t, skip) for t in watched}

    catcher = TracebackCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    try:
        run = walk(ctx, visitor, catcher)
    finally:
        root.removeHandler(catcher)

    flask_rules = {r.rule for r in ctx.url_map.iter_rules()}
    assert run.rules == flask_rules
    assert len(run.rules) >= MIN_FLASK_RULES, sorted(run.rules)
    assert run.direct == set(direct.ROUTES) and len(run.direct) >= 5
    assert run.requests > 20 * len(run.rules)
    if visitor.login:  # the plausible values are valid enough to be given a code
        assert run.codes > 0
    for tenant in watched:  # a visitor of another company (or none) changed nothing of it
        after = snapshot(tenant, skip)
        if after != before[tenant.company]:
            changed = [k for k in after if after[k] != before[tenant.company].get(k)]
            run.note(
                "foreign-write",
                "(whole walk)",
                Sent("*", "*", variant="state"),
                None,
                f"{tenant.company} changed: {changed}",
            )
    _write_json(run)
    assert not run.findings, _report(run)
