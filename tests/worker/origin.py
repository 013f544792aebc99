"""A real HTTP origin for the Worker tests: fixed pages and binary files, odd statuses, and an echo.

It runs in a thread of the test process and records every request it receives, so
tests can check what reached the origin through the Worker.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

# path -> (status, content type, body)
ROUTES: dict[str, tuple[int, str, bytes]] = {
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
}


@dataclass
class Origin:
    url: str
    requests: list[Seen] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)       # paths answered with a 503
    delays: dict[str, float] = field(default_factory=dict)  # paths answered after a pause (seconds)
    versions: dict[str, int] = field(default_factory=dict)  # content version of a /cache/ path (ETag)

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
        length = int(self.headers.get("content-length") or 0)
        seen = Seen(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
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
        self._send(200, "text/html; charset=utf-8", body, send_body,
                   {"Cache-Control": CACHE_POLICIES[policy], "ETag": etag, **extra})

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
