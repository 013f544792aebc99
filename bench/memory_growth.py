"""Benchmark: how much workerd's memory grows per request (RSS slope), for one Worker tree.

    .venv/bin/python bench/memory_growth.py [--root build/worker] [--no-build] [--mode warm|off]
                                            [--requests 8000] [--chunk-seconds 5] [--warmup-seconds 3]
                                            [--concurrency 4] [--page-kb 100] [--path /]

Builds the Worker tree (unless --no-build or --root names another folder), starts the
bench origin (bench/harness/origins.py's ~100 KB page), seeds a private local KV, runs the
Worker under miniflare directly (jobs/intentedge_jobs/run_worker.mjs), warms it up with wrk,
then runs wrk in chunks of --chunk-seconds until at least --requests more were served (no cookie:
every response personalized), reading the workerd process's VmRSS after each chunk. Prints the RSS series, the
least-squares slope in KB/request, and requests/s per chunk. No assertions.

A Worker that leaks nothing levels off after its warm-up; a leak shows as a steady slope.
Response headers starting with `x-debug-` on a final probe are printed (for counters a
scratch copy of the Worker may expose).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.debian import ensure_debian  # noqa: E402
from harness.load import WRK_SCRIPT, errors, rps, run_wrk  # noqa: E402
from harness.origins import Origin, origin_page  # noqa: E402
from harness.workers import PROFILE_SALT, SESSION_KEYS, seed_kv  # noqa: E402
from intentedge_jobs.build_worker import OUT, build  # noqa: E402
from intentedge_jobs.devserver import RUN_WORKER, Server, ServerError, free_port  # noqa: E402
from intentedge_jobs.paths import ROOT  # noqa: E402
from intentedge_jobs.wrangler import wrangler_env  # noqa: E402


def workerd_pid(leader: int) -> int:
    """The workerd process under the node process `leader` (miniflare spawns it)."""
    for _ in range(100):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
            except OSError:
                continue
            if int(fields[1]) == leader and comm.startswith("workerd"):
                return int(stat.parent.name)
        time.sleep(0.1)
    raise RuntimeError(f"no workerd child of {leader}")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=OUT, help="the staged Worker tree (default build/worker)")
    parser.add_argument("--no-build", action="store_true", help="do not (re)build the default tree")
    parser.add_argument("--mode", choices=("warm", "off"), default="warm", help='"off" sets CACHE="off"')
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--chunk-seconds", type=int, default=5, help="wrk run length between RSS readings")
    parser.add_argument("--warmup-seconds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--page-kb", type=int, default=100)
    parser.add_argument("--path", default="/")
    parser.add_argument("--label", default="", help="printed with the result")
    parser.add_argument("--entry", default="entry.py", help="the entry module under --root")
    parser.add_argument("--runner", type=Path, default=RUN_WORKER,
                        help="a run_worker.mjs variant (e.g. one that also loads .mjs modules)")
    args = parser.parse_args()
    if not (100 <= args.requests <= 200_000 and 1 <= args.chunk_seconds <= 60 and 0 <= args.warmup_seconds <= 60
            and 1 <= args.concurrency <= 64 and 1 <= args.page_kb <= 10_000):
        parser.error("requests 100-200000, chunk 1-60 s, warm-up 0-60 s, concurrency 1-64, page 1-10000 KB")
    root = args.root.resolve()
    if root == OUT.resolve() and not args.no_build:
        build()

    wrk = ensure_debian("wrk")
    tmp = Path(tempfile.mkdtemp(prefix="intentedge-memory-"))
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    origin = Origin(origin_page(args.page_kb * 1000)).start()
    server = None
    try:
        seed_kv(tmp / "kv")
        bindings = {"ORIGIN_URL": origin.url, "SESSION_KEYS": SESSION_KEYS, "PROFILE_SALT": PROFILE_SALT}
        if args.mode == "off":
            bindings["CACHE"] = "off"
        options = {"root": str(root), "entry": args.entry, "kvPersist": str(tmp / "kv" / "v3" / "kv"),
                   "port": free_port(), "host": "127.0.0.1", "bindings": bindings, "countDecisions": True}
        log = tmp / "worker.log"
        server = Server("worker", [shutil.which("node") or "node", str(args.runner), json.dumps(options)],
                        cwd=ROOT, log_path=log, env=wrangler_env())
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and server.process.poll() is None:
            for line in log.read_text("utf-8", "replace").splitlines():
                if line.startswith("ready http://"):
                    url = line.split()[1].rstrip("/") + args.path
            time.sleep(0.1)
        if url is None:
            raise ServerError(f"worker did not start:\n{server.log_tail()}")
        pid = workerd_pid(server.process.pid)
        urllib.request.urlopen(url, timeout=30).read()   # Pyodide start-up
        if args.warmup_seconds:
            run_wrk(wrk, script, url, seconds=args.warmup_seconds, connections=args.concurrency, threads=1)
        xs, ys = [0], [rss_kb(pid)]
        print(f"{args.label} mode={args.mode} root={root} workerd pid {pid}: after warm-up RSS {ys[0] / 1024:.1f} MB",
              file=sys.stderr)
        sent, rates, failed = 0, [], 0
        while sent < args.requests:
            run = run_wrk(wrk, script, url, seconds=args.chunk_seconds, connections=args.concurrency, threads=1)
            sent += run["requests"]
            failed += errors(run)
            rates.append(rps(run))
            xs.append(sent)
            ys.append(rss_kb(pid))
            print(f"  {sent:>7,} requests  RSS {ys[-1] / 1024:7.1f} MB  {rates[-1]:6.0f} req/s", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=30) as response:
            debug = {k: v for k, v in response.headers.items() if k.lower().startswith("x-debug-")}
            personalized = b'data-pz-rule="' in response.read()
        kb = slope(xs, ys)
        # the first chunk still includes start-up growth (JIT, heap sizing): the slope without it too
        late = f", {slope(xs[1:], ys[1:]):.2f} after the first chunk" if len(xs) > 3 else ""
        print(f"{args.label or root.name}: {kb:.2f} KB/request{late} (least squares over {sent:,} requests), "
              f"RSS {ys[0] / 1024:.1f} -> {ys[-1] / 1024:.1f} MB, req/s {rates[0]:.0f} -> {rates[-1]:.0f}, "
              f"errors {failed}, last response personalized: {personalized}" + (f", {debug}" if debug else ""))
    finally:
        if server is not None:
            server.stop()
        origin.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
