"""Whatever the origin does, the visitor gets the origin's response: personalized only where that is
safe, never made worse, never an error the origin did not send, and the Worker keeps serving.

The origin's misbehaviours live under /fault/ in origin.py; test_origin_faults_markup.py covers
what is inside the pages (charsets, slot-like text, nested slots).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from . import origin as site

# Crawlers get every slot's fallback and no cookie: the same bytes on every request.
BOT = {"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
HERO_FALLBACK = b' data-pz-rule="fallback" data-pz-variant="hero-default"><em class="pz">default hero</em>'


def as_crawlers_see(page: bytes) -> bytes:
    """`page` with every (non-nested) hero slot filled as a crawler gets it."""
    return re.sub(rb'(<(\w+) data-personalized-region="hero"[^>]*)>.*?(</\2>)',
                  lambda m: m[1] + HERO_FALLBACK + m[3], page, flags=re.DOTALL)


@dataclass
class RawReply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    complete: bool   # False: the connection ended before the body its framing announced


def fetch(worker, method: str, path: str, *, headers: dict[str, str] | None = None, body=None) -> RawReply:
    """One request with exactly these headers (no Accept-Encoding unless given); a body cut short
    comes back with complete=False instead of raising; an iterable body is sent chunked."""
    parts = urlsplit(worker.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        headers = dict(headers or {})
        if isinstance(body, bytes):
            headers["Content-Length"] = str(len(body))
        elif body is not None:
            headers["Transfer-Encoding"] = "chunked"
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body, encode_chunked="Transfer-Encoding" in headers)
        response = conn.getresponse()
        try:
            return RawReply(response.status, response.headers, response.read(), True)
        except http.client.IncompleteRead as exc:
            return RawReply(response.status, response.headers, exc.partial, False)
    finally:
        conn.close()


def cache_path(policy: str, request) -> str:
    """A /cache/<policy>/ page of this test's own (origin.CACHE_POLICIES)."""
    return f"/cache/{policy}/faults-{request.node.name.replace('[', '-').rstrip(']')}.html"


def page_state(reply) -> str:
    return re.search(r'pz-page;desc="(\w+)"', reply.headers.get("server-timing", "")).group(1)


def log_lines(worker, needle: str, since: int) -> list[str]:
    return [line for line in worker.log()[since:].splitlines() if needle in line]


@pytest.fixture(autouse=True)
def still_serving(worker):
    """After every fault, the next visitor gets a whole, personalized page."""
    yield
    reply = worker.get("/", headers=BOT)
    assert (reply.status, reply.body) == (200, as_crawlers_see(site.SLOTTED))


# --- statuses the origin chose

@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("location", [
    "/fault/not-to-be-followed.html?x=1",
    "https://elsewhere.example/path?q=1",
    "../relative/up",
])
def test_redirects_are_returned_as_sent_never_followed(worker, origin, status, location):
    reply = worker.get(f"/fault/redirect/{status}?to={location}")
    assert reply.status == status
    assert reply.headers["location"] == location
    assert reply.body == b""
    assert "set-cookie" not in reply.headers
    assert origin.hits("/fault/not-to-be-followed.html") == 0


@pytest.mark.parametrize("status", [400, 401, 403, 410, 429, 451, 502, 503, 504])
def test_error_pages_come_back_unchanged(worker, status):
    """An HTML error page with a real slot element: never personalized, validators kept."""
    reply = worker.get(f"/fault/status/{status}")
    assert reply.status == status
    assert reply.body == site.STATUS_PAGE
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["etag"] == '"origin-etag"'
    assert "set-cookie" not in reply.headers and "cache-control" not in reply.headers


def test_a_slow_origin_is_waited_for(worker, origin):
    origin.delays["/fault/slow.html"] = 2.0
    try:
        started = time.monotonic()
        reply = worker.get("/fault/slow.html", headers=BOT)
        assert time.monotonic() - started >= 2.0
    finally:
        origin.delays.pop("/fault/slow.html")
    assert (reply.status, reply.body) == (200, as_crawlers_see(site.SLOTTED))


