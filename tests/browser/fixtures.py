"""Real-browser fixtures: Debian's headless Chromium driven by Selenium through Debian's chromedriver.

A pytest plugin (tests/conftest.py registers it), so the browser tests here and the ones that load
pages through the real Worker (tests/worker/test_beacon_in_browser.py) share one copy:

    chromium            session: (browser, driver) paths, installed with apt-get when missing
    browser             module: one webdriver.Chrome for the module, a fresh profile, 1280x800
    site                module: a local HTTP server with pages shaped like the Worker's output
                        (the beacon inlined before </body>, a fresh page token per load) that
                        records every POST to /__pz/events in `site.events`
    wait_until(fn)      poll fn() until it returns something truthy, or fail after a deadline
    batch_problems(b)   what makes an event body invalid for the events endpoint (events/vocabulary.py)

Every test that uses Chromium gets the `browser` marker. Nothing downloads a browser: the driver's
path is given to Selenium, so Selenium Manager is skipped (and SE_OFFLINE forbids it to fetch
anything should it run).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from intentedge.events.batch import Limits
from intentedge.events.beacon import SOURCE
from intentedge.events.vocabulary import FIELDS, SCHEMA_VERSION, SLOT_EVENTS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LIMITS = Limits()             # the endpoint's defaults: the beacon's bodies must fit them
EVENTS_PATH = LIMITS.path
SESSION_COOKIE = "pz_test_session=visitor-000000000000001"
MAX_EVENTS = LIMITS.max_events
MAX_BODY = LIMITS.max_bytes


def pytest_collection_modifyitems(items):
    for item in items:
        if "chromium" in item.fixturenames:
            item.add_marker(pytest.mark.browser)


def wait_until(predicate, timeout: float = 10, what: str = "condition", interval: float = 0.05):
    """predicate()'s first truthy value; pytest.fail naming `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s", pytrace=False)
        time.sleep(interval)


def batch_problems(body: object) -> list[str]:
    """Why `body` is not a valid client batch, each event with its type's fields only; [] when it is."""
    if not isinstance(body, dict):
        return [f"body is {type(body).__name__}, not an object"]
    problems = []
    if body.get("v") != SCHEMA_VERSION:
        problems.append(f"v is {body.get('v')!r}, not {SCHEMA_VERSION}")
    if "page" in body and not isinstance(body["page"], str):
        problems.append(f"page is {body['page']!r}, not a string")
    events = body.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        return problems + [f"events is not a list of 1..{MAX_EVENTS}: {events!r:.200}"]
    for index, event in enumerate(events):
        kind = event.get("type") if isinstance(event, dict) else None
        if kind not in FIELDS:
            problems.append(f"event {index}: unknown type {kind!r}")
        elif extra := set(event) - FIELDS[kind] - {"type"}:
            problems.append(f"event {index}: {kind} with fields {sorted(extra)}")
        elif kind in SLOT_EVENTS and "page" not in body:
            problems.append(f"event {index}: {kind} needs a page token")
    return problems


# --- the browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> tuple[Path, Path]:
    """Debian's chromium and chromedriver, installed with apt-get (as root) when missing."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.fail("chromium and chromium-driver are missing and apt-get cannot install them here "
                        "(needs Debian and root)", pytrace=False)
        log = tmp_path_factory.mktemp("apt") / "apt.log"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with log.open("w") as out:
            for command in (["apt-get", "update"],
                            ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]):
                if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env).returncode != 0:
                    pytest.fail(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}", pytrace=False)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    """One headless Chromium for the test module, with a fresh profile and a 1280x800 window."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium
    workdir = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    # Without the networking flags Chromium keeps trying hosts this machine cannot reach, and stalls.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,800", f"--user-data-dir={workdir / 'profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(driver), log_output=str(workdir / "chromedriver.log"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        session = webdriver.Chrome(service=service, options=options)
    session.set_page_load_timeout(15)
    session.set_script_timeout(10)
    try:
        yield session
    finally:
        session.quit()


# --- the local site ----------------------------------------------------------------------------------


@dataclass
class Received:
    """One POST to the events path: its headers and the decoded JSON body (None when it is not JSON)."""
    content_type: str
    cookie: str
    raw: bytes
    body: object


@dataclass
class Site:
    """Pages by path, served with the beacon inlined; the event bodies received, in arrival order."""
    url: str = ""
    pages: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, path: str) -> str:
        """The page at `path` as the Worker would serve it, with a fresh page token."""
        token = "v1." + secrets.token_urlsafe(150) + ".test"   # ~200 chars of [A-Za-z0-9._-]
        tag = f'<script data-pz-page="{token}" data-pz-events="{EVENTS_PATH}">{SOURCE}</script>'
        html = self.pages[path]
        at = html.rindex("</body>")
        return html[:at] + tag + html[at:]

    def batches(self, page: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received
                    if page is None or (isinstance(r.body, dict) and r.body.get("page") == page)]

    def events(self, page: str) -> list[dict]:
        """Every event that arrived for the page load with token `page`, in arrival order."""
        return [event for r in self.batches(page) for event in r.body["events"]]

    def wait_for(self, page: str, kind: str, timeout: float = 5, **fields) -> dict:
        """The first event of `kind` with these `fields` for page `page`, waiting for it to arrive."""
        def found():
            return next((e for e in self.events(page)
                         if e.get("type") == kind and all(e.get(k) == v for k, v in fields.items())), None)
        return wait_until(found, timeout, f"{kind} {fields} for the page")


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def do_GET(self):
        path = urlsplit(self.path).path
        if path not in self.site.pages:
            return self._reply(404, "text/plain", b"not found")
        self._reply(200, "text/html; charset=utf-8", self.site.page(path).encode(),
                    {"Set-Cookie": f"{SESSION_COOKIE}; Path=/; SameSite=Lax"})

    def do_POST(self):
        if urlsplit(self.path).path != EVENTS_PATH:
            return self._reply(404, "text/plain", b"not found")
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self.site.lock:
            self.site.received.append(Received(self.headers.get("Content-Type", ""),
                                               self.headers.get("Cookie", ""), raw, body))
        accepted = len(body["events"]) if isinstance(body, dict) and isinstance(body.get("events"), list) else 0
        self._reply(202, "application/json", json.dumps({"accepted": accepted}).encode())

    def _reply(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """A local site on a free port; tests fill `site.pages` with {path: html}."""
    site = Site()
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    site.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
