"""Abuse of the running Worker: forged, spliced, replayed and oversized session cookies; parameters
carrying markup, template syntax and CR/LF; huge requests; odd methods and request targets.

Every attack must end in an ordinary page, or in the platform's own 4xx before the Worker runs:
never a 5xx from the Worker, never another visitor's content, never an uncaught exception (the
last test scans the Worker's log for them). The caches are attacked in test_abuse_cache.py.
"""

from __future__ import annotations

import base64
import html
import json
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pytest
from intentedge_jobs.cookies import mint
from intentedge.preview import mint_token
from intentedge.session import COOKIE_NAME, SessionKeys, _sign

from .test_engine import BROWSER, HERO

GENUINE_CART = 777.0
PREMIUM = "premium 777.00"            # what the `premium` rule shows this cart, and only to its owner
_HERO = re.compile(HERO.pattern, re.DOTALL)   # test_engine's, across lines: some values here hold CR/LF


# --- helpers ------------------------------------------------------------------------------------

@dataclass
class RawReply:
    status: int
    head: list[str]      # the header lines exactly as sent, after the status line
    body: bytes

    def header_lines(self, name: str) -> list[str]:
        prefix = name.lower() + ":"
        return [line for line in self.head if line.lower().startswith(prefix)]


def raw(worker, request: bytes, timeout: float = 10) -> RawReply:
    """Send `request` (bytes, as they go on the wire) and read one answer by its own framing:
    for what http.client would refuse to send, or would parse away."""
    parts = urlsplit(worker.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        reader = sock.makefile("rb")
        status_line = reader.readline().decode("latin-1").rstrip("\r\n")
        head = []
        while (line := reader.readline().decode("latin-1").rstrip("\r\n")):
            head.append(line)
        fields = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in head)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while (size := int(reader.readline().split(b";")[0], 16)):
                body += reader.read(size)
                reader.readline()
        elif "content-length" in fields:
            body = reader.read(int(fields["content-length"]))
        else:
            body = reader.read()
    return RawReply(int(status_line.split()[1]), head, body)


def get_raw(worker, target: str | bytes, *headers: bytes | str, host: str = "127.0.0.1") -> RawReply:
    target = target.encode("latin-1") if isinstance(target, str) else target
    lines = [h.encode("latin-1") if isinstance(h, str) else h for h in headers]
    return raw(worker, b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
               + b"".join(line + b"\r\n" for line in lines) + b"Connection: close\r\n\r\n")


def hero(reply) -> tuple[str, str, str]:
    """(rule, variant, content) of the first hero slot on the home page."""
    match = _HERO.search(reply.text)
    assert match, reply.text[:3000]
    return match.groups()


def set_cookies(reply) -> list[str]:
    return reply.headers.get_all("set-cookie") or []


def visitor_of(set_cookie: str) -> str:
    """The visitor id inside a Set-Cookie header (the Worker's own cookie format)."""
    body = set_cookie.split(";")[0].split("=", 1)[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))[1]


def cookie_parts(cookie: str) -> tuple[str, str, str]:
    """`pz=<kid>.<body>.<mac>` -> (kid, body, mac)."""
    kid, body, mac = cookie.split("=", 1)[1].split(".")
    return kid, body, mac


def session_cookie(keys: SessionKeys, visitor_id: str, cart_value: float = 0.0) -> str:
    """A Cookie header for a returning visitor, signed with `keys` (not necessarily the Worker's)."""
    value = mint(keys, now=time.time(), visitor_id=visitor_id, idle=5, pages=2, visits=1, stage=0,
                 cart_value=cart_value, cart_items=1 if cart_value else 0, categories=(), products=(),
                 searches=0, purchases=0)
    return f"{COOKIE_NAME}={value}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def personalized(reply) -> bool:
    return b"data-pz-rule=" in reply.body


@pytest.fixture(scope="module", autouse=True)
def warm(worker):
    """The first requests of a fresh isolate may miss KV_BUDGET_MS and fail open: not under test here."""
    worker.get_until("/", personalized)


@pytest.fixture(scope="module")
def keys(dev_secrets) -> SessionKeys:
    return SessionKeys.parse(dev_secrets["SESSION_KEYS"])


