"""Benchmark: what one Cache API hit costs under miniflare, where the cache is a local service.

    .venv/bin/python bench/cache_floor.py [--page 10k] [--rounds 6] [--seconds 4]

Runs the JavaScript pass-through (bench/references/js_passthrough.mjs), a JavaScript Worker that
serves the page from caches.default (js_cache_hit.mjs), and intentedge with and without its
base-page cache side by side in front of nginx, under wrk -c2 each at the same time, and prints
workerd's CPU per request for each and the two differences: what a cache hit costs in this local
harness, where the Cache API is a service in the Worker's own workerd (at the edge it is the
colo's cache), and what intentedge's page cache costs on top of it. No assertions.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from harness.debian import ensure_debian
from harness.load import load_all
from harness.origins import PAGES, Nginx, origin_page
from harness.workers import Launcher, Subject, get, launch

SUBJECTS = {"JS pass-through": Subject("js-pass", "JS pass-through", "js", "js_passthrough.mjs"),
            "JS cache hit": Subject("js-cache", "JS cache hit", "js", "js_cache_hit.mjs"),
            "intentedge": Subject("intentedge", "intentedge (full)", "intentedge"),
            "intentedge, PAGE_CACHE=off": Subject("intentedge-nopage", "intentedge, PAGE_CACHE=off", "intentedge",
                                                  bindings={"PAGE_CACHE": "off"})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", default="10k", choices=list(PAGES))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="intentedge-cache-floor-"))
    nginx = Nginx(tmp / "nginx", {name: origin_page(size) for name, size in PAGES.items()})
    running = {}
    try:
        launcher = Launcher(tmp, nginx.url)
        for name, subject in SUBJECTS.items():
            running[name] = launch(launcher, subject, 1)
            for _ in range(20):   # the first fills the cache
                _, headers, _, _, _ = get(f"{running[name].url}/{args.page}/", running[name].headers)
            if name == "JS cache hit" and "hit" not in headers.get("cf-cache-status", headers.get("server-timing", "")).lower():
                raise SystemExit(f"{name}: not served from the cache: {headers}")
        wrk = ensure_debian("wrk")
        load_all(wrk, running, args.page, 2)
        cpu = {name: [] for name in running}
        for _ in range(args.rounds):
            for name, value in load_all(wrk, running, args.page, args.seconds).items():
                cpu[name].append(value)
    finally:
        for subject in running.values():
            subject.server.stop()
        nginx.server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in cpu.items()}
    for name, value in medians.items():
        print(f"{name}: median {value:,.0f} us of workerd CPU per request ({args.page}, {args.rounds} rounds)")
    for with_cache, without in (("JS cache hit", "JS pass-through"), ("intentedge", "intentedge, PAGE_CACHE=off")):
        print(f"{with_cache} - {without}: {medians[with_cache] - medians[without]:+,.0f} us per request")


if __name__ == "__main__":
    sys.exit(main())
