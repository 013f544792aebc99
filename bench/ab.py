"""Benchmark: this tree's Worker against another commit's, in workerd CPU time per request.

    .venv/bin/python bench/ab.py [--base HEAD] [--tree COMMIT] [--page 10k] [--rounds 8] [--seconds 4]
                                 [--page-cache]

On a shared 2-core machine, requests/s moves by 10 % and more between runs of the same build, so
a change worth 5 % cannot be seen in `make bench`. Here both builds serve the bench visitor
(compare.py's setup: nginx, demo/config.toml in local KV, the signed cookie) under load at the
same time, so whatever else the machine does slows both alike, and what is compared is the CPU
time workerd spent per request (psutil, user + system), not requests/s. The builds run twice,
started in both orders: the first-started workerd measured a few % slower than an identical
second one. Prints each build's median CPU per request and the ratio tree / base of each round
(both builds measured over the same seconds), with its median and quartiles. No assertions.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from intentedge.jobs.build_worker import build

from common import ROOT, ensure_debian, origin_page
from compare import PAGES, Launcher, Nginx, Running, Subject, get, launch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare with")
    parser.add_argument("--tree", help="a commit to measure instead of the working tree")
    parser.add_argument("--page", default="10k", choices=list(PAGES))
    parser.add_argument("--rounds", type=int, default=8, help="rounds per session (two sessions)")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--page-cache", action="store_true", help="keep the base-page cache on")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="intentedge-ab-"))
    tmp.chmod(0o755)
    builds = {"base": _staged_commit(args.base, tmp / "base"),
              "tree": _staged_commit(args.tree, tmp / "tree") if args.tree else build(tmp / "tree")}
    print(f"base: {args.base}; tree: {args.tree or 'the working tree'}")
    nginx = Nginx(tmp / "nginx", {name: origin_page(size) for name, size in PAGES.items()})
    launcher = Launcher(tmp, nginx.url)
    wrk = ensure_debian("wrk")
    cpu: dict[str, list[float]] = {name: [] for name in builds}
    ratios: list[float] = []   # tree / base within each round: both saw the same machine
    try:
        for order in (["base", "tree"], ["tree", "base"]):
            session = _session(launcher, wrk, {name: builds[name] for name in order}, args)
            paired = [tree / base for base, tree in zip(session["base"], session["tree"])]
            print(f"{order[0]} started first: tree / base per round "
                  f"{', '.join(f'{r:.3f}' for r in paired)}; median {statistics.median(paired):.3f}")
            ratios += paired
            for name, values in session.items():
                cpu[name] += values
    finally:
        nginx.server.stop()
    for name, values in cpu.items():
        print(f"{name}: median {statistics.median(values):,.0f} us of workerd CPU per request")
    print(f"tree / base, median of {len(ratios)} paired rounds: {statistics.median(ratios):.3f} "
          f"(quartiles {', '.join(f'{q:.3f}' for q in statistics.quantiles(ratios, n=4))})")


def _staged_commit(commit: str, out: Path) -> Path:
    """`commit`'s Worker, staged in `out`."""
    source = out.with_name(out.name + "-source")
    source.mkdir()
    archive = subprocess.run(["git", "archive", commit, "worker", "core"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return build(out, source=source)


def _session(launcher: Launcher, wrk: str, builds: dict[str, Path], args) -> dict[str, list[float]]:
    """Start each build, then `rounds` rounds of wrk on all of them at once."""
    running: dict[str, Running] = {}
    try:
        for name, root in builds.items():
            launcher.intentedge_root = root
            bindings = {} if args.page_cache else {"PAGE_CACHE": "off"}
            running[name] = launch(launcher, Subject(name, name, "intentedge", bindings=bindings), 1)
            status, _, body, _, _ = get(f"{running[name].url}/{args.page}/", running[name].headers)
            if status != 200 or b"data-pz-rule" not in body:
                raise SystemExit(f"{name}: did not personalize the page (status {status})")
        _load(wrk, running, args.page, 2)   # warm-up
        cpu: dict[str, list[float]] = {name: [] for name in builds}
        for _ in range(args.rounds):
            for name, value in _load(wrk, running, args.page, args.seconds).items():
                cpu[name].append(value)
        return cpu
    finally:
        for subject in running.values():
            subject.server.stop()


def _load(wrk: str, running: dict[str, Running], page: str, seconds: int) -> dict[str, float]:
    """wrk -c2 on every subject at once; each one's workerd CPU microseconds per request."""
    before = {name: _cpu_seconds(subject) for name, subject in running.items()}
    loads = {name: subprocess.Popen([wrk, "-t1", "-c2", f"-d{seconds}s", *_header_args(subject.headers),
                                     f"{subject.url}/{page}/"], stdout=subprocess.PIPE, text=True)
             for name, subject in running.items()}
    outputs = {name: load.communicate()[0] for name, load in loads.items()}
    per_request = {}
    for name, subject in running.items():
        requests = re.search(r"(\d+) requests in", outputs[name])
        if requests is None or int(requests.group(1)) == 0 or "Non-2xx" in outputs[name]:
            raise SystemExit(f"{name}: wrk failed:\n{outputs[name]}")
        per_request[name] = (_cpu_seconds(subject) - before[name]) / int(requests.group(1)) * 1e6
    return per_request


def _cpu_seconds(subject: Running) -> float:
    return sum(sum(process.cpu_times()[:2]) for process in subject.workerd())


def _header_args(headers: dict[str, str]) -> list[str]:
    return [argument for name, value in headers.items() for argument in ("-H", f"{name}: {value}")]


if __name__ == "__main__":
    sys.exit(main())