@pytest.fixture(scope="module")
def genuine(keys) -> str:
    """Visitor A's genuine cookie: its cart makes the `premium` rule show PREMIUM."""
    return session_cookie(keys, "abuse-visitor-a-00000001", GENUINE_CART)


@pytest.fixture(scope="module")
def other(keys) -> str:
    """Visitor B's genuine cookie: an empty cart."""
    return session_cookie(keys, "abuse-visitor-b-00000001")


def assert_new_visitor(reply, *not_ids: str) -> None:
    """The page of a first-time visitor, with a new id: nothing of a forged or spliced cookie."""
    assert reply.status == 200
    assert hero(reply)[:2] == ("onboarding", "hero-onboarding")
    assert PREMIUM not in reply.text
    [cookie] = set_cookies(reply)
    assert visitor_of(cookie) not in not_ids


# --- forged, spliced and replayed cookies ---------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "dev1:" + "an-attackers-guess-at-the-secret-000001",   # the Worker's key id, another secret
    "evil:" + "an-attackers-own-secret-0000000000000001",   # a key id the Worker does not have
])
def test_a_cookie_signed_with_a_key_the_worker_does_not_hold_is_a_new_visitor(worker, spec):
    forged = session_cookie(SessionKeys.parse(spec), "abuse-forger-000000001", GENUINE_CART)
    assert_new_visitor(worker.get("/", headers={"Cookie": forged}), "abuse-forger-000000001")


def test_a_genuine_cookie_is_recognised(worker, genuine):
    """The baseline the forgeries are measured against."""
    reply = worker.get("/", headers={"Cookie": genuine})
    assert hero(reply) == ("premium", "hero-premium", f'<b class="pz">{PREMIUM}</b>')
    assert visitor_of(set_cookies(reply)[0]) == "abuse-visitor-a-00000001"


@pytest.mark.parametrize("splice", [
    lambda a, b: (a[0], a[1], b[2]),                       # A's state under B's MAC
    lambda a, b: (b[0], b[1], a[2]),                       # B's state under A's MAC
    lambda a, b: (a[0], b64(unb64(a[1]).replace(b"abuse-visitor-a", b"abuse-visitor-b")), a[2]),  # B's id, A's cart
    lambda a, b: (a[0], b64(unb64(a[1]).replace(b"777.0", b"999.0")), a[2]),  # a bigger cart, MAC kept
    lambda a, b: (a[0], a[1] + "=", a[2]),                 # decodes alike, but the MAC covers the text
    lambda a, b: ("DEV1", a[1], a[2]),                     # the key id in another case
    lambda a, b: (a[0], b64(unb64(a[1]) + b" "), a[2]),    # JSON that parses alike
], ids=["a-state-b-mac", "b-state-a-mac", "visitor-id-swapped", "cart-raised", "body-padded", "key-id-case",
        "trailing-space"])
def test_spliced_cookies_are_refused(worker, genuine, other, splice):
    kid, body, mac = splice(cookie_parts(genuine), cookie_parts(other))
    reply = worker.get("/", headers={"Cookie": f"{COOKIE_NAME}={kid}.{body}.{mac}"})
    assert_new_visitor(reply, "abuse-visitor-a-00000001", "abuse-visitor-b-00000001")


def test_a_replayed_cookie_gets_exactly_that_visitors_page(worker, genuine):
    """Inherent to a bearer cookie: whoever presents A's cookie (HttpOnly, Secure, SameSite=Lax) is
    A to the Worker, from any device, agent, address or country. They get A's page, nothing more."""
    own = worker.get("/", headers={"Cookie": genuine, "User-Agent": BROWSER})
    replayed = worker.get("/", headers={"Cookie": genuine, "User-Agent": "curl/8.5.0", "Accept-Language": "de",
                                        "X-Forwarded-For": "203.0.113.9"}, cf={"country": "DE"})
    assert hero(replayed) == hero(own) == ("premium", "hero-premium", f'<b class="pz">{PREMIUM}</b>')
    assert visitor_of(set_cookies(replayed)[0]) == visitor_of(set_cookies(own)[0]) == "abuse-visitor-a-00000001"


LOGGED_IN_ANYONE = "logged_in=1"


