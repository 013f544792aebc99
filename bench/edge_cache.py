"""Benchmark: the Worker with warm caches vs caching disabled (CACHE="off"), same page, same load.

    .venv/bin/python bench/edge_cache.py [--rounds 3] [--duration 10] [--warmup 2] [--concurrency 4]
                                         [--page-kb 100] [--origin-delay-ms 0] [--keep]

Builds the Worker tree (build/worker), starts a local origin that counts its hits
(a ~100 KB HTML page with `hero` and `promo` slots, `Cache-Control: public,
max-age=60, stale-while-revalidate=600` and an ETag; 304 on a matching
If-None-Match), seeds a private local KV with demo/config.toml through
`intentedge publish --local --persist-to`, and runs two Worker instances under
miniflare directly (jobs/intentedge_jobs/run_worker.mjs; no `wrangler dev` proxy): one with
both caches on, one with CACHE="off". Each gets its own copy of the seeded KV and its
own in-memory Cache API.

Load: wrk (installed with apt-get when missing) at a fixed concurrency, no cookie
(a first-time visitor: every request is personalized and sets a cookie). Rounds
interleave the two modes, alternating which goes first; each measured run follows
a short warm-up on the same instance. Origin hits are counted during the measured
window only. Prints a markdown table of medians over rounds and the warm/off ratio.
No assertions.

The origin is on loopback (about 0.1 ms per page): with it, the caches save origin
hits but hardly any Worker time, because the Worker is CPU-bound on its own work
(HTMLRewriter over the page, the decision, the cookie). `--origin-delay-ms` adds
a round trip to every origin answer, which is where the base-page cache saves
latency. A Worker instance slows down as it serves more requests (its memory
grows); both instances serve about as many, and the order alternates per round.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from intentedge_jobs.build_worker import build
from intentedge_jobs.devserver import Server, start_miniflare
from intentedge_jobs.paths import ROOT

from harness.debian import ensure_debian
from harness.load import WRK_SCRIPT, errors, rps, run_wrk
from harness.origins import Origin, origin_page
from harness.workers import PROFILE_SALT, SESSION_KEYS, seed_kv

MODES = ("warm", "off")


# --- the Worker under miniflare --------------------------------------------------------------

def start_worker(mode: str, persist: Path, origin_url: str, log_path: Path) -> tuple[Server, str]:
    bindings = {"ORIGIN_URL": origin_url, "SESSION_KEYS": SESSION_KEYS, "PROFILE_SALT": PROFILE_SALT}
    if mode == "off":
        bindings["CACHE"] = "off"
    return start_miniflare(ROOT, ROOT / "build" / "worker", log_path=log_path, bindings=bindings,
                           kv_persist=persist, count_decisions=True, timeout=60)


def probe(url: str) -> dict:
    """One request as wrk sends it (no cookie): what the Worker answers."""
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url), timeout=30) as response:
        body = response.read()
        return {"status": response.status, "ms": round((time.perf_counter() - started) * 1000, 1),
                "bytes": len(body), "server-timing": response.headers.get("server-timing"),
                "set-cookie": response.headers.get("set-cookie") is not None,
                "personalized": b'data-pz-rule="' in body}


# --- report -----------------------------------------------------------------------------------

def summarize(runs: list[dict]) -> dict:
    return {
        "rps": statistics.median(rps(run) for run in runs),
        "p50_ms": statistics.median(run["p50_us"] for run in runs) / 1000,
        "p99_ms": statistics.median(run["p99_us"] for run in runs) / 1000,
        "hits_per_1000": 1000 * sum(run["origin_hits"] for run in runs) / max(1, sum(run["requests"] for run in runs)),
        "requests": sum(run["requests"] for run in runs),
        "origin_hits": sum(run["origin_hits"] for run in runs),
        "revalidations": sum(run["revalidations"] for run in runs),
        "errors": sum(errors(run) for run in runs),
        "per_round": [round(rps(run)) for run in runs],
    }


def table(results: dict[str, dict], args) -> str:
    labels = {"warm": "warm caches (isolate metadata + Cache API page, SWR)", "off": 'caching disabled (CACHE="off")'}
    delay = f", origin delay {args.origin_delay_ms:g} ms" if args.origin_delay_ms else ""
    lines = [f"Page {args.page_kb} KB ({args.elements:,} elements){delay}, {args.rounds} rounds x {args.duration:g} s per mode (medians), "
             f"wrk -t{args.threads} -c{args.concurrency}, no cookie (every response personalized, Set-Cookie).",
             "",
             "| mode | requests/s | p50 ms | p99 ms | origin hits / 1,000 requests | requests (origin hits) | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for mode in MODES:
        r = results[mode]
        lines.append(f"| {labels[mode]} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['hits_per_1000']:.2f} | {r['requests']:,} ({r['origin_hits']:,}) | {r['errors']} |")
    warm, off = results["warm"], results["off"]
    lines += ["", f"warm/off: {warm['rps'] / off['rps']:.2f}x requests/s, p50 {warm['p50_ms'] / off['p50_ms']:.2f}x, "
              f"origin hits {warm['hits_per_1000']:.2f} vs {off['hits_per_1000']:.2f} per 1,000 requests.",
              f"Per-round requests/s: warm {warm['per_round']}, off {off['per_round']}; "
              f"origin 304 revalidations in measured windows: warm {warm['revalidations']}, off {off['revalidations']}."]
    return "\n".join(lines)


def log_summary(lines: list[str]) -> str:
    """The Worker's log in one line: its exit line, requests cut off by wrk, anything else."""
    exit_line = next((line for line in reversed(lines) if line.startswith("run_worker: exiting")), "no exit line")
    # wrk closes its connections at the end of a run with requests in flight: workerd logs each.
    def cut_off(line: str) -> bool:
        return "error:" in line and "disconnected" in line
    cut = sum(cut_off(line) for line in lines)
    other = [line for line in lines
             if not line.startswith(("ready ", "run_worker: exiting", "stack: ", "workerd/util/symbolizer"))
             and line not in ("[workerd] Loading ", "[workerd] Loaded ") and not cut_off(line)]
    return (f"{exit_line}; {cut} requests cut off by wrk at the end of a run; {len(other)} other lines"
            + (f", first: {other[0][:300]}" if other else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each measured run")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--page-kb", type=int, default=100)
    parser.add_argument("--path", default="/", help="the page requested (the origin serves one page)")
    parser.add_argument("--origin-delay-ms", type=float, default=0.0,
                        help="delay every origin answer (default 0: a loopback origin answers in ~0.1 ms)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, KV) for inspection")
    args = parser.parse_args()
    if not (1 <= args.rounds <= 20 and 1 <= args.duration <= 120 and 1 <= args.warmup <= 30
            and 1 <= args.concurrency <= 256 and 1 <= args.threads <= args.concurrency
            and 1 <= args.page_kb <= 10_000 and 0 <= args.origin_delay_ms <= 2000):
        parser.error("rounds 1-20, duration 1-120 s, warmup 1-30 s, concurrency 1-256, threads 1-concurrency, "
                     "page 1-10000 KB, origin delay 0-2000 ms")

    wrk = ensure_debian("wrk")
    out = build()
    print(f"built {sum(1 for _ in out.rglob('*.py'))} Python modules in {out.relative_to(ROOT)}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="intentedge-bench-"))
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    page = origin_page(args.page_kb * 1000)
    args.elements = len(re.findall(rb"<[a-zA-Z]", page))   # HTMLRewriter's cost grows with them
    origin = Origin(page, args.origin_delay_ms / 1000).start()
    workers: dict[str, tuple[Server, str]] = {}
    try:
        seed_kv(tmp / "seed")
        for mode in MODES:
            shutil.copytree(tmp / "seed", tmp / mode)   # one KV store per workerd: no shared SQLite files
            server, url = start_worker(mode, tmp / mode, origin.url, tmp / f"worker-{mode}.log")
            workers[mode] = (server, url.rstrip("/") + args.path)
            first, second = probe(workers[mode][1]), probe(workers[mode][1])
            print(f"{mode}: {url} first request {first}", file=sys.stderr)
            print(f"{mode}: second request {second}", file=sys.stderr)
            if not (second["status"] == 200 and second["personalized"] and second["set-cookie"]):
                raise SystemExit(f"the {mode} Worker does not personalize the page; log: {tmp}/worker-{mode}.log")

        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for round_no in range(args.rounds):
            order = MODES if round_no % 2 == 0 else MODES[::-1]
            for mode in order:
                url = workers[mode][1]
                run_wrk(wrk, script, url, seconds=args.warmup, connections=args.concurrency, threads=args.threads)
                before = origin.counts()
                run = run_wrk(wrk, script, url, seconds=args.duration, connections=args.concurrency,
                              threads=args.threads)
                after = origin.counts()
                run["origin_hits"], run["revalidations"] = after[0] - before[0], after[1] - before[1]
                runs[mode].append(run)
                print(f"round {round_no + 1} {mode}: {rps(run):,.0f} req/s, "
                      f"p50 {run['p50_us'] / 1000:.2f} ms, p99 {run['p99_us'] / 1000:.2f} ms, "
                      f"origin hits {run['origin_hits']} / {run['requests']} requests", file=sys.stderr)
        results = {mode: summarize(runs[mode]) for mode in MODES}
        print(table(results, args))
    finally:
        for server, _ in workers.values():
            server.stop()
        origin.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            for mode in MODES:
                log = tmp / f"worker-{mode}.log"
                if log.exists():
                    lines = log.read_text("utf-8", "replace").splitlines()
                    print(f"worker ({mode}) log: {log_summary(lines)}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
