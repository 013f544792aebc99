"""Abuse of the caches: nothing personalized may reach another visitor from any cache, and no
visitor may plant content in the page cache that another visitor is then served.

The first half runs against the session's Worker and test origin. The second runs its own Worker
("the shop") in front of an origin that writes into its page whatever it was sent (query, the
headers that cache-poisoning attacks use, cookies, a GET body), as many real origins do in
canonical links, forms or redirects, so that whatever reaches a stored page shows.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from intentedge.preview import mint_token
from intentedge.session import SessionKeys

from .conftest import ROOT, run_worker
from .test_abuse import (
    BROWSER,
    get_raw,
    personalized,
    set_cookies,
    uncaught_exceptions,
    visitor_of,
    warm,  # noqa: F401  (a fixture: the Worker is past its cold start)
)

CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SLOT = re.compile(r'<div data-personalized-region="hero"([^>]*)>(.*?)</div>', re.DOTALL)


def page_hit(reply) -> bool:
    return 'pz-page;desc="HIT"' in reply.headers.get("server-timing", "")


def fresh_page(request) -> str:
    """A page of the test origin that it lets shared caches keep for 60 s, unique to the test."""
    return f"/cache/fresh/abuse-{re.sub(r'[^a-z0-9]+', '-', request.node.name.lower())}.html"


def slot(reply) -> tuple[str, str]:
    """(markers, content) of the hero slot of a /cache/ page."""
    match = SLOT.search(reply.text)
    assert match, reply.text
    return match.groups()


# --- the session's Worker and its page cache -------------------------------------------------------

def test_one_visitors_page_never_reaches_another_through_the_page_cache(worker, origin, mint_cookie, request):
    page = fresh_page(request)
    visitor_a = mint_cookie("abuse-cache-visitor-a01", cart_value=777.0, cart_items=1)
    first = worker.get(page, headers={"Cookie": visitor_a})
    assert "premium 777.00" in first.text
    # A again until A's request is answered from the page cache: A filled it
    worker.get_until(page, page_hit, headers={"Cookie": visitor_a})
    stored = origin.hits(page)
    others = {
        "new visitor": worker.get(page),
        "crawler": worker.get(page, headers={"User-Agent": CRAWLER}),
        "another visitor": worker.get(page, headers={"Cookie": mint_cookie("abuse-cache-visitor-c01",
                                                                            cart_value=300.0, cart_items=1)}),
    }
    assert origin.hits(page) == stored
    for who, reply in others.items():
        assert page_hit(reply), who
        assert "777" not in reply.text, who
        assert all(visitor_of(cookie) != "abuse-cache-visitor-a01" for cookie in set_cookies(reply)), who
    assert slot(others["new visitor"])[1] == '<b class="pz">onboarding</b>'
    assert slot(others["crawler"])[1] == '<em class="pz">default hero</em>'
    assert slot(others["another visitor"])[1] == '<b class="pz">premium 300.00</b>'


def test_concurrent_visitors_each_get_their_own_page(worker, origin, mint_cookie, request):
    """Mixed visitors at once on one cacheable page (cold, then stored) and on an uncached one:
    every reply is its own requester's, and no Set-Cookie carries another visitor's id."""
    cached = fresh_page(request)
    visitors = {
        "a": (mint_cookie("abuse-race-visitor-a001", cart_value=777.0, cart_items=1), "premium 777.00"),
        "b": (mint_cookie("abuse-race-visitor-b001", cart_value=212.0, cart_items=1), "premium 212.00"),
        "new": ("", "onboarding"),
        "crawler": ("", "default hero"),
    }

    def visit(job):
        path, who = job
        cookie, _ = visitors[who]
        headers = {"User-Agent": CRAWLER if who == "crawler" else BROWSER}
        if cookie:
            headers["Cookie"] = cookie
        return path, who, worker.get(path, headers=headers)

    jobs = [(path, who) for _ in range(6) for path in (cached, "/") for who in visitors]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(visit, jobs))
    new_ids = set()
    for path, who, reply in replies:
        assert reply.status == 200, (path, who)
        expected = visitors[who][1]
        assert expected in reply.text, (path, who, reply.text)
        for other, (_, shown) in visitors.items():
            if other != who:
                assert shown not in reply.text, (path, who, other)
        cookies = set_cookies(reply)
        if who == "crawler":
            assert cookies == []
        elif who == "new":
            new_ids.add(visitor_of(cookies[0]))
        else:
            assert [visitor_of(c) for c in cookies] == [f"abuse-race-visitor-{who}001"]
    assert len(new_ids) == 12                       # every new visitor got an id of their own
    # misses until the anonymous fill lands (how many depends on the machine's load), then hits
    assert origin.hits(cached) < sum(1 for path, _ in jobs if path == cached)


def test_a_burst_right_after_a_miss_is_served_whole(worker, mint_cookie, request):
    """The first visitor's copy is still going into the cache while the next ones arrive: each of
    them gets a whole, personalized page of its own (no request waits on another request's I/O,
    which workerd answers with a 500, 'The script will never generate a response')."""
    for round_ in range(5):
        page = fresh_page(request).replace(".html", f"-{round_}.html")
        assert worker.get(page).status == 200
        cookies = [mint_cookie(f"abuse-burst-visitor-{i:04d}", cart_value=100.0 + i, cart_items=1) for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda cookie, page=page: worker.get(page, headers={"Cookie": cookie}), cookies))
        for i, reply in enumerate(replies):
            assert reply.status == 200, reply.text[:500]
            assert '<b class="pz">onboarding</b>' not in reply.text
            assert visitor_of(set_cookies(reply)[0]) == f"abuse-burst-visitor-{i:04d}"


@pytest.fixture(scope="module")
def token(dev_secrets) -> str:
    return mint_token(SessionKeys.parse(dev_secrets["SESSION_KEYS"]), now=time.time(), ttl=600)


REQUESTS = {   # what a visitor sends: (headers, query)
    "new-visitor": ({}, ""),
    "returning": ({"Cookie": "{cookie}"}, ""),
    "crawler": ({"User-Agent": CRAWLER}, ""),
    "gpc": ({"Sec-GPC": "1", "Cookie": "{cookie}"}, ""),
    "preview": ({"Cookie": "{cookie}"}, "?pz_preview={token}&pz_rule=premium"),
    "query-template": ({}, "?hello=1&name=abuse"),
}


@pytest.mark.parametrize("path", ["/", "cached"])
@pytest.mark.parametrize("headers, query", REQUESTS.values(), ids=REQUESTS.keys())
def test_every_personalized_response_is_private_and_varies_on_cookie(worker, mint_cookie, token, request,
                                                                     path, headers, query):
    """Browsers and shared caches downstream must not keep a personalized page either."""
    page = fresh_page(request) if path == "cached" else path
    cookie = mint_cookie(cart_value=400.0, cart_items=1)
    headers = {name: value.format(cookie=cookie) for name, value in headers.items()}
    for _ in range(2):                              # a miss, then (cached page) a hit
        reply = worker.get(page + query.format(token=token), headers=headers)
        assert b"data-pz-rule=" in reply.body
        assert reply.headers["cache-control"] == "private, no-store"
        assert "cookie" in [v.strip().lower() for v in reply.headers["vary"].split(",")]
        assert "etag" not in reply.headers and "last-modified" not in reply.headers


def test_a_forged_host_gets_a_cache_entry_of_its_own(worker, origin, request):
    """The key holds the Host: a request naming another host cannot plant a page under this one's."""
    page = fresh_page(request)
    deadline = time.monotonic() + 10
    while 'pz-page;desc="HIT"' not in "".join(get_raw(worker, page, host="evil.example").header_lines("server-timing")):
        assert time.monotonic() < deadline, "the forged host's page was never stored"
        time.sleep(0.05)
    forged_hits = origin.hits(page)
    reply = worker.get(page)
    assert 'pz-page;desc="MISS"' in reply.headers["server-timing"]
    assert origin.hits(page) > forged_hits