def test_claiming_to_be_logged_in_does_not_unlock_the_loyalty_reward(worker, other):
    """`logged_in` is the site's own cookie, unsigned, so anyone can claim it; the loyalty rule's other
    half (3+ purchases) comes from the KV profile of the signed visitor id, which a claim cannot forge."""
    for cookie in (LOGGED_IN_ANYONE, f"{other}; {LOGGED_IN_ANYONE}"):
        assert hero(worker.get("/", headers={"Cookie": cookie}))[0] != "loyalty"


# Cookie headers of odd shapes: "A" recognises visitor A, "new" is a first-time visitor.
ODD_COOKIES = [
    ("{a}; pz=garbage", "A"),                              # the first pz counts
    ("pz=garbage; {a}", "new"),                            # ... even when it is garbage (intentedge/session.py cookie_value: "the first one")
    ("{a}; {b}", "A"),                                     # two genuine cookies: the first
    ('pz="{av}"', "new"),                                  # a quoted value is not one the Worker wrote
    ("pz = {av}", "new"),                                  # spaces around "=": not our cookie name
    ("   {a}   ; x=1", "A"),                               # spaces around the pair
    ("{a}\u00e9", "new"),                                  # a byte beyond ASCII (sent as latin-1)
    ("{a}; big=" + "x" * 8_000, "A"),                      # 8 KB header
    ("big=" + "x" * 64_000 + "; {a}", "A"),                # 64 KB header
    ("; ".join(f"c{i}=v{i}" for i in range(500)) + "; {a}", "A"),   # 500 cookies
    ("pz=", "new"),
    ("pz", "new"),
    ("pz=" + "A" * 2_000, "new"),                          # over the 1 KB the Worker accepts
    ("pz=dev1..", "new"),
    ("pz=dev1.e30.e30.e30", "new"),                        # four parts
    ("pz={av}%0d%0aSet-Cookie:%20evil=1", "new"),           # CR/LF, percent-encoded, in the value
    (";;;=;=;pz;==pz=;{a}", "A"),                          # empty pairs and stray separators first
]


@pytest.mark.parametrize("template, who", ODD_COOKIES, ids=[
    "genuine-then-garbage", "garbage-then-genuine", "two-genuine", "quoted", "spaced-equals", "padded",
    "latin1-byte", "8k", "64k", "500-cookies", "empty-value", "no-value", "oversized", "empty-parts",
    "four-parts", "crlf-encoded", "stray-separators"])
def test_odd_cookie_headers_give_a_page_never_an_error(worker, genuine, other, template, who):
    cookie = template.format(a=genuine, b=other, av=genuine.split("=", 1)[1])
    reply = worker.get("/", headers={"Cookie": cookie})
    assert reply.status == 200
    [set_cookie] = set_cookies(reply)
    assert set_cookie.startswith(f"{COOKIE_NAME}=dev1.") and "evil" not in set_cookie
    if who == "A":
        assert hero(reply)[0] == "premium" and visitor_of(set_cookie) == "abuse-visitor-a-00000001"
    else:
        assert_new_visitor(reply, "abuse-visitor-a-00000001")


@pytest.mark.parametrize("first_is_pz", [True, False], ids=["pz-first", "pz-second"])
def test_a_cookie_header_sent_twice_keeps_the_session(worker, genuine, first_is_pz):
    lines = [f"Cookie: {genuine}", "Cookie: x=1"]
    reply = get_raw(worker, "/", *(lines if first_is_pz else lines[::-1]))
    assert reply.status == 200
    assert PREMIUM.encode() in reply.body


def _state(**changes) -> list:
    now = int(time.time())
    state = [1, "abuse-shape-visitor-0001", now - 60, now - 5, 2, 1, 0, [], [], 0.0, 0, 0, 0, False, 0, []]
    for index, value in changes.items():
        state[int(index.lstrip("_"))] = value
    return state


