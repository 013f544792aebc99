"""The Workers under test, each started under miniflare (jobs/intentedge_jobs/run_worker.mjs: the
pinned workerd, no `wrangler dev` proxy) in its own workerd, with the bindings, KV and cookie its
kind needs.

Kinds: "js" (a module in bench/references/), "python" (a folder there with entry.py),
"growthbook" (GrowthBook's edge app, bench/growthbook.py) and "intentedge" (the staged Worker,
demo/config.toml published into a local KV by our own CLI, the bench visitor's signed cookie).
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from intentedge_jobs.build_worker import build
from intentedge_jobs.devserver import Server, start_miniflare
from intentedge_jobs.paths import ROOT
from intentedge_jobs.wrangler import wrangler_env

from growthbook import prepare

REFERENCES = ROOT / "bench" / "references"
SLOT_SELECTOR = '[data-personalized-region="hero"]'
# Dev-only values, as in .dev.vars (the Worker only needs them to be well-formed).
SESSION_KEYS = "dev1:intentedge-dev-only-session-key-not-a-secret-0001"
PROFILE_SALT = "intentedge-dev-only-profile-salt"
# The bench visitor: second visit, a $180 cart (rule premium-offer fills the hero slot).
VISITOR = ["--visitor-id", "bench-visitor-00000001", "--visits", "2", "--pages", "3", "--stage", "cart",
           "--cart", "180", "--items", "1", "--category", "cameras"]


@dataclass
class Subject:
    name: str
    label: str
    kind: str                       # js, python, growthbook, intentedge
    source: str = ""                # a JS module, or a folder with entry.py
    bindings: dict = field(default_factory=dict)   # vars beyond the kind's own


@dataclass
class Running:
    subject: Subject
    server: Server
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    cold_ms: list[float] = field(default_factory=list)
    peak_rss: int = 0
    idle_rss: int = 0

    def workerd(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.server.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [child for child in children if child.name().startswith("workerd")]


def seed_kv(persist: Path, config: Path = ROOT / "demo" / "config.toml") -> None:
    """Publish `config` into a local KV under `persist` with our own CLI, as `make demo` does."""
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "intentedge"), "publish", "--local", "--persist-to",
                           str(persist), str(config)],
                          cwd=ROOT, capture_output=True, text=True, env=wrangler_env(), timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"intentedge publish failed:\n{done.stdout}{done.stderr}")


class Launcher:
    """Starts a subject under miniflare; knows the bindings, KV and cookie each one needs."""

    def __init__(self, tmp: Path, origin_url: str):
        self.tmp = tmp
        self.origin_url = origin_url
        self.fragment = ""          # the hero fragment intentedge chose, once it ran
        self.intentedge_root = build()
        seed_kv(tmp / "kv-seed")
        self.cookie = _bench_cookie()
        self.starts = 0

    def start(self, subject: Subject) -> tuple[Server, str, dict[str, str]]:
        self.starts += 1
        log = self.tmp / f"{subject.name}-{self.starts}.log"
        bindings = {"ORIGIN_URL": self.origin_url, "SLOT_SELECTOR": SLOT_SELECTOR, "FRAGMENT_HTML": self.fragment}
        headers: dict[str, str] = {}
        kv = None
        extra: dict = {}
        if subject.kind == "js":
            root, extra["script"] = REFERENCES, str(REFERENCES / subject.source)
        elif subject.kind == "python":
            root = REFERENCES / subject.source
        elif subject.kind == "growthbook":
            work = self.tmp / f"growthbook-{self.starts}"
            work.mkdir()
            extra = prepare(work, self.origin_url, SLOT_SELECTOR, self.fragment, inject_sdk=True)
            bindings = {**extra.pop("bindings"), "ORIGIN_URL": self.origin_url}
            root = work
        else:
            root = self.intentedge_root
            kv = self.tmp / f"kv-{self.starts}"
            shutil.copytree(self.tmp / "kv-seed", kv)   # one KV store per workerd: no shared SQLite files
            bindings = {"ORIGIN_URL": self.origin_url, "SESSION_KEYS": SESSION_KEYS, "PROFILE_SALT": PROFILE_SALT,
                        **subject.bindings}
            headers = {"Cookie": self.cookie}
        server, url = start_miniflare(ROOT, root, log_path=log, bindings=bindings, kv_persist=kv,
                                      count_decisions=subject.kind == "intentedge", timeout=120, extra=extra)
        return server, url, headers


def _bench_cookie() -> str:
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "intentedge"), "cookie", "--keys", SESSION_KEYS, *VISITOR],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    cookie = done.stdout.strip().splitlines()[-1]
    if not cookie.startswith("pz="):
        raise SystemExit(f"intentedge cookie printed no cookie: {done.stdout}{done.stderr}")
    return cookie


def get(url: str, headers: dict[str, str], timeout: float = 60) -> tuple[int, dict[str, str], bytes, float, float]:
    """(status, headers, body, ms to the response headers, ms to the last byte) on a new connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        started = time.perf_counter()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        first = time.perf_counter()
        body = response.read()
        done = time.perf_counter()
        return (response.status, {k.lower(): v for k, v in response.getheaders()}, body,
                (first - started) * 1000, (done - started) * 1000)
    finally:
        connection.close()


def launch(launcher: Launcher, subject: Subject, cold_starts: int) -> Running:
    """`cold_starts` fresh starts, each timed to its first 100 KB page; the last one stays up."""
    cold = []
    for attempt in range(cold_starts):
        started = time.perf_counter()
        server, url, headers = launcher.start(subject)
        status, _, _, _, _ = get(f"{url}/100k/", headers)
        cold.append((time.perf_counter() - started) * 1000)
        if status != 200:
            server.stop()
            raise SystemExit(f"{subject.name}: first request answered {status}; log: {server.log_path}")
        if attempt < cold_starts - 1:
            server.stop()
    running = Running(subject, server, url, headers, cold)
    running.idle_rss = sum(process.memory_info().rss for process in running.workerd())
    return running