def test_dot_segments_share_one_key_and_reach_the_origin_resolved(worker, origin, request):
    page = fresh_page(request)
    name = page.rsplit("/", 1)[1]
    worker.get(page)
    worker.get_until(page, page_hit)
    stored = origin.hits(page)
    for variant in (f"/cache/fresh/./{name}", f"/cache/x/../fresh/{name}", f"/cache/fresh/%2e/{name}",
                    f"/cache/x/%2e%2e/fresh/{name}"):
        assert page_hit(worker.get(variant)), variant
    assert origin.hits(page) == stored
    assert {seen.path for seen in origin.requests if name in seen.path} == {page}


def test_head_neither_fills_nor_reads_the_page_cache(worker, origin, mint_cookie, request):
    page = fresh_page(request)
    head = worker.request("HEAD", page, headers={"Cookie": mint_cookie(cart_value=777.0, cart_items=1)})
    assert (head.status, head.body, set_cookies(head)) == (200, b"", [])
    assert origin.hits(page, "HEAD") == 1
    assert 'pz-page;desc="MISS"' in worker.get(page).headers["server-timing"]


# --- the shop: an origin that writes what it was sent into its page --------------------------------

MODES = ("html", "text", "append", "prepend", "before", "after", "replace")   # one fragment each
SHOP_CONFIG = """
[signals]
login_cookie = "logged_in"

[slots.hero]
fallback = "hero-default"

[fragments.hero-default]
html = '<em class="pz">default hero</em>'

[fragments.hero-premium]
html = '<b class="pz">premium {cart.value:.2f}</b>'

[fragments.say-html]
html = '<b class="pz" title="{request.query.say}">said {request.query.say}</b>'

[fragments.say-text]
text = "said {request.query.say}"

[fragments.say-after]
text = "after {request.query.say}"
op = "after"

[fragments.say-replace]
html = '<p class="pz">replaced {request.query.say}</p>'
op = "replace"

[fragments.say-append]
text = "appended {request.query.say}"
op = "append"

[fragments.say-prepend]
html = '<i class="pz">prepended {request.query.say}</i>'
op = "prepend"

[fragments.say-before]
html = '<p class="pz">before {request.query.say}</p>'
op = "before"

[fragments.from-utm]
html = '<b class="pz">from {request.utm.source}</b>'

[[rules]]
id = "premium"
slot = "hero"
fragment = "hero-premium"
when = { "cart.value" = { "$gt" = 150 } }

[[rules]]
id = "from-utm"
slot = "hero"
fragment = "from-utm"
priority = 5
when = { "request.utm.source" = { "$exists" = true } }
""" + "".join(f"""
[[rules]]
id = "say-{mode}"
slot = "hero"
fragment = "say-{mode}"
priority = 10
when = {{ "request.query.mode" = "{mode}" }}
""" for mode in MODES)