# Signed with the Worker's own key, so only a key holder can send them: the decoder must still treat
# every shape it did not write as a new visitor. (Unsigned, none of them is even decoded.)
WRONG_SHAPES = {
    "empty-list": [],
    "object": {"visitor_id": "abuse-shape-visitor-0001", "cart_value": 999},
    "string": "pz",
    "number": 1,
    "null": None,
    "version-2": _state(_0=2),
    "version-true": _state(_0=True),
    "short-visitor-id": _state(_1="short"),
    "visitor-id-number": _state(_1=12345678901234567890),
    "negative-pages": _state(_4=-1),
    "float-pages": _state(_4=2.5),
    "bool-pages": _state(_4=True),
    "huge-pages": _state(_4=2 ** 64),
    "started-after-last-seen": _state(_2=int(time.time()) + 10),
    "from-the-future": _state(_2=int(time.time()) + 3600, _3=int(time.time()) + 3600),
    "expired": _state(_2=1, _3=1),
    "negative-cart": _state(_9=-5.0),
    "cart-as-string": _state(_9="999"),
    "categories-of-numbers": _state(_7=[1, 2]),
    "category-too-long": _state(_7=["c" * 65]),
    "impressions-not-triples": _state(_15=[[1, 2]]),
    "impressions-object": _state(_15={"1": [1, 1]}),
    "seventeen-fields": _state() + [0],
    "deep-nesting": json.loads("[" * 300 + "]" * 300),
    # JSON can say these, the cookie writer cannot: accepted, the session could not be written back,
    # and the error came after the rewriter had taken the page (a 500, "Body has already been used")
    "infinite-cart": _state(_9=float("inf"), _10=1),
    "lone-surrogate-category": _state(_7=["\ud800"]),
}


