"""One real Worker per test session: the staged Worker under miniflare (workerd) in front of the
test origin, reading a private local KV that the tests seed through the project's own CLI.

The Worker runs from a snapshot of the staged tree, so editing worker/ or core/ while tests run
does not reload it, and without `wrangler dev`'s proxy a test can set `request.cf` (an `MF-CF-Blob`
header). test_wrangler_dev.py checks the `wrangler dev` path the demo takes.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from intentedge_jobs.build_worker import build
from intentedge_jobs.cookies import dev_vars, mint
from intentedge_jobs.collector import Collector, read_lines, start_collector
from intentedge_jobs.devserver import Server, ServerError, free_port, start_miniflare, start_static_origin
from intentedge_jobs.kv.local import WranglerKV

from intentedge.session import COOKIE_NAME, SessionKeys

from .origin import Origin, start_origin

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("config.toml")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.workerd)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Worker:
    url: str
    server: Server

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, cf: dict | None = None) -> Reply:
        """One raw HTTP request: no redirects followed, no decoding. `cf` becomes `request.cf`."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = dict(headers or {})
        if cf is not None:
            headers["MF-CF-Blob"] = json.dumps(cf)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def get_until(self, path: str, predicate, timeout: float = 10, **kwargs) -> Reply:
        """GET `path` until `predicate(reply)` holds: the Worker caches KV metadata for about
        a second in these tests (tests/worker/config.toml [cache]), so KV changes show late."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.get(path, **kwargs)
            if predicate(reply):
                return reply
            if time.monotonic() > deadline:
                pytest.fail(f"GET {path}: condition not met within {timeout}s; last body:\n{reply.text[:2000]}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.server.log_path.read_text("utf-8", "replace")

    def log_mark(self) -> int:
        return len(self.log())

    def wait_for_log(self, needle: str, since: int = 0, timeout: float = 10) -> None:
        """wrangler passes the Worker's console output on a little after the response."""
        deadline = time.monotonic() + timeout
        while needle not in self.log()[since:]:
            if time.monotonic() > deadline:
                pytest.fail(f"{needle!r} not logged within {timeout}s; log tail:\n{self.log()[-3000:]}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def origin():
    origin, server = start_origin()
    yield origin
    server.shutdown()


@pytest.fixture(scope="session")
def kv_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wrangler-state")


@pytest.fixture(scope="session")
def local_kv(kv_dir) -> WranglerKV:
    return WranglerKV(ROOT, kv_dir)


@pytest.fixture(scope="session")
def publish(kv_dir):
    """Publish a config file to the Worker's local KV with the real console script."""
    cli = shutil.which("intentedge", path=str(Path(sys.executable).parent))

    def run(config: Path = CONFIG) -> None:
        done = subprocess.run([cli, "publish", "--local", "--persist-to", str(kv_dir), str(config)],
                              cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    return run


@pytest.fixture(scope="session")
def staged_worker(tmp_path_factory) -> Path:
    """The Worker's upload tree, staged once for the session."""
    return build(tmp_path_factory.mktemp("staged") / "worker")


def run_worker(staged: Path, tmp_path_factory, *, bindings: dict[str, str], kv_dir: Path,
               entry: str = "entry.py", extra: dict | None = None):
    """Start the staged Worker under miniflare (`extra`: run_worker.mjs options); yields a Worker,
    stops it afterwards."""
    log_path = tmp_path_factory.mktemp("logs") / "worker.log"
    try:
        server, url = start_miniflare(ROOT, staged, log_path=log_path, bindings=bindings, kv_persist=kv_dir,
                                      entry=entry, extra=extra)
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield Worker(url, server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def worker(origin: Origin, kv_dir: Path, publish, staged_worker, dev_secrets, tmp_path_factory) -> Worker:
    publish()
    yield from run_worker(staged_worker, tmp_path_factory, kv_dir=kv_dir,
                          bindings={**dev_secrets, "ORIGIN_URL": origin.url})


@pytest.fixture(scope="session")
def dev_secrets() -> dict[str, str]:
    """The secrets `wrangler dev` reads from the project's .dev.vars."""
    return dev_vars(ROOT)


@pytest.fixture(scope="session")
def mint_cookie(dev_secrets):
    """`mint_cookie(pages=3, ...)` -> a Cookie header value for a made-up returning visitor."""
    keys = SessionKeys.parse(dev_secrets["SESSION_KEYS"])

    def make(visitor_id: str = "test-visitor-000000001", *, idle: int = 5, pages: int = 2, visits: int = 1,
             stage: int = 0, cart_value: float = 0.0, cart_items: int = 0, categories=(), products=(),
             searches: int = 0, purchases: int = 0) -> str:
        value = mint(keys, now=time.time(), visitor_id=visitor_id, idle=idle, pages=pages, visits=visits,
                     stage=stage, cart_value=cart_value, cart_items=cart_items, categories=tuple(categories),
                     products=tuple(products), searches=searches, purchases=purchases)
        return f"{COOKIE_NAME}={value}"
    return make


@dataclass
class Demo:
    """The demo shop behind the Worker (demo/config.toml, demo/site), its events going to a collector."""

    worker: Worker
    collector: Collector
    events_file: Path

    def lines(self) -> list[dict]:
        return read_lines(self.events_file)

    def wait_for_lines(self, predicate, timeout: float = 10) -> list[dict]:
        """The collector's lines once `predicate(lines)` holds: forwarding runs after the response."""
        deadline = time.monotonic() + timeout
        while not predicate(lines := self.lines()):
            if time.monotonic() > deadline:
                pytest.fail(f"the collector's lines did not arrive within {timeout}s: {lines[-5:]}")
            time.sleep(0.1)
        return lines


@pytest.fixture(scope="session")
def demo(staged_worker, dev_secrets, tmp_path_factory) -> Demo:
    """Started on first use only: its own KV, origin (the demo site) and collector."""
    kv = tmp_path_factory.mktemp("demo-kv")
    cli = shutil.which("intentedge", path=str(Path(sys.executable).parent))
    done = subprocess.run([cli, "publish", "--local", "--persist-to", str(kv), str(ROOT / "demo" / "config.toml")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    logs = tmp_path_factory.mktemp("demo-logs")
    site_port = free_port()
    site = start_static_origin(ROOT / "demo" / "site", site_port, log_path=logs / "origin.log")
    events_file = logs / "events.jsonl"
    collector, sink = start_collector(events_file, token="demo-sink-token")   # the Worker must send it
    try:
        for worker in run_worker(staged_worker, tmp_path_factory, kv_dir=kv, bindings={
                **dev_secrets, "ORIGIN_URL": f"http://127.0.0.1:{site_port}", "EVENTS_SINK": sink,
                "EVENTS_SINK_TOKEN": "demo-sink-token"}):
            # past the cold start, whose first config read may miss KV_BUDGET_MS (the page then
            # goes out unmodified): no test of the demo is about that, and the first one would see it
            worker.get_until("/", lambda reply: b"data-pz-rule=" in reply.body, timeout=30)
            yield Demo(worker, collector.collector, events_file)
    finally:
        collector.stop()
        site.stop()
