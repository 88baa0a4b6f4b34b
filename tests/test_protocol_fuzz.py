"""Issue 12's protocol fuzz: Hypothesis sends arbitrary text in every parameter of the protocol
endpoints and checks the shape of every answer.

Endpoints and parameters: /oauth/authorize (GET and POST), /oauth/token (every supported grant
type and garbage), /oauth/introspect, /oauth/revoke, /oauth/userinfo (its Authorization header)
and /oauth/logout. Values are absent, plausible (real client ids, redirect URIs, codes, tokens,
stores, so that requests get past client lookup and reach the grants), or hostile: non-ASCII
letters, ``"``, ``\\``, tab and other control characters, NUL, strings up to ~100 KB, and bytes
that are not UTF-8 (percent-encoded, or raw in a body or query string). Client authentication is
right, wrong, missing, or HTTP Basic credentials that do not decode to UTF-8. Authorization
requests come from a signed-in browser or a signed-out one.

Every answer must be below 500. A 4xx from a JSON endpoint (token, introspection, revocation,
userinfo) must be an OAuth error body: a JSON object whose ``error`` is a registered error code
and whose ``error_description``, if any, holds only the characters RFC 6749 allows
(%x20-21 / %x23-5B / %x5D-7E); the same for an error sent back in a redirect. No ``Location``
may exceed 8 KB, and a redirect away from the provider goes only to a URI registered for the
client.

Bounded: each test runs a fixed number of examples with no deadline and no shrinking; instead of
stopping at the first failure, every failure is recorded (deduplicated by endpoint, kind and
cause, keeping the shortest input that showed it) and reported at the end with the traceback
the app logged. Explicit examples pin down the defects known when this was written."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote_from_bytes, quote_plus, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from idp.oauth import clients
from tests import oidc_flow as flow
from tests.factories import PASSWORD
from tests.test_route_walk import TracebackCatcher, cause_key, root_cause

TOKEN_EXCHANGE = clients.TOKEN_EXCHANGE
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
LOGOUT_URI = "https://app.example/bye"
MAX_LOCATION = 8 * 1024
ISSUER = "http://localhost"  # the test app's (tests/conftest.py)
# RFC 6749 5.2 / 4.1.2.1, RFC 6750 3.1, RFC 7009 2.2.1, RFC 8693 2.2.2, OIDC Core 3.1.2.6.
ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "unsupported_response_type",
    "server_error",
    "temporarily_unavailable",
    "invalid_token",
    "insufficient_scope",
    "unsupported_token_type",
    "invalid_target",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
}
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]*\Z")  # RFC 6749 5.2 error_description
JSON_ENDPOINTS = ("/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/userinfo")

FUZZ = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected instead
    suppress_health_check=list(HealthCheck),
)

# --- values ------------------------------------------------------------------------------------


class Raw(bytes):
    """Bytes put into a query string or body as they are, unescaped (not UTF-8 in general)."""

    def __repr__(self) -> str:
        return "raw" + bytes.__repr__(self)


SPECIALS = [
    "\t",
    '"',
    "\\",
    "é",
    "中文",
    'ñ\t"\\',
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\x00",
    "%",
    "%zz",
    "+",
    "&",
    "=",
    "#",
    " ",
    "",
    "\r\n",
    "'",
    "<>",
    "\ufeff",
    "🙂",
]
NOT_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28", b"\xc0\xaf", b"\xe2\x82"]

long_text = st.builds(
    lambda piece, n: (piece * n)[:n],
    st.text(min_size=1, max_size=4),
    st.one_of(st.integers(200, 300), st.integers(1000, 9000), st.integers(60_000, 100_000)),
)
not_utf8 = st.builds(
    lambda prefix, bad, suffix: prefix + bad + suffix,
    st.binary(max_size=6),
    st.sampled_from(NOT_UTF8),
    st.binary(max_size=6),
)
hostile = st.one_of(
    st.sampled_from(SPECIALS),
    st.text(max_size=40),  # any Unicode but lone surrogates
    st.text(alphabet=st.characters(codec="latin-1"), max_size=20),
    long_text,
    not_utf8,  # percent-encoded
    not_utf8.map(Raw),  # raw
)


def value(*plausible) -> st.SearchStrategy:
    """Absent, one of the plausible values, or hostile."""
    options = [st.none(), hostile]
    if plausible:
        options.insert(1, st.sampled_from(plausible))
    return st.one_of(*options)


def encode(pairs: dict) -> bytes:
    """``application/x-www-form-urlencoded``, with bytes percent-encoded as they are and raw
    bytes (``Raw``) not encoded at all."""
    out = []
    for key, val in pairs.items():
        if val is None:
            continue
        if isinstance(val, Raw):
            encoded = bytes(val)
        elif isinstance(val, bytes):
            encoded = quote_from_bytes(val).encode()
        else:
            encoded = quote_plus(val).encode()
        out.append(quote_plus(key).encode() + b"=" + encoded)
    return b"&".join(out)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    app: object
    rp: flow.RP  # confidential, first party, every grant, a post-logout URI
    public: flow.RP
    browser: flow.Browser  # signed in as acme:walda
    anonymous: flow.Browser
    tokens: dict
    store: str
    other_store: str
    codes: list = field(default_factory=list)

    def sign_in_again(self) -> None:
        if not flow.sso_cookie(self.browser):
            assert flow.sign_in(self.browser, "acme:walda", PASSWORD).status_code == 302

    def fresh_code(self) -> tuple[str, str]:
        """A code for the confidential app and its PKCE verifier."""
        verifier, challenge = flow.pkce()
        self.sign_in_again()
        return flow.get_code(self.browser, self.rp, challenge), verifier


@pytest.fixture
def world(ctx, make) -> World:
    owner = make.company("acme")
    shop = make.store(owner, "shopee-sg", name="Acme Fuzz Shop")
    other = make.store(owner, "shopee-sg", name="Acme Other Shop")
    make.staff(owner, "walda", stores_=[shop, other])
    rp = flow.register(
        "Fuzz app",
        grant_types=clients.GRANTS,
        post_logout_redirect_uris=[LOGOUT_URI],
        scope="openid profile email phone offline_access",
    )
    public = flow.register("Fuzz public app", client_type="public")
    browser = flow.browser(ctx)
    assert flow.sign_in(browser, "acme:walda", PASSWORD).status_code == 302
    tokens = flow.token_set(browser, rp)
    return World(
        ctx, rp, public, browser, flow.browser(ctx), tokens, shop.public_id, other.public_id
    )


# --- checking the answers ----------------------------------------------------------------------


@dataclass
class Failure:
    endpoint: str
    kind: str
    status: int | None
    detail: str
    example: str
    count: int = 1


class Findings:
    def __init__(self, catcher: TracebackCatcher) -> None:
        self.catcher = catcher
        self.found: dict[tuple, Failure] = {}

    def add(self, endpoint: str, kind: str, status, detail: str, shown: str) -> None:
        key = (endpoint, kind, cause_key(detail))
        known = self.found.get(key)
        if known is None:
            self.found[key] = Failure(endpoint, kind, status, detail, shown)
            return
        known.count += 1
        if len(shown) < len(known.example):
            known.example = shown

    def report(self) -> str:
        lines = [f"{len(self.found)} distinct failures:"]
        for f in sorted(self.found.values(), key=lambda f: (f.endpoint, f.kind)):
            lines.append(
                f"- {f.endpoint} [{f.kind}] status={f.status} x{f.count}\n    {f.detail}\n"
                f"    shortest input: {f.example}"
            )
        return "\n".join(lines)


def _shown(method: str, path: str, sent: dict | bytes | None, headers: dict) -> str:
    def cut(item):
        text = repr(item)
        return text if len(text) <= 160 else f"{text[:160]}…({len(text)} chars)"

    params = (
        {k: cut(v) for k, v in sent.items() if v is not None}
        if isinstance(sent, dict)
        else cut(sent)
    )
    auth = headers.get("Authorization")
    return f"{method} {path} {params}" + (f" Authorization={cut(auth)}" if auth else "")


def _error_query_problems(location: str) -> list[str]:
    query = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
    problems = []
    if "error" in query and query["error"] not in ERRORS:
        problems.append(f"unregistered error code {query['error'][:60]!r} in the redirect")
    description = query.get("error_description")
    if description is not None and not DESCRIPTION.match(description):
        problems.append("error_description in the redirect holds characters RFC 6749 forbids")
    return problems


def check(
    findings: Findings,
    endpoint: str,
    response,
    shown: str,
    *,
    registered: tuple[str, ...] = (),
) -> None:
    status = response.status_code
    if status >= 500:
        record = findings.catcher.records[-1] if findings.catcher.records else None
        cause = root_cause(record.exc_info[1]) if record else "no traceback logged"
        findings.add(endpoint, "5xx", status, cause, shown)
    location = response.headers.get("Location")
    if location is not None:
        if len(location) > MAX_LOCATION:
            findings.add(
                endpoint, "Location over 8 KB", status, f"{len(location)} characters", shown
            )
        away = location.startswith(("http://", "https://", "//")) and not location.startswith(
            ISSUER + "/"
        )
        if away and not any(
            location.startswith(uri + "?") or location == uri for uri in registered
        ):
            findings.add(endpoint, "redirect to an unregistered URI", status, location[:100], shown)
        for problem in _error_query_problems(location):
            findings.add(endpoint, "bad error redirect", status, problem, shown)
    challenge = response.headers.get("WWW-Authenticate")
    if challenge is not None and not re.fullmatch(r"[\x20-\x7E]*", challenge):
        findings.add(endpoint, "bad WWW-Authenticate", status, repr(challenge[:100]), shown)
    if endpoint in JSON_ENDPOINTS and 400 <= status < 500:
        try:
            body = json.loads(response.get_data())
        except ValueError:
            findings.add(endpoint, "4xx body is not JSON", status, "", shown)
            return
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            findings.add(endpoint, "4xx body has no error string", status, str(body)[:80], shown)
            return
        if body["error"] not in ERRORS:
            findings.add(endpoint, "unregistered error code", status, body["error"][:80], shown)
        description = body.get("error_description")
        if description is not None and (
            not isinstance(description, str) or not DESCRIPTION.match(description)
        ):
            bad = sorted({c for c in str(description) if not DESCRIPTION.match(c)})
            findings.add(
                endpoint,
                "error_description holds characters RFC 6749 forbids",
                status,
                f"{body['error']}: {bad!r} in {str(description)[:80]!r}",
                shown,
            )


@pytest.fixture
def findings():
    catcher = TracebackCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    try:
        yield Findings(catcher)
    finally:
        root.removeHandler(catcher)


def send(
    findings: Findings,
    web,
    method: str,
    path: str,
    *,
    headers=None,
    body: bytes | None = None,
    query: bytes | None = None,
):
    """One request; the raw query string, when given, goes into the environ as WSGI has it."""
    findings.catcher.records.clear()
    overrides = {"QUERY_STRING": query.decode("latin-1")} if query is not None else None
    return web.open(
        path,
        method=method,
        data=body,
        content_type="application/x-www-form-urlencoded" if body is not None else None,
        headers=headers or {},
        environ_overrides=overrides,
    )


# --- /oauth/authorize --------------------------------------------------------------------------


def test_issue12_fuzz_authorize_never_5xx_and_redirects_stay_bounded(world, findings):
    w = world
    _, challenge = flow.pkce()
    nonces = itertools.count(1)
    fresh_nonce = st.builds(lambda: f"n-{next(nonces)}")
    params = st.fixed_dictionaries(
        {
            "response_type": value("code", "token", "code id_token", "none"),
            "client_id": value(w.rp.client_id, w.public.client_id, "unknown-client"),
            "redirect_uri": value(w.rp.redirect_uri, w.public.redirect_uri, "https://evil/cb"),
            "scope": value("openid profile email offline_access", "openid", "profile"),
            "state": value("st-1", "a" * 2000),
            "nonce": st.one_of(fresh_nonce, value("n" * 256)),
            "code_challenge": value(challenge),
            "code_challenge_method": value("S256", "plain"),
            "prompt": value("none", "login", "consent", "select_account"),
            "max_age": value("0", "86400", "-1", "1e9"),
            "login_hint": value("acme:walda", "acme"),
            "ui_locales": value("zh-CN", "en"),
            "store": value(w.store, w.other_store, "st_unknown"),
            "claims": value(
                json.dumps({"id_token": {"store": {"value": w.other_store}}}),
                json.dumps({"userinfo": {"store": {"value": "é"}}}),
                "{",
                "[]",
            ),
        }
    )

    def valid(**changes) -> dict:
        base = {
            "response_type": "code",
            "client_id": w.rp.client_id,
            "redirect_uri": w.rp.redirect_uri,
            "scope": "openid profile",
            "state": "st-1",
            "nonce": f"n-{next(nonces)}-x",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return {**base, **changes}

    @settings(FUZZ, max_examples=400)
    @given(
        method=st.sampled_from(["GET", "POST"]),
        params=params,
        signed_in=st.booleans(),
        raw_query=st.one_of(st.none(), not_utf8),
    )
    @example(method="GET", params=valid(response_type="\t"), signed_in=True, raw_query=None)
    @example(method="GET", params=valid(response_type="\t"), signed_in=False, raw_query=None)
    @example(method="GET", params=valid(store="é"), signed_in=True, raw_query=None)
    @example(
        method="GET",
        params=valid(redirect_uri='https://évil/"cb\\'),
        signed_in=True,
        raw_query=None,
    )
    @example(method="GET", params=valid(nonce="n" * 256), signed_in=True, raw_query=None)
    @example(method="GET", params=valid(state="s" * 70_000), signed_in=True, raw_query=None)
    @example(
        method="GET",
        params=valid(state="s" * 70_000, response_type="nope"),
        signed_in=True,
        raw_query=None,
    )
    @example(
        method="POST", params=valid(prompt="none", store='\\"'), signed_in=True, raw_query=None
    )
    @example(method="GET", params=valid(), signed_in=True, raw_query=b"\xff")
    def fuzz(method, params, signed_in, raw_query):
        if signed_in:
            w.sign_in_again()
        web = w.browser if signed_in else w.anonymous
        encoded = encode(params)
        if raw_query is not None:  # an extra parameter whose value is raw bytes, not UTF-8
            encoded += b"&junk=" + raw_query
        if method == "GET":
            response = send(findings, web, "GET", "/oauth/authorize", query=encoded)
        else:
            response = send(findings, web, "POST", "/oauth/authorize", body=encoded)
        shown = _shown(method, "/oauth/authorize", params, {}) + (
            f" +raw {raw_query!r}" if raw_query else ""
        )
        check(
            findings,
            f"{method} /oauth/authorize",
            response,
            shown,
            registered=(w.rp.redirect_uri, w.public.redirect_uri),
        )

    fuzz()
    assert not findings.found, findings.report()


# --- /oauth/token ------------------------------------------------------------------------------


def _client_auth(w: World):
    """(headers, form fields) of one way to authenticate the client, or not."""
    secret = w.rp.secret or ""
    return st.one_of(
        st.just(({"Authorization": basic(w.rp.client_id, secret)}, {})),
        st.just(({}, {"client_id": w.rp.client_id, "client_secret": secret})),
        st.just(({}, {"client_id": w.public.client_id})),
        st.just(({}, {})),
        st.just(({"Authorization": "Basic //46/w=="}, {})),
        st.binary(max_size=40).map(
            lambda b: ({"Authorization": "Basic " + base64.b64encode(b).decode()}, {})
        ),
        st.text(
            alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60
        ).map(lambda t: ({"Authorization": t}, {})),
        st.tuples(hostile, hostile).map(
            lambda pair: ({}, {"client_id": pair[0], "client_secret": pair[1]})
        ),
    )


def test_issue12_fuzz_token_endpoint_answers_oauth_errors(world, findings):
    w = world
    codes = [w.fresh_code() for _ in range(4)]
    verifier = codes[0][1]
    form = st.fixed_dictionaries(
        {
            "grant_type": value(*clients.GRANTS, "password", "implicit", "urn:x"),
            "code": value(*(c for c, _ in codes), "unknown-code"),
            "redirect_uri": value(w.rp.redirect_uri, "https://evil/cb"),
            "code_verifier": value(verifier, *(v for _, v in codes)),
            "refresh_token": value(w.tokens["refresh_token"], "rt-unknown"),
            "scope": value("openid", "openid profile email", "wallet:verify"),
            "subject_token": value(w.tokens["access_token"], w.tokens["id_token"]),
            "subject_token_type": value(ACCESS_TOKEN_TYPE, "urn:x"),
            "requested_token_type": value(ACCESS_TOKEN_TYPE),
            "store": value(w.store, w.other_store, "st_unknown"),
        }
    )

    def exchange(**changes) -> dict:
        return {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": w.tokens["access_token"],
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "store": w.other_store,
            **changes,
        }

    rp_basic = ({"Authorization": basic(w.rp.client_id, w.rp.secret or "")}, {})
    bad_basic = ({"Authorization": "Basic //46/w=="}, {})

    @settings(FUZZ, max_examples=1000)
    @given(form=form, auth=_client_auth(w), junk=st.one_of(st.none(), not_utf8.map(Raw)))
    @example(form=exchange(store="é"), auth=rp_basic, junk=None)
    @example(form=exchange(store='"\\\t'), auth=rp_basic, junk=None)
    @example(form={"grant_type": "\t"}, auth=rp_basic, junk=None)
    @example(form={"grant_type": "client_credentials", "scope": "é"}, auth=rp_basic, junk=None)
    @example(form={"grant_type": "refresh_token", "refresh_token": "é"}, auth=rp_basic, junk=None)
    @example(form={"grant_type": "authorization_code"}, auth=bad_basic, junk=None)
    @example(form=exchange(), auth=rp_basic, junk=Raw(b"\xff\xfe"))
    def fuzz(form, auth, junk):
        headers, fields = auth
        sent = {**form, **fields}
        body = encode(sent)
        if junk is not None:
            body += b"&" + bytes(junk) + b"=" + bytes(junk)
        response = send(findings, w.browser, "POST", "/oauth/token", headers=headers, body=body)
        check(findings, "/oauth/token", response, _shown("POST", "/oauth/token", sent, headers))

    fuzz()
    assert not findings.found, findings.report()


# --- /oauth/introspect and /oauth/revoke -------------------------------------------------------


def test_issue12_fuzz_introspection_and_revocation_answer_oauth_errors(world, findings):
    w = world
    spare = flow.token_set(w.browser, w.rp)  # revocation takes these, introspection both
    kept = {
        w.tokens["access_token"]: spare["access_token"],
        w.tokens["refresh_token"]: spare["refresh_token"],
    }
    form = st.fixed_dictionaries(
        {
            "token": value(w.tokens["access_token"], w.tokens["refresh_token"], "unknown"),
            "token_type_hint": value("access_token", "refresh_token", "id_token"),
        }
    )
    rp_basic = ({"Authorization": basic(w.rp.client_id, w.rp.secret or "")}, {})

    @settings(FUZZ, max_examples=600)
    @given(
        path=st.sampled_from(["/oauth/introspect", "/oauth/revoke"]),
        form=form,
        auth=_client_auth(w),
    )
    @example(
        path="/oauth/introspect",
        form={"token": "x"},
        auth=({"Authorization": "Basic //46/w=="}, {}),
    )
    @example(
        path="/oauth/revoke", form={"token": "x"}, auth=({"Authorization": "Basic //46/w=="}, {})
    )
    @example(
        path="/oauth/introspect", form={"token": 'é\t"\\', "token_type_hint": "é"}, auth=rp_basic
    )
    @example(path="/oauth/revoke", form={"token": "x", "token_type_hint": '\t"é'}, auth=rp_basic)
    def fuzz(path, form, auth):
        headers, fields = auth
        if path == "/oauth/revoke" and form.get("token") in kept:
            form = {**form, "token": kept[form["token"]]}
        sent = {**form, **fields}
        response = send(findings, w.browser, "POST", path, headers=headers, body=encode(sent))
        check(findings, path, response, _shown("POST", path, sent, headers))

    fuzz()
    assert not findings.found, findings.report()


# --- /oauth/userinfo ---------------------------------------------------------------------------


def test_issue12_fuzz_userinfo_authorization_header(world, findings):
    w = world
    header_text = st.text(
        alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=200
    )
    header = st.one_of(
        st.none(),
        st.just("Bearer " + w.tokens["access_token"]),
        st.just("Bearer " + w.tokens["id_token"]),
        header_text,
        header_text.map(lambda t: "Bearer " + t),
        st.sampled_from(
            ["Bearer", "Bearer ", "bearer x", "Basic //46/w==", "Bearer \t", "Bearer é"]
        ),
        long_text.map(lambda t: "Bearer " + t.encode("utf-8").decode("latin-1")[:100_000]).filter(
            lambda t: "\r" not in t and "\n" not in t
        ),
    )

    @settings(FUZZ, max_examples=500)
    @given(
        method=st.sampled_from(["GET", "POST"]),
        authorization=header,
        body=st.one_of(
            st.none(), st.dictionaries(st.sampled_from(["access_token", "x"]), hostile, max_size=2)
        ),
    )
    @example(method="GET", authorization='Bearer "\\', body=None)
    @example(method="GET", authorization="Bearer \xff\xfe", body=None)
    def fuzz(method, authorization, body):
        headers = {"Authorization": authorization} if authorization is not None else {}
        encoded = encode(body) if body else None
        if method == "GET":
            encoded = None
        response = send(
            findings, w.browser, method, "/oauth/userinfo", headers=headers, body=encoded
        )
        check(
            findings,
            "/oauth/userinfo",
            response,
            _shown(method, "/oauth/userinfo", body or {}, headers),
        )

    fuzz()
    assert not findings.found, findings.report()


# --- /oauth/logout -----------------------------------------------------------------------------


def test_issue12_fuzz_logout(world, findings):
    w = world
    params = st.fixed_dictionaries(
        {
            "id_token_hint": value(w.tokens["id_token"], "a.b.c", "eyJhbGciOiJub25lIn0.e30."),
            "post_logout_redirect_uri": value(LOGOUT_URI, LOGOUT_URI + "?x=1", "https://evil/"),
            "state": value("st-1", "s" * 70_000),
            "client_id": value(w.rp.client_id, w.public.client_id, "unknown"),
            "confirm": value("yes", "no"),
        }
    )

    @settings(FUZZ, max_examples=250)
    @given(method=st.sampled_from(["GET", "POST"]), params=params, signed_in=st.booleans())
    @example(method="GET", params={}, signed_in=True)
    @example(
        method="GET",
        params={
            "post_logout_redirect_uri": LOGOUT_URI,
            "client_id": w.rp.client_id,
            "state": "s" * 70_000,
        },
        signed_in=False,
    )
    @example(
        method="GET",
        params={
            "id_token_hint": w.tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": 'é\t"\\',
        },
        signed_in=True,
    )
    def fuzz(method, params, signed_in):
        if signed_in:
            w.sign_in_again()
        web = w.browser if signed_in else w.anonymous
        encoded = encode(params)
        if method == "GET":
            response = send(findings, web, "GET", "/oauth/logout", query=encoded)
        else:  # with the form's CSRF token: the confirm button's own POST
            token = flow.form_fields(web.get("/login").get_data(as_text=True))["csrf_token"]
            body = encoded + b"&csrf_token=" + quote_plus(token).encode()
            response = send(findings, web, "POST", "/oauth/logout", body=body)
        check(
            findings,
            f"{method} /oauth/logout",
            response,
            _shown(method, "/oauth/logout", params, {}),
            registered=(LOGOUT_URI,),
        )

    fuzz()
    assert not findings.found, findings.report()