@pytest.mark.parametrize("state", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_signed_state_of_the_wrong_shape_is_a_new_visitor(worker, keys, state):
    value = _sign(json.dumps(state).encode(), keys)
    assert_new_visitor(worker.get("/", headers={"Cookie": f"{COOKIE_NAME}={value}"}), "abuse-shape-visitor-0001")


def test_control_bytes_in_the_cookie_header_never_reach_a_response_header(worker, genuine):
    nul = get_raw(worker, "/", b"Cookie: " + genuine.encode() + b"\x00evil=1")
    assert nul.status == 400                                 # the platform refuses it; the Worker never runs
    bare_cr = get_raw(worker, "/", b"Cookie: pz=x\rSet-Cookie: evil=1")
    assert bare_cr.status == 200
    assert all(line.startswith(f"{COOKIE_NAME}=dev1.") for line in
               (value.split(":", 1)[1].strip() for value in bare_cr.header_lines("set-cookie")))
    assert not any("evil" in line for line in bare_cr.head)


# --- template parameters carrying markup, template syntax and control characters -------------------

HOSTILE_VALUES = {
    "script": "<script>alert(1)</script>",
    "attribute-breakout": '"><img src=x onerror=alert(1)>',
    "single-quote-breakout": "' onmouseover='alert(1)",
    "textarea-close": "</textarea><svg onload=alert(1)>",
    "comment-open": "<!-- x",
    "cdata": "<![CDATA[x]]>",
    "already-escaped": "&lt;script&gt;",
    "double-braces": "{{ }} {{",
    "a-template-parameter": "{request.query.x}",            # must not be expanded a second time
    "a-format-spec": "{cart.value:>99999}",
    "javascript-url": "javascript:alert(1)",
    "bidi-override": "\u202eevil\u202c",
    "nul": "a\x00b",
    "crlf": "a\r\nSet-Cookie: evil=1",
    "long": "<" * 5_000,
}


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_query_values_are_escaped_once_and_expanded_never(worker, value):
    """`hello {request.query.name}` (an html fragment): the value is HTML-escaped, exactly once."""
    reply = worker.get(f"/?hello=1&x=EXPANDED&name={quote(value, safe='')}", headers={"User-Agent": BROWSER})
    assert reply.status == 200
    assert hero(reply) == ("hello", "hero-hello", f'<b class="pz">hello {html.escape(value)}</b>')
    assert "EXPANDED" not in reply.text
    assert not any("evil" in value for value in set_cookies(reply))


def test_utm_values_are_never_inserted_raw(worker):
    reply = worker.get("/?utm_source=%3Cscript%3Ealert(1)%3C%2Fscript%3E&utm_campaign=%22%3E%3Cimg%3E")
    assert reply.status == 200 and "<script>alert(1)" not in reply.text and '"><img>' not in reply.text


# --- header injection ----------------------------------------------------------------------------

INJECTED_TARGETS = {
    "query-crlf": "/?hello=1&name=x%0d%0aSet-Cookie:%20evil=1%0d%0aX-Evil:%201",
    "query-lf": "/?hello=1&name=x%0aX-Evil:%201",
    "path-crlf": "/%0d%0aSet-Cookie:%20evil=1",
    "path-crlf-product": "/products/camera.html%0d%0aX-Evil:%201",
    "utm-crlf": "/?utm_source=%0d%0aX-Evil:%201&gclid=%0d%0aSet-Cookie:%20evil=1",
    "preview-forged": "/?pz_preview=dev1.9999999999.%0d%0aX-Evil:%201&pz_rule=%0d%0aX-Evil:%201",
    "raw-high-bytes": b"/?hello=1&name=\xff\xfe%0d%0aX-Evil:%201",
}


def assert_no_injected_header(reply: RawReply) -> None:
    for line in reply.head:
        assert "evil" not in line.lower(), line
    for line in reply.header_lines("set-cookie"):
        assert line.split(":", 1)[1].strip().startswith(f"{COOKIE_NAME}=")
    assert len(reply.header_lines("set-cookie")) <= 1


@pytest.mark.parametrize("target", INJECTED_TARGETS.values(), ids=INJECTED_TARGETS.keys())
def test_no_request_value_reaches_a_response_header(worker, target):
    reply = get_raw(worker, target, f"User-Agent: {BROWSER}")
    assert reply.status in (200, 404)                       # a page, or the origin's own 404
    assert_no_injected_header(reply)


@pytest.fixture(scope="module")
def token(keys) -> str:
    return mint_token(keys, now=time.time(), ttl=600)


def test_preview_values_with_crlf_keep_the_trace_on_one_line(worker, token):
    """A valid token lets a marketer set any attribute; what they set goes into X-PZ-Trace, which
    must stay one header line of JSON whatever the values hold."""
    reply = get_raw(worker, f"/?pz_preview={token}&pz_set.request.country=%0d%0aSet-Cookie:%20evil=1"
                            f"&pz_set.request.city=%E2%80%AE%00%0a&pz_rule=%0d%0aX-Evil:%201&pz_tier=%0d%0a")
    assert reply.status == 200
    assert reply.header_lines("set-cookie") == []           # a preview leaves the session alone
    [trace_line] = reply.header_lines("x-pz-trace")
    assert not any(line.lower().startswith(("x-evil", "set-cookie")) for line in reply.head)
    trace = json.loads(trace_line.split(":", 1)[1])
    assert trace["preview"]["set"] == {"request.country": "\r\nSet-Cookie: evil=1", "request.city": "\u202e\x00\n"}
    assert trace["preview"]["rule"] == "\r\nX-Evil: 1" and trace["preview"]["forced"] == "unknown rule"


@pytest.mark.parametrize("bad", [
    "dev1.%C2%B2.AAAA",                                      # a digit int() refuses ("²")
    "dev1.%D9%A1%D9%A2%D9%A3.AAAA",                          # Arabic-Indic digits
    "dev1.9999999999.%C3%A9%C3%A9",                          # a MAC beyond ASCII
    "dev1.99999999999999999999.AAAA",                        # an expiry too long
    "dev1.-1.AAAA",
    "." * 3,
    "dev1." + "9" * 5 + "." + "A" * 5_000,                   # a long MAC
    "%00.%00.%00",
], ids=["superscript-digit", "arabic-digits", "non-ascii-mac", "long-expiry", "negative-expiry", "dots",
        "long-mac", "nuls"])
def test_a_malformed_preview_token_is_an_ordinary_page_view(worker, bad):
    """Not a preview, and not a failure either: the page is personalized as usual."""
    reply = worker.get(f"/?pz_preview={bad}&pz_rule=product-hero&pz_set.cart.value=500", headers={"User-Agent": BROWSER})
    assert reply.status == 200 and hero(reply)[:2] == ("onboarding", "hero-onboarding")
    assert "x-pz-trace" not in reply.headers and len(set_cookies(reply)) == 1


@pytest.mark.parametrize("value", ["1e999", "-1e999", "-1e308", "9" * 256, "[1,2]", '{"a":1}', "null", "true"])
def test_preview_values_of_any_kind_give_a_page(worker, token, other, value):
    reply = worker.get(f"/?pz_preview={token}&pz_rule=premium&pz_set.cart.value={quote(value)}",
                       headers={"Cookie": other})
    assert reply.status == 200 and reply.headers["cache-control"] == "private, no-store"
    assert hero(reply)[0] in ("premium", "fallback")      # a value the template cannot format: the fallback
    assert "x-pz-trace" in reply.headers


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e999"])
def test_the_preview_trace_is_strict_json(worker, token, value):
    reply = worker.get(f"/?pz_preview={token}&pz_set.cart.value={value}")

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    json.loads(reply.headers["x-pz-trace"], parse_constant=refuse)


# --- huge requests --------------------------------------------------------------------------------

# (target, headers, what comes back): "page" = a personalized 200; a number = that status, from the
# origin (404) or from the platform before the Worker runs (414, 431).
HUGE = {
    "query-16k": ("/?q=" + "b" * 16_000, {}, "page"),
    "query-100k": ("/?q=" + "b" * 100_000, {}, 414),
    "query-8000-params": ("/?" + "&".join(f"k{i}=v" for i in range(8_000)), {}, "page"),
    "query-param-in-template-16k": ("/?hello=1&name=" + "%3C" * 5_000, {}, "page"),
    "path-16k": ("/" + "a" * 16_000, {}, 404),
    "path-100k": ("/" + "a" * 100_000, {}, 414),
    "header-60k": ("/", {"X-Big": "a" * 60_000}, "page"),
    "header-100k": ("/", {"X-Big": "a" * 100_000}, 431),
    "headers-1000": ("/", {f"X-H{i}": "v" for i in range(1_000)}, 431),
    "user-agent-30k": ("/", {"User-Agent": "Mozilla/5.0 (Linux; " + "Android " * 4_000 + "Mobile"}, "page"),
    "referer-30k": ("/", {"Referer": "https://www.google.com/" + "a" * 30_000}, "page"),
    "accept-language-30k": ("/", {"Accept-Language": "en;q=0.5," * 3_000}, "page"),
}


@pytest.mark.parametrize("target, headers, expected", HUGE.values(), ids=HUGE.keys())
def test_huge_requests_get_a_page_or_the_platforms_4xx(worker, target, headers, expected):
    reply = worker.get(target, headers=headers)
    if expected == "page":
        assert reply.status == 200 and b"data-pz-rule=" in reply.body
        assert len(set_cookies(reply)) == 1
    else:
        assert reply.status == expected


@pytest.mark.parametrize("cf", [
    {"timezone": "Mars/Olympus_Mons", "country": "<b>XX</b>", "city": "<script>"},
    {"timezone": "A" * 5_000, "region": "\r\nX-Evil: 1"},
    {"timezone": 5, "country": ["DE"], "city": {"name": "x"}, "botManagement": "yes"},
    {"botManagement": {"verifiedBot": "true"}},              # truthy, not true: not a verified bot
], ids=["hostile-strings", "huge-timezone", "wrong-types", "verified-bot-as-string"])
def test_odd_request_cf_gives_a_page(worker, cf):
    """`request.cf` comes from Cloudflare, not the visitor; locally a test can send anything."""
    reply = worker.get("/?clock=1", cf=cf)
    assert reply.status == 200 and hero(reply)[0] == "onboarding"
    assert "<script>" not in reply.text and "<b>XX" not in reply.text


# --- methods and request targets -------------------------------------------------------------------

@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "OPTIONS", "DELETE", "PATCH", "MKCOL"])
def test_other_methods_reach_the_origin_untouched(worker, genuine, method):
    reply = worker.request(method, "/", headers={"Cookie": genuine})
    assert reply.status == 501 and f"Unsupported method ('{method}')".encode() in reply.body   # the origin's answer
    assert set_cookies(reply) == [] and b"data-pz" not in reply.body