@pytest.mark.parametrize("path", ["/fault/reset", "/fault/close"])
def test_an_origin_that_hangs_up_before_answering_gives_the_502_page(worker, path):
    """A TCP reset, or a plain close, before any byte of a response: the one error the Worker makes."""
    mark = worker.log_mark()
    reply = worker.get(path)
    assert reply.status == 502
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<h1>502 Bad Gateway</h1>" in reply.body
    worker.wait_for_log('"event":"origin_unreachable"', since=mark)
    assert len(log_lines(worker, '"event":"origin_unreachable"', mark)) == 1


# --- bodies cut off mid-way

def test_a_cut_off_body_that_passes_through_stays_visibly_cut_off(worker):
    """Not HTML: the origin's Content-Length reaches the client, which sees the body fall short."""
    reply = fetch(worker, "GET", "/fault/truncated.txt")
    assert reply.status == 200
    assert reply.headers["content-length"] == str(len(site.SLOTTED))
    assert not reply.complete
    assert reply.body == site.SLOTTED[:len(site.SLOTTED) // 2]


@pytest.mark.parametrize("path", ["/fault/truncated.html", "/fault/truncated-chunked.html"])
def test_a_cut_off_page_is_never_completed_or_extended(worker, path):
    """The Worker cannot make a page whole that the origin cut off; it must not pretend to (nothing
    appended, no error page glued on). What reaches the client is a strict prefix of the page the
    whole body would have given. workerd 1.20240725 ends a response whose body stream failed with a
    clean last chunk, so the client cannot tell (plain workerd does that to any chunked response,
    personalized or not); a runtime that aborts the connection instead gives complete=False."""
    reply = fetch(worker, "GET", path, headers=BOT)
    whole = as_crawlers_see(site.SLOTTED)
    assert reply.status == 200
    assert whole.startswith(reply.body) and len(reply.body) < len(whole)
    assert HERO_FALLBACK in reply.body   # the first slot came before the cut: personalized as it streamed


@pytest.mark.parametrize("mode", ["length", "chunked"])
def test_a_cut_off_page_is_never_stored_in_the_page_cache(worker, origin, request, mode):
    page = cache_path("fresh", request)
    whole = as_crawlers_see(site._page("cached 1", '<div data-personalized-region="hero">v1</div>'))
    mark = worker.log_mark()
    origin.truncating[page] = mode
    try:
        first = fetch(worker, "GET", page, headers=BOT)
        assert whole.startswith(first.body) and len(first.body) < len(whole)
        # the anonymous fetch that fills the cache is cut off too: one line, and nothing stored
        worker.wait_for_log('"event":"page_not_stored"', since=mark)
    finally:
        origin.truncating.pop(page)
    assert len(log_lines(worker, '"event":"page_not_stored"', mark)) == 1
    second = worker.get(page, headers=BOT)
    assert (page_state(second), second.body) == ("MISS", whole)
    third = worker.get_until(page, lambda reply: page_state(reply) == "HIT", headers=BOT)
    assert third.body == whole


# --- encodings and framing

def _decoded(reply: RawReply) -> bytes:
    encoding = reply.headers.get("content-encoding")
    if encoding is None:
        return reply.body
    return {"gzip": gzip.decompress, "br": site.brotli_decompress}[encoding](reply.body)


@pytest.mark.parametrize("path", ["/fault/gzip.html", "/fault/br.html"])
@pytest.mark.parametrize("accept, expected_encoding", [
    ("identity", None),
    ("gzip", "gzip"),
    ("br", "br"),
    ("gzip;q=0.5, br", "br"),
    (None, "same"),   # no Accept-Encoding: any coding is acceptable (RFC 9110); the Worker's own one
])
def test_a_compressed_page_is_personalized_and_sent_in_a_coding_the_client_accepts(
        worker, path, accept, expected_encoding):
    """The runtime decodes the origin's gzip/br for the rewriter and encodes the result again."""
    headers = dict(BOT, **({"Accept-Encoding": accept} if accept else {}))
    reply = fetch(worker, "GET", path, headers=headers)
    assert reply.status == 200 and reply.complete
    origin_encoding = "gzip" if path == "/fault/gzip.html" else "br"
    assert reply.headers.get("content-encoding") == (origin_encoding if expected_encoding == "same"
                                                     else expected_encoding)
    assert _decoded(reply) == as_crawlers_see(site.SLOTTED)
    assert "content-length" not in reply.headers   # the origin's described the compressed original


def test_a_compressed_page_from_the_page_cache_decodes_alike(worker, request):
    page = cache_path("gzip", request)
    whole = as_crawlers_see(site._page("cached 1", '<div data-personalized-region="hero">v1</div>'))
    worker.get(page, headers=BOT)
    worker.get_until(page, lambda reply: page_state(reply) == "HIT", headers=BOT)
    for accept in ("identity", "gzip"):
        reply = fetch(worker, "GET", page, headers=dict(BOT, **{"Accept-Encoding": accept}))
        assert page_state(reply) == "HIT"
        assert _decoded(reply) == whole


def test_chunks_that_split_slots_and_arrive_slowly(worker):
    """Chunk boundaries inside an attribute name, inside its value, inside a tag name and one byte a
    chunk through a whole slot tag, with a half-second stall: the same page as in one piece."""
    started = time.monotonic()
    reply = fetch(worker, "GET", "/fault/chunked.html", headers=BOT)
    assert time.monotonic() - started >= 0.5
    assert reply.complete
    assert reply.body == as_crawlers_see(site.SLOTTED)


def test_a_10_mb_page_is_personalized_whole(worker):
    """The slot near the end is filled; every other byte is the origin's."""
    page = site.big_page()
    reply = fetch(worker, "GET", "/fault/big.html", headers=BOT)
    assert reply.status == 200 and reply.complete
    assert len(reply.body) == len(page) + len(HERO_FALLBACK) - len(b">origin hero")
    assert reply.body == as_crawlers_see(page)


# --- requests that are not page views

def test_head_is_answered_by_the_origin_with_its_validators(worker, origin, request):
    page = cache_path("fresh", request)
    worker.get(page)
    worker.get_until(page, lambda reply: page_state(reply) == "HIT")
    reply = worker.request("HEAD", page)
    assert (reply.status, reply.body) == (200, b"")
    assert reply.headers["etag"] == '"v1"'                           # as the origin sent them
    assert reply.headers["cache-control"] == site.CACHE_POLICIES["fresh"]
    assert "set-cookie" not in reply.headers and "server-timing" not in reply.headers
    assert origin.hits(page, method="HEAD") == 1                      # not from the page cache


def test_a_range_request_gets_the_origins_206_never_the_cached_page(worker, origin, request):
    path = f"/fault/ranged.html?test={request.node.name}"

    def ranged() -> None:
        before = sum(seen.path == path for seen in origin.requests)
        reply = worker.get(path, headers={"Range": "bytes=10-29"})
        assert reply.status == 206
        assert reply.headers["content-range"] == f"bytes 10-29/{len(site.SLOTTED)}"
        assert reply.body == site.SLOTTED[10:30]
        assert "set-cookie" not in reply.headers
        assert sum(seen.path == path for seen in origin.requests) == before + 1
        assert origin.requests[-1].headers["Range"] == "bytes=10-29"

    ranged()
    worker.get(path)                                                  # the whole page, now cacheable
    worker.get_until(path, lambda reply: page_state(reply) == "HIT")
    ranged()                                                          # still the origin's part


@pytest.mark.parametrize("condition", [
    {"If-None-Match": site.VALIDATED_ETAG},
    {"If-Modified-Since": site.VALIDATED_LAST_MODIFIED},
])
def test_the_origins_304_passes_through(worker, origin, condition):
    reply = worker.get("/fault/validated.html", headers=condition)
    assert (reply.status, reply.body) == (304, b"")
    assert reply.headers["etag"] == site.VALIDATED_ETAG
    assert reply.headers["last-modified"] == site.VALIDATED_LAST_MODIFIED
    assert "set-cookie" not in reply.headers
    [(name, value)] = condition.items()
    assert origin.requests[-1].headers[name] == value


def test_a_personalized_page_drops_the_origins_validators(worker):
    """A condition the origin does not meet: the page is personalized, and neither validator
    describes the body the visitor gets, so neither is sent."""
    reply = worker.get("/fault/validated.html", headers={"If-None-Match": '"older"'})
    assert reply.status == 200
    assert b"data-pz-rule=" in reply.body
    assert "etag" not in reply.headers and "last-modified" not in reply.headers
    assert reply.headers["cache-control"] == "private, no-store"


def test_a_conditional_request_for_a_cached_page_gets_the_whole_personalized_page(worker, request):
    """The stored copy's validators are the origin's, not the personalized page's: no 304."""
    page = cache_path("fresh", request)
    worker.get(page)
    worker.get_until(page, lambda reply: page_state(reply) == "HIT")
    reply = worker.get(page, headers={"If-None-Match": '"v1"', **BOT})
    assert (reply.status, page_state(reply)) == (200, "HIT")
    assert HERO_FALLBACK in reply.body
    assert "etag" not in reply.headers


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_5_mb_post_reaches_the_origin_intact(worker, origin, chunked):
    body = random.Random(5).randbytes(5 * 1024 * 1024)
    sent = (body[i:i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    reply = fetch(worker, "POST", "/echo?big=1", body=sent, headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 200
    assert json.loads(reply.body) == {"method": "POST", "path": "/echo?big=1", "length": len(body),
                                      "sha256": hashlib.sha256(body).hexdigest()}


def test_a_post_with_expect_100_continue_gets_the_origins_answer(worker):
    """curl sends `Expect: 100-continue` with every body over 1 MB; so do other HTTP clients."""
    body = random.Random(100).randbytes(2 * 1024 * 1024)
    parts = urlsplit(worker.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall((f"POST /echo?expect=1 HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\n"
                      "Expect: 100-continue\r\nConnection: close\r\n\r\n").encode())
        stream = sock.makefile("rb")
        sock.sendall(body)   # a client may send the body without waiting for the 100
        status = stream.readline()
        while status.startswith(b"HTTP/1.1 1"):   # interim responses: skip them
            while stream.readline() not in (b"\r\n", b""):
                pass
            status = stream.readline()
        assert status.startswith(b"HTTP/1.1 200 "), status
        head = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            head[name.strip().lower()] = value.strip()
        if "content-length" in head:
            echoed = json.loads(stream.read(int(head["content-length"])))
        else:
            echoed = json.loads(site.read_chunked(stream))
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_post_answered_with_html_is_not_personalized(worker):
    reply = worker.request("POST", "/fault/form", body=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (reply.status, reply.body) == (200, site.FORM_RESULT)
    assert "set-cookie" not in reply.headers


def test_a_websocket_is_proxied_to_the_origin(worker, origin):
    """The upgrade reaches the origin, and messages go both ways through the Worker."""
    parts = urlsplit(worker.url)
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall((f"GET /ws?room=1 HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        stream = sock.makefile("rb")
        status = stream.readline()
        head = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            head[name.strip().lower()] = value.strip()
        assert status.startswith(b"HTTP/1.1 101"), status
        expected = base64.b64encode(hashlib.sha1((key + site.WEBSOCKET_GUID).encode()).digest()).decode()
        assert head["sec-websocket-accept"] == expected
        mask = os.urandom(4)
        sock.sendall(site.websocket_frame(0x1, "héllo".encode(), mask))
        assert site.read_websocket_frame(stream) == (0x1, "héllo".encode())
        blob = os.urandom(100_000)
        sock.sendall(site.websocket_frame(0x2, blob, mask))
        assert site.read_websocket_frame(stream) == (0x2, blob)
        sock.sendall(site.websocket_frame(0x8, b"\x03\xe8", mask))
        assert site.read_websocket_frame(stream) == (0x8, b"\x03\xe8")
    upgrade = next(seen for seen in reversed(origin.requests) if seen.path == "/ws?room=1")
    assert upgrade.headers["Upgrade"].lower() == "websocket"
