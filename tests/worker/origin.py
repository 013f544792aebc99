"""A real HTTP origin for the Worker tests: fixed pages and binary files, odd statuses, and an echo.

It runs in a thread of the test process and records every request it receives, so
tests can check what reached the origin through the Worker.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import hashlib
import itertools
import json
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from intentedge.markup import VOID_ELEMENTS


def _page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n"
            f"<body>\n{body}\n</body></html>\n").encode()


SLOTTED = _page("Slots", """<header data-personalized-region="hero" class="a">origin hero one</header>
<p>Plain text stays &amp; entities stay.</p>
<section data-personalized-region="hero">origin hero two</section>
<aside data-personalized-region="promo"><b>origin promo</b></aside>
<div data-personalized-region="unknown-slot">untouched</div>""")
PRODUCT = _page("Product", '<div data-personalized-region="hero">origin hero</div>\n'
                           '<aside data-personalized-region="promo">origin promo</aside>')
NO_SLOTS = _page("Plain", "<p>No slots here.</p>\n<!-- data-personalized-region=\"hero\" -->\n"
                          "<script>const s = '<div data-personalized-region=\"hero\">';</script>")
CSS = b"body { color: #123; }\n[data-personalized-region] { display: block; }\n"
PNG = bytes(range(256)) * 16 + b"\x89PNG\r\n\x1a\n\x00\xff"
NOT_FOUND = _page("Not found", "<h1>404</h1>")
SERVER_ERROR = _page("Oops", '<h1>500</h1><div data-personalized-region="hero">error page</div>')

# A slot whose own attributes are written every way HTML allows: the Worker writes the element
# back whole (worker/rewriting.py), and must keep each value as the browser would read it.
ODD_ATTRIBUTES = ('<section data-personalized-region="hero" title=\'say "hi"\' data-x="a &amp; b &lt;c&gt; it\'s"'
                  ' hidden class=plain data-e=\'&quot;q&quot;\'>origin hero</section>')
ATTRIBUTES = _page("Attributes", ODD_ATTRIBUTES + '\n<img data-personalized-region="hero" src="/image.png" alt="a">\n'
                   "<p>after</p>")

# path -> (status, content type, body)
ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/attributes.html": (200, "text/html; charset=utf-8", ATTRIBUTES),
    "/": (200, "text/html; charset=utf-8", SLOTTED),
    "/products/camera.html": (200, "text/html", PRODUCT),
    "/plain.html": (200, "text/html; charset=UTF-8", NO_SLOTS),
    "/style.css": (200, "text/css", CSS),
    "/image.png": (200, "image/png", PNG),
    "/data.json": (200, "application/json", b'{"html": "<div data-personalized-region=\\"hero\\"></div>"}'),
    "/missing": (404, "text/html; charset=utf-8", NOT_FOUND),
    "/broken": (500, "text/html; charset=utf-8", SERVER_ERROR),
}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# /cache/<policy>/<name>.html: a slotted page sent with this Cache-Control (tests pick unique names).
CACHE_POLICIES = {
    "fresh": "public, max-age=60",
    "swr": "max-age=1, stale-while-revalidate=30, stale-if-error=60",
    "sie": "max-age=1, stale-if-error=60",
    "sieshort": "max-age=1, stale-if-error=2",
    "short": "max-age=1",
    "private": "private, max-age=60",
    "nostore": "no-store",
    "cookie": "max-age=60",        # with a Set-Cookie: never shared
    "gzip": "public, max-age=60",  # sent with Content-Encoding: gzip
}


@dataclass
class Origin:
    url: str
    requests: list[Seen] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)       # paths answered with a 503
    delays: dict[str, float] = field(default_factory=dict)  # paths answered after a pause (seconds)
    versions: dict[str, int] = field(default_factory=dict)  # content version of a /cache/ path (ETag)
    # /cache/ paths whose body is cut off mid-way: "length" (a Content-Length the body falls short of)
    # or "chunked" (no last chunk)
    truncating: dict[str, str] = field(default_factory=dict)

    def hits(self, path: str, method: str = "GET") -> int:
        """Requests for `path` (query ignored) that reached the origin."""
        return sum(1 for seen in self.requests if seen.method == method and seen.path.split("?")[0] == path)


def start_origin() -> tuple[Origin, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    origin = Origin(f"http://127.0.0.1:{server.server_address[1]}")
    server.origin = origin
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return origin, server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _record(self) -> Seen:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
        seen = Seen(self.command, self.path, dict(self.headers.items()), body)
        self.server.origin.requests.append(seen)
        return seen

    def do_GET(self) -> None:
        self._record()
        self._route(send_body=True)

    def do_HEAD(self) -> None:
        self._record()
        self._route(send_body=False)

    def do_POST(self) -> None:
        seen = self._record()
        if self.path.startswith("/echo"):
            body = json.dumps({"method": seen.method, "path": seen.path, "length": len(seen.body),
                               "sha256": hashlib.sha256(seen.body).hexdigest()}).encode()
            self._send(200, "application/json", body, send_body=True)
        elif self.path == "/fault/form":   # a form post answered with a page that has a slot
            self._send(200, "text/html; charset=utf-8", FORM_RESULT, send_body=True)
        else:
            self._send(405, "text/plain", b"method not allowed\n", send_body=True)

    do_PUT = do_POST

    def _route(self, send_body: bool) -> None:
        path = self.path.split("?")[0]
        origin = self.server.origin
        if path in origin.delays:
            time.sleep(origin.delays[path])
        if path in origin.failing:
            self._send(503, "text/html", b"<h1>503</h1>", send_body)
            return
        if path.startswith("/cache/"):
            self._cached_page(path, send_body)
            return
        if path.startswith("/fault/") or path == "/ws":
            self._fault(path, send_body)
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/products/camera.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, content_type, body = ROUTES.get(self.path.split("?")[0], (404, "text/html", NOT_FOUND))
        self._send(status, content_type, body, send_body)

    def _cached_page(self, path: str, send_body: bool) -> None:
        policy = path.split("/")[2]
        version = self.server.origin.versions.get(path, 1)
        etag = f'"v{version}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", CACHE_POLICIES[policy])
            self.end_headers()
            return
        body = _page(f"cached {version}", f'<div data-personalized-region="hero">v{version}</div>')
        extra = {"Set-Cookie": "origin=1; Path=/"} if policy == "cookie" else {}
        headers = {"Cache-Control": CACHE_POLICIES[policy], "ETag": etag, **extra}
        if policy == "gzip":
            body = gzip.compress(body)
            headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        truncating = self.server.origin.truncating.get(path) if send_body else None
        if truncating == "length":
            self._send_truncated(200, "text/html; charset=utf-8", body, headers)
        elif truncating == "chunked":
            self._send_chunked("text/html; charset=utf-8", [body[:len(body) // 2]], send_body, last=False,
                               headers=headers)
        else:
            self._send(200, "text/html; charset=utf-8", body, send_body, headers)

    def _send(self, status: int, content_type: str, body: bytes, send_body: bool,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Origin", "test-origin")
        for name, value in (headers or {"ETag": '"origin-etag"'}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    # --- /fault/...: an origin that misbehaves in every way tests/worker/test_origin_faults*.py need

    def _fault(self, path: str, send_body: bool) -> None:
        if path == "/ws" and self.headers.get("upgrade", "").lower() == "websocket":
            self._websocket()
        elif path == "/fault/reset":
            self._reset()
        elif path == "/fault/close":      # hang up before sending anything, without a reset
            self.close_connection = True
        elif path.startswith("/fault/redirect/"):
            self.send_response(int(path.rsplit("/", 1)[1]))
            self.send_header("Location", self.path.partition("?to=")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/fault/status/"):
            status = int(path.rsplit("/", 1)[1])
            self._send(status, "text/html; charset=utf-8", STATUS_PAGE, send_body)
        elif path == "/fault/headers.html":   # a slotted page with the headers its query names
            query = urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)
            self._send(200, "text/html; charset=utf-8", SLOTTED, send_body, dict(query))
        elif path == "/fault/gzip.html":
            self._send(200, "text/html; charset=utf-8", gzip.compress(SLOTTED), send_body,
                       {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        elif path == "/fault/br.html":
            self._send(200, "text/html; charset=utf-8", brotli_compress(SLOTTED), send_body,
                       {"Content-Encoding": "br", "Vary": "Accept-Encoding"})
        elif path == "/fault/chunked.html":
            self._send_chunked("text/html; charset=utf-8", CHUNKED_PARTS, send_body, pauses=CHUNK_PAUSES)
        elif path == "/fault/truncated.html":
            self._send_truncated(200, "text/html; charset=utf-8", SLOTTED, {})
        elif path == "/fault/truncated.txt":
            self._send_truncated(200, "text/plain", SLOTTED, {})
        elif path == "/fault/truncated-chunked.html":
            self._send_chunked("text/html; charset=utf-8", CHUNKED_PARTS[:3], send_body, last=False)
        elif path == "/fault/big.html":
            self._send(200, "text/html; charset=utf-8", big_page(), send_body)
        elif path == "/fault/typed.html":   # SLOTTED with the Content-Type given as ?type=...
            content_type = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["type"][0]
            self._send(200, content_type, SLOTTED, send_body)
        elif path == "/fault/ranged.html":
            self._ranged(SLOTTED, send_body)
        elif path == "/fault/validated.html":
            self._validated(send_body)
        elif path in FAULT_PAGES:
            content_type, body = FAULT_PAGES[path]
            self._send(200, content_type, body, send_body)
        else:
            self._send(404, "text/html", NOT_FOUND, send_body)

    def _send_truncated(self, status: int, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        """Announce the whole body, send half of it, and hang up."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _send_chunked(self, content_type: str, parts: list[bytes], send_body: bool, *, last: bool = True,
                      headers: dict[str, str] | None = None, pauses: dict[int, float] | None = None) -> None:
        """Transfer-Encoding: chunked, one chunk per part, with a pause after each (CHUNK_PAUSE, or
        the part's own in `pauses`, by index); without the last (empty) chunk when `last` is false: the connection closes mid-body."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Origin", "test-origin")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if send_body:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not send_body:
            return
        for index, part in enumerate(parts):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
            time.sleep((pauses or {}).get(index, CHUNK_PAUSE))
        if last:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True

    def _reset(self) -> None:
        """Drop the connection with a TCP reset before any byte of a response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _ranged(self, body: bytes, send_body: bool) -> None:
        """One `bytes=a-b` range as a 206, anything else the whole page (shareable, so a Worker that
        answered ranges from its page cache would show it)."""
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=60"}
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("range", ""))
        if match is None:
            self._send(200, "text/html; charset=utf-8", body, send_body, headers)
            return
        first, last = int(match[1]), min(int(match[2]), len(body) - 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
        self._send(206, "text/html; charset=utf-8", body[first:last + 1], send_body, headers)

    def _validated(self, send_body: bool) -> None:
        """A page with both validators; a conditional request that matches gets a 304."""
        headers = {"ETag": VALIDATED_ETAG, "Last-Modified": VALIDATED_LAST_MODIFIED, "Cache-Control": "no-cache"}
        since = self.headers.get("if-modified-since")
        if self.headers.get("if-none-match") == VALIDATED_ETAG or (
                since and email.utils.parsedate_to_datetime(since) >= email.utils.parsedate_to_datetime(
                    VALIDATED_LAST_MODIFIED)):
            self.send_response(304)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("X-Origin", "test-origin")
            self.end_headers()
            return
        self._send(200, "text/html; charset=utf-8", SLOTTED, send_body, headers)

    def _websocket(self) -> None:
        """RFC 6455 handshake, then echo every text or binary message until a close frame."""
        accept = base64.b64encode(hashlib.sha1(
            (self.headers["sec-websocket-key"] + WEBSOCKET_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            frame = read_websocket_frame(self.rfile)
            if frame is None:
                return
            opcode, payload = frame
            if opcode == 0x8:
                self.wfile.write(websocket_frame(0x8, payload))
                return
            if opcode == 0x9:
                self.wfile.write(websocket_frame(0xA, payload))
            elif opcode in (0x1, 0x2):
                self.wfile.write(websocket_frame(opcode, payload))
            self.wfile.flush()


def read_chunked(reader) -> bytes:
    body = bytearray()
    while True:
        size = int(reader.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while reader.readline() not in (b"\r\n", b"\n", b""):   # trailers
                pass
            return bytes(body)
        body += reader.read(size)
        reader.readline()


# --- WebSocket frames (RFC 6455), for the origin and for the tests' raw client

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame; a client must mask (`mask`: 4 bytes), a server must not."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([mask_bit | len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def read_websocket_frame(reader) -> tuple[int, bytes] | None:
    """(opcode, unmasked payload) of one frame, None at the end of the stream."""
    head = reader.read(2)
    if len(head) < 2:
        return None
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", reader.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", reader.read(8))[0]
    mask = reader.read(4) if head[1] & 0x80 else None
    payload = reader.read(length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head[0] & 0x0F, payload


# --- the fault pages

STATUS_PAGE = _page("Status", '<h1>origin status page</h1><div data-personalized-region="hero">origin hero</div>')
FORM_RESULT = _page("Posted", '<div data-personalized-region="hero">origin hero</div>')

# SLOTTED in chunks that split a slot's attribute name, its value and a tag name, then the
# second slot's opening tag one byte a chunk; CHUNK_PAUSE after each, longer after the first.
CHUNK_PAUSE = 0.01


def _chunked_parts(page: bytes) -> list[bytes]:
    first = page.index(b"data-personalized-region") + len(b"data-person")
    value = page.index(b'"hero"', first) + len(b'"he')
    second = page.index(b"<sec")
    tag_end = page.index(b">", second) + 1
    cuts = [0, first, value, second + len(b"<se")]
    parts = [page[a:b] for a, b in itertools.pairwise(cuts)]
    parts += [page[i:i + 1] for i in range(cuts[-1], tag_end)]
    return parts + [page[tag_end:]]


CHUNKED_PARTS = _chunked_parts(SLOTTED)
CHUNK_PAUSES = {0: 0.5}   # part index -> seconds: a slow origin stalls in a slot's attribute


@cache
def big_page() -> bytes:
    """About 10 MB of HTML with one slot near the end."""
    line = "<p>filler paragraph {:07d}: the quick brown fox jumps over the lazy dog.</p>\n"
    filler = "".join(line.format(i) for i in range(10_000_000 // len(line.format(0))))
    return _page("Big", filler + '<div data-personalized-region="hero">origin hero</div>\n<p>the end</p>')


VALIDATED_ETAG = '"validated-v1"'
VALIDATED_LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"


def _charset_page(meta: str = "") -> str:
    return ("<!DOCTYPE html>\n<html><head>" + meta + "<title>Zeichensätze</title></head>\n<body>\n"
            "<p>Vorher: Grüße aus Köln – “Qualität”</p>\n"
            '<div data-personalized-region="hero">Ursprünglich: Café</div>\n'
            "<p>Nachher: Ärger, Öl, Übermaß</p>\n</body></html>\n")


SJIS_TEXT = ("<!DOCTYPE html>\n<html><head><title>日本語のページ</title></head>\n<body>\n"
             "<p>前の段落：こんにちは世界</p>\n"
             '<div data-personalized-region="hero">元の内容：東京</div>\n'
             "<p>後の段落：さようなら</p>\n</body></html>\n")

# path -> (the text of the page, the charset its bytes are in, Content-Type)
CHARSET_PAGES: dict[str, tuple[str, str, str]] = {
    "/fault/charset/cp1252.html": (_charset_page(), "cp1252", "text/html; charset=windows-1252"),
    "/fault/charset/latin1.html": (_charset_page().replace("–", "-").replace("“", '"').replace("”", '"'),
                                   "latin-1", "text/html; charset=ISO-8859-1"),
    "/fault/charset/sjis.html": (SJIS_TEXT, "shift_jis", "text/html; charset=Shift_JIS"),
    # the charset only in the page: the header says nothing
    "/fault/charset/meta.html": (_charset_page('<meta charset="windows-1252">'), "cp1252",
                                 "text/html"),
    "/fault/charset/bom.html": ("\ufeff" + _charset_page(), "utf-8", "text/html; charset=utf-8"),
    "/fault/charset/bom-only.html": ("\ufeff" + _charset_page(), "utf-8", "text/html"),
    "/fault/charset/utf16.html": ("\ufeff" + _charset_page(), "utf-16-le", "text/html; charset=utf-16"),
    "/fault/charset/utf16-bom-only.html": ("\ufeff" + _charset_page(), "utf-16-le", "text/html"),
    "/fault/charset/http-equiv.html": (
        _charset_page('<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'), "cp1252",
        "text/html"),
}

# Slot-like text where no element is: only the one real slot element at the end may change.
INERT = _page("Inert", """<script>document.write('<div data-personalized-region="hero">in a script</div>');</script>
<style>[data-personalized-region="hero"]::after { content: '<div data-personalized-region="hero">'; }</style>
<!-- <div data-personalized-region="hero">in a comment</div> -->
<a title='<div data-personalized-region="hero">' href="#">in an attribute value</a>
<img alt='data-personalized-region="hero"' src="x.png">
<textarea><div data-personalized-region="hero">in a textarea</div></textarea>
<title><div data-personalized-region="hero">in a title</div></title>
<noscript><div data-personalized-region="hero">in noscript</div></noscript>
<xmp><div data-personalized-region="hero">in xmp</div></xmp>
<script type="text/template"><div data-personalized-region="hero">in a script template</div></script>
<p>data-personalized-region="hero" as plain text</p>
<div data-personalized-region="hero">the real slot</div>""")

# Slots inside slots: another slot and the same slot inside a slot a crawler gets filled (hero),
# a hero inside a slot a crawler's page keeps (promo has no fallback), and a hero in a <template>.
NESTED = _page("Nested", """<div data-personalized-region="hero" id="outer">outer before
<span data-personalized-region="promo" id="inner">inner promo</span>
<p data-personalized-region="hero" id="same">inner hero</p>
outer after</div>
<section data-personalized-region="promo" id="kept">kept
<div data-personalized-region="hero" id="inside-kept">inner hero</div>
</section>
<template><div data-personalized-region="hero" id="templated">in a template</div></template>""")

# --- slot elements whose end is implied, missing or written self-closing (test_slot_ends.py)
#
# Generated from intentedge.markup's lists. Each page holds one block per operation: the slot named
# after the operation (tests/worker/test_slot_ends.py publishes a fragment of that operation for it)
# inside a parent that HTML allows it in, followed by content outside the slot.

SLOT_OPERATIONS = ("inner", "append", "prepend", "before", "after", "replace")


@dataclass(frozen=True)
class SlotBlock:
    """`before + start + content + between + end + after`: a slot's `start` tag, its own `content`,
    what lies `between` that and the `end` tag the rewriter will match (the slot's own, or its
    parent's where the slot's end tag is left out; "" for the end of the document)."""

    before: str
    start: str
    content: str
    between: str
    end: str
    after: str

    @property
    def html(self) -> str:
        return self.before + self.start + self.content + self.between + self.end + self.after


# tag -> (parent start, parent end, the slot's own content, a next sibling whose start ends the slot)
SLOT_CONTEXTS = {
    "p": ("<div>", "</div>", "origin {op}", "<p>next {op}</p>"),
    "li": ("<ul>", "</ul>", "origin {op}", "<li>next {op}</li>"),
    "dt": ("<dl>", "</dl>", "origin {op}", "<dd>next {op}</dd>"),
    "dd": ("<dl>", "</dl>", "origin {op}", "<dt>next {op}</dt>"),
    "rt": ("<ruby>base", "</ruby>", "origin {op}", "<rp>next {op}</rp>"),
    "rp": ("<ruby>base", "</ruby>", "origin {op}", "<rt>next {op}</rt>"),
    "optgroup": ("<select>", "</select>", "<option>origin {op}</option>",
                 '<optgroup label="n"><option>next {op}</option></optgroup>'),
    "option": ("<select>", "</select>", "origin {op}", "<option>next {op}</option>"),
    "colgroup": ("<table>", "</table>", '<col span="2">', "<tbody><tr><td>next {op}</td></tr></tbody>"),
    "caption": ("<table>", "</table>", "origin {op}", "<tbody><tr><td>next {op}</td></tr></tbody>"),
    "thead": ("<table>", "</table>", "<tr><td>origin {op}</td></tr>", "<tbody><tr><td>next {op}</td></tr></tbody>"),
    "tbody": ("<table>", "</table>", "<tr><td>origin {op}</td></tr>", "<tbody><tr><td>next {op}</td></tr></tbody>"),
    "tfoot": ("<table>", "</table>", "<tr><td>origin {op}</td></tr>", "<tbody><tr><td>next {op}</td></tr></tbody>"),
    "tr": ("<table><tbody>", "</tbody></table>", "<td>origin {op}</td>", "<tr><td>next {op}</td></tr>"),
    "td": ("<table><tr>", "</tr></table>", "origin {op}", "<td>next {op}</td>"),
    "th": ("<table><tr>", "</tr></table>", "origin {op}", "<th>next {op}</th>"),
}
# How the slot's end is written: its own end tag, left out before a sibling, left out before the
# parent's end, or a start tag written self-closing (which ends nothing in HTML).
SLOT_END_FORMS = ("closed", "before-sibling", "at-parent-end", "self-closing", "self-closing-spaced")


def slot_block(tag: str, form: str, op: str) -> SlotBlock:
    parent_start, parent_end, content, sibling = (part.format(op=op) for part in SLOT_CONTEXTS[tag])
    attribute = f'data-personalized-region="{op}"'
    before = f'<section id="case-{op}">{parent_start}'
    after = f"<p>kept after {op}</p></section>\n"
    first_end = parent_end[:parent_end.index(">") + 1]        # the end tag that pops the slot
    rest = parent_end[len(first_end):] + after
    if form == "closed":
        return SlotBlock(before, f"<{tag} {attribute}>", content, "", f"</{tag}>", sibling + parent_end + after)
    if form == "before-sibling":
        return SlotBlock(before, f"<{tag} {attribute}>", content, sibling, first_end, rest)
    if form == "at-parent-end":
        return SlotBlock(before, f"<{tag} {attribute}>", content, "", first_end, rest)
    close = "/>" if form == "self-closing" else " />"
    return SlotBlock(before, f"<{tag} {attribute}{close}", "", sibling, first_end, rest)


# The page-level elements whose end tags may be omitted: one slot a page, the page around it.
def page_level_block(tag: str, form: str, op: str) -> SlotBlock:
    attribute = f'data-personalized-region="{op}"'
    start = f"<{tag} {attribute}" + ("/>" if form == "self-closing" else ">")
    own_end = form == "closed"
    if tag == "html":
        return SlotBlock("<!DOCTYPE html>\n", start, "<head><title>t</title></head>",
                         "<body><p>kept after</p></body>", "</html>" if own_end else "", "\n" if own_end else "")
    if tag == "head":
        return SlotBlock("<!DOCTYPE html>\n<html>", start, "<title>t</title>",
                         "" if own_end else "<body><p>kept after</p></body>",
                         "</head>" if own_end else "</html>",
                         "<body><p>kept after</p></body></html>\n" if own_end else "\n")
    return SlotBlock("<!DOCTYPE html>\n<html><head><title>t</title></head>", start, "<p>origin</p>", "",
                     "</body>" if own_end else "</html>", "</html>\n" if own_end else "\n")


PAGE_LEVEL_FORMS = ("closed", "omitted", "self-closing")
VOID_FORMS = ("plain", "self-closing", "self-closing-spaced")
# Foreign elements (SVG, MathML), where `/>` does close an element.
FOREIGN_SLOTS = ('<svg><g data-personalized-region="{op}"/><circle r="1"/></svg>',
                 '<math><mi data-personalized-region="{op}"/><mn>2</mn></math>')


def void_block(tag: str, form: str, op: str) -> SlotBlock:
    close = {"plain": ">", "self-closing": "/>", "self-closing-spaced": " />"}[form]
    return SlotBlock(f'<section id="case-{op}"><div>', f'<{tag} data-personalized-region="{op}"{close}', "", "",
                     "", f"<p>next {op}</p></div><p>kept after {op}</p></section>\n")


def foreign_block(index: int, op: str) -> SlotBlock:
    slot = FOREIGN_SLOTS[index].format(op=op)
    start_at, end_at = slot.index("<", 5), slot.index("/>") + 2
    return SlotBlock(f'<section id="case-{op}">' + slot[:start_at], slot[start_at:end_at], "", "", "",
                     slot[end_at:] + f"<p>kept after {op}</p></section>\n")


# Elements whose end tag is required, written without it or self-closing: the rewriter cannot tell
# them from a well-formed start tag (docs/slots.md).
ORDINARY_FORMS = ("never-closed", "self-closing")


def ordinary_block(tag: str, form: str, op: str) -> SlotBlock:
    start = f'<{tag} data-personalized-region="{op}"' + ("/>" if form == "self-closing" else ">")
    content = "" if form == "self-closing" else f"origin {op}"
    return SlotBlock(f'<section id="case-{op}"><div>', start, content, f"<p>next {op}</p>", "</div>",
                     f"<p>kept after {op}</p></section>\n")


def slot_end_page(blocks: list[str]) -> str:
    return "<!DOCTYPE html>\n<html><head><title>Slot ends</title></head>\n<body>\n" + "".join(blocks) + \
        "</body></html>\n"


def _slot_end_pages() -> dict[str, list[SlotBlock]]:
    """path (without .html) -> the page's blocks: a whole page of them, or one page-level block."""
    pages = {}
    for tag in SLOT_CONTEXTS:
        for form in SLOT_END_FORMS:
            pages[f"/fault/slot-ends/{tag}/{form}"] = [slot_block(tag, form, op) for op in SLOT_OPERATIONS]
    for tag in ("html", "head", "body"):
        for form in PAGE_LEVEL_FORMS:
            for op in SLOT_OPERATIONS:
                pages[f"/fault/slot-ends/{tag}/{form}/{op}"] = [page_level_block(tag, form, op)]
    for tag in sorted(VOID_ELEMENTS):
        for form in VOID_FORMS:
            pages[f"/fault/slot-ends/void/{tag}/{form}"] = [void_block(tag, form, op) for op in SLOT_OPERATIONS]
    for tag in ("div", "section", "span"):
        for form in ORDINARY_FORMS:
            pages[f"/fault/slot-ends/ordinary/{tag}/{form}"] = [ordinary_block(tag, form, op) for op in SLOT_OPERATIONS]
    for index, slot in enumerate(FOREIGN_SLOTS):
        pages[f"/fault/slot-ends/foreign/{slot[1:slot.index('>')]}"] = [foreign_block(index, op)
                                                                         for op in SLOT_OPERATIONS]
    return pages


SLOT_END_PAGES = _slot_end_pages()


def slot_end_html(path: str) -> str:
    blocks = SLOT_END_PAGES[path]
    return blocks[0].html if len(blocks) == 1 else slot_end_page([block.html for block in blocks])


FAULT_PAGES: dict[str, tuple[str, bytes]] = {
    "/fault/slow.html": ("text/html; charset=utf-8", SLOTTED),
    "/fault/inert.html": ("text/html; charset=utf-8", INERT),
    "/fault/nested.html": ("text/html; charset=utf-8", NESTED),
    **{path: (content_type, text.encode(charset)) for path, (text, charset, content_type) in CHARSET_PAGES.items()},
    # each page twice: with its charset in the header, and without (the Worker's handlers of a page's own)
    **{f"{path}.html": ("text/html; charset=utf-8", slot_end_html(path).encode()) for path in SLOT_END_PAGES},
    **{f"{path}.no-charset.html": ("text/html", slot_end_html(path).encode()) for path in SLOT_END_PAGES},
}


def brotli_compress(data: bytes) -> bytes:
    """Python has no brotli here; node's zlib has."""
    return _node_zlib("brotliCompressSync", data)


def brotli_decompress(data: bytes) -> bytes:
    return _node_zlib("brotliDecompressSync", data)


def _node_zlib(function: str, data: bytes) -> bytes:
    node = shutil.which("node")
    script = f"process.stdout.write(require('zlib').{function}(require('fs').readFileSync(0)))"
    return subprocess.run([node, "-e", script], input=data, capture_output=True, check=True).stdout