def test_head_of_a_personalized_page_is_the_origins_and_sets_no_cookie(worker, genuine):
    reply = worker.request("HEAD", "/", headers={"Cookie": genuine})
    assert (reply.status, reply.body) == (200, b"")
    assert set_cookies(reply) == [] and reply.headers["x-origin"] == "test-origin"


@pytest.mark.parametrize("request_head, status", [
    (b"get / HTTP/1.1\r\nHost: 127.0.0.1", 501),            # methods are case-sensitive
    (b"GET / HTTP/1.1", 400),                                # no Host
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a\x00b", 400),   # NUL in a header
], ids=["lowercase-get", "no-host", "nul-in-header"])
def test_malformed_requests_are_refused_by_the_platform(worker, request_head, status):
    assert raw(worker, request_head + b"\r\nConnection: close\r\n\r\n").status == status


@pytest.mark.parametrize("request_head", [
    b"GET http://evil.example/abuse-absolute HTTP/1.1\r\nHost: 127.0.0.1",   # absolute form
    b"GET /abuse-host HTTP/1.1\r\nHost: [::1",
    b"GET /abuse-host HTTP/1.1\r\nHost: example.com:99999",
    b"GET /abuse-host HTTP/1.1\r\nHost: evil.example/x",
    b"GET /abuse-host HTTP/1.1\r\nHost: a@evil.example",
    b"GET /abuse-host HTTP/1.1\r\nHost: x\r\nHost: y",
], ids=["absolute-form", "open-bracket", "port-out-of-range", "slash", "userinfo", "two-hosts"])
def test_targets_and_hosts_workerd_cannot_parse_never_reach_the_worker(worker, origin, request_head):
    """workerd answers these itself (a 500, and an 'Uncaught exception' line of its own HTTP server in
    the log) before any Worker code runs: nothing reaches the origin and no decision is logged. On
    Cloudflare's edge the front end refuses them first; nothing in the Worker can catch them."""
    seen, mark = len(origin.requests), worker.log_mark()
    reply = raw(worker, request_head + b"\r\nConnection: close\r\n\r\n")
    assert reply.status in (400, 500)
    assert len(origin.requests) == seen
    assert '"event":' not in worker.log()[mark:]


