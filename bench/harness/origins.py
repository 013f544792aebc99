"""What the Workers under test sit in front of: the bench page, nginx serving it, a counting origin.

`origin_page(size)` is a shop page with the two slots demo/config.toml fills. `Nginx` serves one
such page per size in PAGES (with validators); `Origin` is a Python origin that serves one page on
every path, counts its hits and can wait before each answer, like a distant origin.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from intentedge_jobs.devserver import Server, free_port

from harness.debian import ensure_debian, is_root

PAGES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=600"


def origin_page(target_bytes: int = 100_000) -> bytes:
    """A shop page of about `target_bytes` with the two slots the demo config fills."""
    head = ('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<title>Cameras · Lumen Cameras</title>\n<link rel="stylesheet" href="/static/style.css">\n'
            '</head>\n<body>\n<header><a href="/"><strong>Lumen Cameras</strong></a>'
            '<a href="/products/">Cameras</a><a href="/guides/">Guides</a><a href="/cart/">Cart</a></header>\n'
            '<main>\n<div data-personalized-region="hero"><h1>Cameras for every story</h1>'
            '<p>Origin content: the Worker replaces this block.</p></div>\n<h2>All cameras</h2>\n'
            '<div class="products">\n')
    promo = '</div>\n<aside data-personalized-region="promo"><p>Origin promo.</p></aside>\n<div class="products">\n'
    tail = ('</div>\n</main>\n<footer>Lumen Cameras benchmark page, served unchanged by the origin.</footer>\n'
            '</body>\n</html>\n')
    cards = []
    size = len(head) + len(promo) + len(tail)
    i = 0
    while size < target_bytes:
        card = (f'<div class="card" data-sku="lc-{i:05d}"><img src="/static/camera-{i % 12}.png" alt="Model {i}" '
                f'loading="lazy"><h3><a href="/products/model-{i:05d}/">Lumen Model {i}</a></h3>'
                f'<p>Sensor {20 + i % 40} MP, {["APS-C", "full-frame", "micro four thirds"][i % 3]}, '
                f'{4 + i % 8} fps burst, weather-sealed body, two card slots.</p>'
                f'<p class="price">${399 + 37 * (i % 60)}</p></div>\n')
        cards.append(card)
        size += len(card)
        i += 1
    half = len(cards) // 2
    return (head + "".join(cards[:half]) + promo + "".join(cards[half:]) + tail).encode()


class Nginx:
    """nginx on 127.0.0.1 serving /10k/, /100k/ and /1m/ (ETag, Last-Modified, Cache-Control). Pages are
    folders: GrowthBook's app passes paths with a file extension straight through."""

    def __init__(self, prefix: Path, pages: dict[str, bytes]):
        self.binary = ensure_debian("nginx", "nginx-light")
        self.port = free_port()
        self.prefix = prefix
        (prefix / "pages").mkdir(parents=True)
        (prefix / "tmp").mkdir()
        for name, body in pages.items():
            (prefix / "pages" / name).mkdir()
            (prefix / "pages" / name / "index.html").write_bytes(body)
        user = "user root;" if is_root() else ""
        temp = "\n".join(f"  {kind}_temp_path {prefix}/tmp/{kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(f"""{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}
  types {{ text/html html; }}
  default_type application/octet-stream;
  charset utf-8;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port};
    root {prefix}/pages;
    location / {{ add_header Cache-Control "{CACHE_CONTROL}"; }}
  }}
}}
""")
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = Server("nginx", [self.binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                             cwd=prefix, log_path=prefix / "nginx.log")
        self.server.wait_http(f"{self.url}/10k/", timeout=15)

    def version(self) -> str:
        done = subprocess.run([self.binary, "-v"], capture_output=True, text=True)
        return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


class Origin:
    """A fast, counting origin on 127.0.0.1: the same page for every GET/HEAD path, an ETag and a 304
    on a matching If-None-Match; `delay` seconds of wait before each answer."""

    def __init__(self, page: bytes, delay: float = 0.0):
        etag = f'"bench-{len(page)}-1"'
        common = (f"Content-Type: text/html; charset=utf-8\r\nCache-Control: {CACHE_CONTROL}\r\n"
                  f"ETag: {etag}\r\n")
        # Whole responses, prebuilt: one write per request keeps the origin off the critical path.
        self.full = (f"HTTP/1.1 200 OK\r\n{common}Content-Length: {len(page)}\r\n\r\n").encode() + page
        self.head = self.full[:-len(page)]
        self.not_modified = f"HTTP/1.1 304 Not Modified\r\n{common}\r\n".encode()
        self.etag = etag
        self.lock = threading.Lock()
        self.hits = 0
        self.revalidations = 0   # conditional requests answered 304
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                self._answer(head_only=False)

            def do_HEAD(self):
                self._answer(head_only=True)

            def _answer(self, head_only: bool):
                matched = self.headers.get("if-none-match") == origin.etag
                if delay:
                    time.sleep(delay)   # a distant origin's round trip and think time
                with origin.lock:
                    origin.hits += 1
                    origin.revalidations += matched
                self.wfile.write(origin.not_modified if matched else origin.head if head_only else origin.full)

            def log_message(self, *args):
                pass

        class QuietServer(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)   # a client hanging up is not news

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="origin", daemon=True)

    def start(self) -> "Origin":
        self.thread.start()
        return self

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.hits, self.revalidations

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
