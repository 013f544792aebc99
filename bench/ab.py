"""Benchmark: this tree's Worker against another commit's, in workerd CPU time per request.

    .venv/bin/python bench/ab.py [--base HEAD] [--tree COMMIT] [--page 10k] [--rounds 8] [--seconds 4]
                                 [--ttfb 100] [--page-cache] [--origin-delay-ms 0]

On a shared 2-core machine, requests/s moves by 10 % and more between runs of the same build, so
a change worth 5 % cannot be seen in `make bench`. Here both builds serve the bench visitor
(bench/harness/: nginx, demo/config.toml in local KV, the signed cookie) under load at the same
time, so whatever else the machine does slows both alike, and what is compared is the CPU
time workerd spent per request (psutil, user + system), not requests/s. The builds run twice,
started in both orders: the first-started workerd measured a few % slower than an identical
second one. Prints each build's median CPU per request and the ratio tree / base of each round
(both builds measured over the same seconds), with its median and quartiles, then each build's
time to first byte without load (sequential requests, the builds in turn). `--origin-delay-ms`
puts a slow Python origin (bench/harness/origins.py) in place of nginx, for latency: use it with
`--rounds 0`. No assertions.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from intentedge_jobs.build_worker import build
from intentedge_jobs.paths import ROOT

from harness.debian import ensure_debian
from harness.load import load_all
from harness.origins import PAGES, Nginx, Origin, origin_page
from harness.workers import Launcher, Running, Subject, get, launch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare with")
    parser.add_argument("--tree", help="a commit to measure instead of the working tree")
    parser.add_argument("--page", default="10k", choices=list(PAGES))
    parser.add_argument("--rounds", type=int, default=8, help="rounds per session (two sessions)")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--page-cache", action="store_true", help="keep the base-page cache on")
    parser.add_argument("--ttfb", type=int, default=100, help="sequential requests per build and session, unloaded")
    parser.add_argument("--origin-delay-ms", type=float, default=0.0,
                        help="a Python origin that waits this long before each answer, instead of nginx")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="intentedge-ab-"))
    tmp.chmod(0o755)
    builds = {"base": _staged_commit(args.base, tmp / "base"),
              "tree": _staged_commit(args.tree, tmp / "tree") if args.tree else build(tmp / "tree")}
    print(f"base: {args.base}; tree: {args.tree or 'the working tree'}")
    origin_url, stop_origin = _start_origin(args, tmp)
    launcher = Launcher(tmp, origin_url)
    wrk = ensure_debian("wrk")
    cpu: dict[str, list[float]] = {name: [] for name in builds}
    first_bytes: dict[str, list[float]] = {name: [] for name in builds}
    ratios: list[float] = []   # tree / base within each round: both saw the same machine
    finished = False
    try:
        for order in (["base", "tree"], ["tree", "base"]):
            session, ttfb = _session(launcher, wrk, {name: builds[name] for name in order}, args)
            paired = [tree / base for base, tree in zip(session["base"], session["tree"])]
            ratios += paired
            for name in builds:
                cpu[name] += session[name]
                first_bytes[name] += ttfb[name]
            if paired:
                print(f"{order[0]} started first: tree / base per round "
                      f"{', '.join(f'{r:.3f}' for r in paired)}; median {statistics.median(paired):.3f}")
        finished = True
    finally:
        stop_origin()
        if finished:
            shutil.rmtree(tmp, ignore_errors=True)
        else:   # the logs a failure message points to
            print(f"kept {tmp} (staged builds, logs)", file=sys.stderr)
    _summary(cpu, first_bytes, ratios)


def _start_origin(args, tmp: Path):
    """(URL, stop): nginx with every page, or a slow Python origin (the same page on every path)."""
    if args.origin_delay_ms:
        origin = Origin(origin_page(PAGES[args.page]), args.origin_delay_ms / 1000).start()
        return origin.url, origin.server.shutdown
    nginx = Nginx(tmp / "nginx", {name: origin_page(size) for name, size in PAGES.items()})
    return nginx.url, nginx.server.stop


def _summary(cpu: dict[str, list[float]], first_bytes: dict[str, list[float]], ratios: list[float]) -> None:
    for name, values in cpu.items():
        load = f"median {statistics.median(values):,.0f} us of workerd CPU per request; " if values else ""
        print(f"{name}: {load}unloaded, time to first byte p50 {statistics.median(first_bytes[name]):.2f} ms")
    if len(ratios) > 1:
        print(f"tree / base, median of {len(ratios)} paired rounds: {statistics.median(ratios):.3f} "
              f"(quartiles {', '.join(f'{q:.3f}' for q in statistics.quantiles(ratios, n=4))})")


def _staged_commit(commit: str, out: Path) -> Path:
    """`commit`'s Worker, staged in `out`."""
    source = out.with_name(out.name + "-source")
    source.mkdir()
    archive = subprocess.run(["git", "archive", commit, "worker", "core"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return build(out, source=source)


def _session(launcher: Launcher, wrk: str, builds: dict[str, Path], args):
    """Start each build, then `rounds` rounds of wrk on all of them at once, then `ttfb` sequential
    requests to each in turn: (CPU microseconds per request, ms to the response headers)."""
    running: dict[str, Running] = {}
    try:
        for name, root in builds.items():
            launcher.intentedge_root = root
            bindings = {} if args.page_cache else {"PAGE_CACHE": "off"}
            running[name] = launch(launcher, Subject(name, name, "intentedge", bindings=bindings), 1)
            status, _, body, _, _ = get(f"{running[name].url}/{args.page}/", running[name].headers)
            if status != 200 or b"data-pz-rule" not in body:
                raise SystemExit(f"{name}: did not personalize the page (status {status})")
        for _ in range(20):   # warm-up, for the unloaded probe too
            for subject in running.values():
                get(f"{subject.url}/{args.page}/", subject.headers)
        if args.rounds:
            load_all(wrk, running, args.page, 2)
        cpu: dict[str, list[float]] = {name: [] for name in builds}
        for _ in range(args.rounds):
            for name, value in load_all(wrk, running, args.page, args.seconds).items():
                cpu[name].append(value)
        ttfb: dict[str, list[float]] = {name: [] for name in builds}
        for _ in range(args.ttfb):
            for name, subject in running.items():
                ttfb[name].append(get(f"{subject.url}/{args.page}/", subject.headers)[3])
        return cpu, ttfb
    finally:
        for subject in running.values():
            subject.server.stop()


if __name__ == "__main__":
    sys.exit(main())