def test_a_get_with_a_body_is_personalized(worker, origin):
    """A 'fat GET': the platform accepts it; the Worker serves the page (see test_abuse_cache.py
    for what the body must not do to a stored page)."""
    reply = worker.request("GET", "/", body=b"name=<script>", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 200 and hero(reply)[0] == "onboarding"


# --- the log --------------------------------------------------------------------------------------

# What workerd's own HTTP server logs for a request it refuses before any Worker code runs
# (test_targets_and_hosts_workerd_cannot_parse_never_reach_the_worker), and for a response stream
# the origin cut off (test_origin_faults.py: the client sees the connection end), each followed by
# a `stack:` line. Anything else that looks like an uncaught exception is the Worker's.
PLATFORM_REFUSAL = re.compile(
    r"^workerd/server/server\.c\+\+:\d+: error: Uncaught exception: "
    r"(kj/compat/url\.c\+\+:\d+: failed: .*(invalid URL|invalid hostname when stringifying URL)"
    r"|workerd/jsg/.*: failed: remote\.jsg\.TypeError: Invalid URL string\.$"
    r"|kj/(compat/http|async-io)\.c\+\+:\d+: disconnected: remote\.worker_do_not_log; "
    r"Request failed due to internal error$)")
UNCAUGHT = re.compile(r"Traceback \(most recent call last\)|PythonError|Uncaught|^\s*(\w+)?Error: ")


def uncaught_exceptions(log: str) -> list[str]:
    """Lines of a Worker log that report an exception nobody caught: Python tracebacks, JS
    `Uncaught ...`, bare `Error:` lines. The Worker's own JSON lines (fail_open, ...) are caught."""
    found, after_refusal = [], False
    for line in log.splitlines():
        if PLATFORM_REFUSAL.match(line):
            after_refusal = True
            continue
        if after_refusal and line.startswith("stack: "):
            after_refusal = False
            continue
        after_refusal = False
        if not line.startswith('{"event":') and UNCAUGHT.search(line):
            found.append(line[:500])
    return found


def test_the_worker_still_serves_and_logged_no_uncaught_exception(worker):
    """Last in this module: after everything above, a visitor gets a personalized page, and the log
    of the whole session so far holds no uncaught exception."""
    mark = worker.log_mark()
    reply = worker.get("/?abuse=done", headers={"User-Agent": BROWSER})
    assert reply.status == 200 and hero(reply)[0] == "onboarding"
    worker.wait_for_log('"event":"decision"', since=mark)   # the log has caught up with the requests
    assert uncaught_exceptions(worker.log()) == []