# What the shop's origin writes into its page: the request inputs cache-poisoning attacks use.
ECHOED_HEADERS = ("authorization", "x-forwarded-host", "x-host", "x-forwarded-server", "x-original-url", "x-rewrite-url",
                  "x-forwarded-scheme", "x-forwarded-proto", "forwarded", "x-http-method-override", "cookie")


@dataclass
class ShopOrigin:
    url: str = ""
    seen: list[dict] = field(default_factory=list)


class _ShopHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._page(send_body=False)

    def do_GET(self) -> None:
        self._page(send_body=True)

    def _page(self, send_body: bool) -> None:
        length = int(self.headers.get("content-length") or 0)
        seen = {"method": self.command, "target": self.path, "body": self.rfile.read(length).decode("latin-1")}
        seen.update((name, self.headers[name]) for name in ECHOED_HEADERS if self.headers.get(name))
        self.server.shop.seen.append(seen)
        body = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>shop</title></head><body>\n'
                '<div data-personalized-region="hero">origin hero</div>\n'
                f'<p id="seen">{html.escape(json.dumps(seen, sort_keys=True))}</p>\n</body></html>\n').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=60")       # shareable: the page cache keeps it
        self.end_headers()
        if send_body:
            self.wfile.write(body)


@pytest.fixture(scope="module")
def shop_origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShopHandler)
    server.shop = ShopOrigin(f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.shop
    server.shutdown()


@pytest.fixture(scope="module")
def shop(shop_origin, staged_worker, dev_secrets, tmp_path_factory):
    """Its own Worker, KV (with SHOP_CONFIG published by the CLI) and page cache."""
    kv_dir = tmp_path_factory.mktemp("abuse-shop-kv")
    config = kv_dir / "shop.toml"
    config.write_text(SHOP_CONFIG)
    cli = shutil.which("intentedge", path=str(Path(sys.executable).parent))
    done = subprocess.run([cli, "publish", "--local", "--persist-to", str(kv_dir), str(config)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for shop in run_worker(staged_worker, tmp_path_factory, kv_dir=kv_dir,
                           bindings={**dev_secrets, "ORIGIN_URL": shop_origin.url}):
        shop.get_until("/", personalized)     # past the cold start, which may miss KV_BUDGET_MS
        yield shop


def shop_page(request, suffix: str = "") -> str:
    return f"/abuse/{re.sub(r'[^a-z0-9]+', '-', request.node.name.lower())}{suffix}.html"


# --- escaping: what a visitor's values become in each kind of fragment -------------------------------

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "attribute-breakout": '"><img src=x onerror=alert(1)>',
    "single-quote-breakout": "' autofocus onfocus='alert(1)",
    "textarea-close": "</textarea><svg onload=alert(1)>",
    "braces": "{{ {request.query.mode} }}",
    "entity": "&lt;b&gt; &amp;",
}


def _expected(mode: str, value: str) -> str:
    escaped = html.escape(value)
    as_text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")   # the rewriter's escaping
    marked = '<div data-personalized-region="hero" data-pz-rule="say-{0}" data-pz-variant="say-{0}">{1}</div>'
    wrap = '<div data-pz-slot="hero" data-pz-rule="say-{0}" data-pz-variant="say-{0}" style="display:contents">{1}</div>'
    origin = '<div data-personalized-region="hero">origin hero</div>'
    return {
        "html": marked.format("html", f'<b class="pz" title="{escaped}">said {escaped}</b>'),
        "text": marked.format("text", f"said {as_text}"),
        "append": marked.format("append", f"origin heroappended {as_text}"),
        "prepend": marked.format("prepend", f'<i class="pz">prepended {escaped}</i>origin hero'),
        "before": wrap.format("before", f'<p class="pz">before {escaped}</p>') + origin,
        "after": origin + wrap.format("after", "after " + html.escape(value, quote=False)),
        "replace": wrap.format("replace", f'<p class="pz">replaced {escaped}</p>'),
    }[mode]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("mode", MODES)
def test_values_are_escaped_in_every_kind_of_fragment(shop, request, mode, value):
    reply = shop.get(f"{shop_page(request)}?mode={mode}&say={quote(value, safe='')}")
    assert reply.status == 200
    assert _expected(mode, value) in reply.text


def test_a_utm_value_is_escaped_for_its_visitor_and_reaches_nobody_else(shop, request):
    page = shop_page(request)
    attacker = shop.get(page + "?utm_source=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert '<b class="pz">from &lt;script&gt;alert(1)&lt;/script&gt;</b>' in attacker.text
    victim = shop.get_until(page, page_hit)
    assert "alert(1)" not in victim.text and '<em class="pz">default hero</em>' in victim.text


# --- cache poisoning through what the cache key leaves out -----------------------------------------


# What an attacker adds to a request for a page: (query, headers, GET body).
UNKEYED = {
    "utm-parameter": ("?utm_source=EVIL", {}, None),
    "utm-parameter-upper-case": ("?UTM_Source=EVIL", {}, None),
    "click-id": ("?gclid=EVIL&fbclid=EVIL", {}, None),
    "preview-parameters": ("?pz_preview=EVIL&pz_rule=EVIL&pz_set.x=EVIL", {}, None),
    "parameter-cloaking": ("?utm_source=x;say=EVIL", {}, None),
    "x-forwarded-host": ("", {"X-Forwarded-Host": "EVIL.example"}, None),
    "x-host": ("", {"X-Host": "EVIL.example"}, None),
    "x-forwarded-server": ("", {"X-Forwarded-Server": "EVIL.example"}, None),
    "forwarded": ("", {"Forwarded": "host=EVIL.example;proto=http"}, None),
    "x-original-url": ("", {"X-Original-URL": "/EVIL"}, None),
    "x-rewrite-url": ("", {"X-Rewrite-URL": "/EVIL"}, None),
    "x-forwarded-scheme": ("", {"X-Forwarded-Scheme": "EVIL"}, None),
    "x-http-method-override": ("", {"X-HTTP-Method-Override": "EVIL"}, None),
    "origin-cookie": ("", {"Cookie": "user=EVIL"}, None),   # with the login cookie: no page cache at all
    "get-body": ("", {"Content-Type": "application/x-www-form-urlencoded"}, b"say=EVIL"),
}


@pytest.mark.parametrize("query, headers, body", UNKEYED.values(), ids=UNKEYED.keys())
def test_an_input_the_cache_key_leaves_out_never_reaches_another_visitor(shop, request,
                                                                         query, headers, body):
    page = shop_page(request)
    assert shop.request("GET", page + query, headers=headers, body=body).status == 200
    # the attacker repeats the request until it is answered from the page cache: the stored copy is
    # the one their request filled
    deadline = time.monotonic() + 10
    while not page_hit(shop.request("GET", page + query, headers=headers, body=body)):
        assert time.monotonic() < deadline, "the page was never stored"
        time.sleep(0.05)
    victim = shop.get(page, headers={"User-Agent": BROWSER})
    assert page_hit(victim)
    assert "EVIL" not in victim.text


def seen_by_origin(reply) -> dict:
    """What the shop's origin was sent for the page in `reply` (it writes that into the page)."""
    match = re.search(r'<p id="seen">(.*?)</p>', reply.text)
    assert match, reply.text
    return json.loads(html.unescape(match.group(1)))


@pytest.mark.parametrize("variant", [
    "/ABUSE/{name}",                    # another case: another URL, another key
    "/abuse/%{hex}{rest}",              # a letter percent-encoded: the runtime leaves it encoded
    "/abuse//{name}",
    "/abuse/x/../{name}",               # dot segments: resolved before the key, so the same key...
    "/abuse/%2e/{name}",
    "/abuse/{name};x=EVIL",
    "/abuse%2F{name}",
], ids=["upper-case", "percent-encoded", "double-slash", "dot-dot", "encoded-dot", "path-parameter",
        "encoded-slash"])
def test_a_stored_page_is_the_origins_page_for_its_own_key(shop, request, variant):
    """...and the origin is asked for the resolved URL: whatever the variant, the copy stored
    under the plain page's key is the origin's answer for the plain page."""
    page = shop_page(request)
    name = page.rsplit("/", 1)[1]
    attack = variant.format(name=name, hex=f"{ord(name[0]):02X}", rest=name[1:])
    shop.get_until(attack, page_hit)
    victim = shop.get_until(page, page_hit)
    assert seen_by_origin(victim)["target"] == page


def test_a_request_with_credentials_is_never_stored(shop, request):
    page = shop_page(request)
    for _ in range(2):
        credentialed = shop.get(page, headers={"Authorization": "Basic RVZJTDpFVklM"})
        assert 'pz-page;desc="BYPASS"' in credentialed.headers["server-timing"]
    assert 'pz-page;desc="MISS"' in shop.get(page).headers["server-timing"]
    assert "RVZJTD" not in shop.get_until(page, page_hit).text


def test_a_personalized_page_is_never_what_the_shop_stores(shop, mint_cookie, request):
    page = shop_page(request)
    buyer = mint_cookie("abuse-shop-buyer-000001", cart_value=777.0, cart_items=1)
    shop.get_until(page, page_hit, headers={"Cookie": buyer})
    crawler = shop.get(page, headers={"User-Agent": CRAWLER})
    assert page_hit(crawler) and "777" not in crawler.text
    assert '<em class="pz">default hero</em>' in crawler.text


def test_neither_worker_logged_an_uncaught_exception(worker, shop):
    """Last in this module."""
    for running in (worker, shop):
        mark = running.log_mark()
        assert running.get("/?abuse=done").status == 200
        running.wait_for_log('"event":"decision"', since=mark)
        assert uncaught_exceptions(running.log()) == []
