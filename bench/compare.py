"""`make bench`: intentedge against the runtime's floor and a real peer, in one run.

    .venv/bin/python bench/compare.py [--rounds 3] [--duration 5] [--warmup 1] [--concurrency 4]
                                      [--pages 10k,100k,1m] [--only NAME,...] [--cold-starts 3]
                                      [--out bench/results] [--keep]

Every Worker runs under miniflare directly (jobs/intentedge_jobs/run_worker.mjs: the pinned
workerd, no `wrangler dev` proxy), each in its own workerd, all in front of one nginx (Debian's,
installed when missing) serving three pages of about 10 KB, 100 KB and 1 MB with Cache-Control
and validators (bench/harness/ starts them all). The subjects (SUBJECTS below):

- JavaScript pass-through and JavaScript HTMLRewriter injecting one fragment,
- Python pass-through and a minimal Python HTMLRewriter injecting one fragment
  (bench/references/),
- GrowthBook's Cloudflare edge app with its payload in KV, a visual-editor experiment that
  sets the hero slot's inner HTML (bench/growthbook.py),
- intentedge itself: demo/config.toml published into local KV by our own CLI, a returning
  visitor's signed cookie (verified, updated and re-signed on every request), profile
  lookup, scoring, rules, both slots filled, Set-Cookie, Server-Timing.

The references inject exactly the hero fragment intentedge chose for that visitor.

Measured per subject: cold start (process start to the first 100 KB response, `--cold-starts`
fresh starts), then rounds of wrk (-t1, fixed concurrency) that interleave subjects and pages
(the order rotates each round; each measured run follows a warm-up on the same instance):
requests/s, p50 and p99 latency (medians over rounds); then sequential requests for time to
first byte (response headers) and to the last byte; workerd's resident memory sampled every
0.2 s (peak). Writes results.md, results.json and chart.png to --out and prints the table.
No assertions: the goals are checked and reported, not enforced. docs/performance.md holds the
method and the results.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

import psutil

from intentedge_jobs.devserver import ServerError
from intentedge_jobs.paths import ROOT

from harness.debian import ensure_debian
from harness.load import WRK_SCRIPT, errors, rps, run_wrk
from harness.origins import PAGES, Nginx, origin_page
from harness.workers import Launcher, Running, Subject, get, launch

SUBJECTS = [
    Subject("js-pass", "JS pass-through", "js", "js_passthrough.mjs"),
    Subject("js-rewriter", "JS HTMLRewriter, 1 fragment", "js", "js_rewriter.mjs"),
    Subject("py-pass", "Python pass-through", "python", "py_passthrough"),
    Subject("py-rewriter", "Python HTMLRewriter, 1 fragment", "python", "py_rewriter"),
    Subject("growthbook", "GrowthBook edge app", "growthbook"),
    Subject("intentedge", "intentedge (full)", "intentedge"),
    # The base-page cache is a Cache API round trip per request: under miniflare a local service,
    # at the edge a lookup in the colo. For a fast origin it is pure cost; this shows how much.
    Subject("intentedge-nopage", "intentedge, PAGE_CACHE=off", "intentedge", bindings={"PAGE_CACHE": "off"}),
]


def check_injection(running: Running, fragment: str) -> str:
    """What the subject did to the 100 KB page; raises when it did not inject the hero fragment."""
    status, headers, body, _, _ = get(f"{running.url}/100k/", running.headers)
    text = body.decode()
    hero = re.search(r'<div data-personalized-region="hero"[^>]*>(.*?)</div>', text, re.S)
    if status != 200 or hero is None:
        raise SystemExit(f"{running.subject.name}: status {status}, no hero slot in the page")
    if running.subject.kind == "intentedge":
        if "set-cookie" not in headers or 'data-pz-rule="' not in text:
            raise SystemExit(f"intentedge did not personalize the page: {headers}")
    elif running.subject.name not in ("js-pass", "py-pass") and fragment not in hero.group(1):
        raise SystemExit(f"{running.subject.name} did not inject the fragment: {hero.group(0)[:300]}")
    return hero.group(1)


# --- measuring --------------------------------------------------------------------------------

class MemorySampler(threading.Thread):
    """Every 0.2 s, each subject's workerd resident memory; keeps the peak."""

    def __init__(self, running: list[Running]):
        super().__init__(name="memory", daemon=True)
        self.running = running
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            for subject in self.running:
                try:
                    rss = sum(process.memory_info().rss for process in subject.workerd())
                except psutil.Error:
                    continue
                subject.peak_rss = max(subject.peak_rss, rss)


def load_rounds(running: list[Running], args, wrk: str, script: Path) -> dict:
    runs: dict = {page: {r.subject.name: [] for r in running} for page in args.pages}
    for round_no in range(args.rounds):
        for page in args.pages:
            shift = round_no % len(running)
            for subject in running[shift:] + running[:shift]:
                url = f"{subject.url}/{page}/"
                options = dict(connections=args.concurrency, threads=1, headers=subject.headers)
                run_wrk(wrk, script, url, seconds=args.warmup, **options)
                run = run_wrk(wrk, script, url, seconds=args.duration, **options)
                runs[page][subject.subject.name].append(run)
                print(f"round {round_no + 1} {page:>4} {subject.subject.name:<12} "
                      f"{rps(run):8,.0f} req/s  p50 {run['p50_us'] / 1000:6.2f} ms  "
                      f"p99 {run['p99_us'] / 1000:6.2f} ms  errors {errors(run)}", file=sys.stderr)
    return runs


def first_bytes(running: list[Running], pages: list[str], samples: int) -> dict:
    """Sequential requests, one at a time: ms to the response headers and to the last byte, and
    for intentedge how its metadata was found (Server-Timing pz-meta)."""
    out: dict = {page: {} for page in pages}
    for page in pages:
        for subject in running:
            ttfb, total, meta = [], [], {}
            for _ in range(samples):
                status, headers, _, first, last = get(f"{subject.url}/{page}/", subject.headers)
                ttfb.append(first)
                total.append(last)
                found = re.search(r'pz-meta;desc="?([A-Za-z]+)', headers.get("server-timing", ""))
                if found:
                    meta[found.group(1)] = meta.get(found.group(1), 0) + 1
            out[page][subject.subject.name] = {"ttfb": ttfb, "total": total, "meta": meta}
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarize(running: list[Running], runs: dict, probes: dict) -> dict:
    results: dict = {"pages": {}, "subjects": {}}
    for page, by_subject in runs.items():
        results["pages"][page] = {}
        for name, subject_runs in by_subject.items():
            probe = probes[page][name]
            results["pages"][page][name] = {
                "rps": statistics.median(rps(run) for run in subject_runs),
                "p50_ms": statistics.median(run["p50_us"] for run in subject_runs) / 1000,
                "p99_ms": statistics.median(run["p99_us"] for run in subject_runs) / 1000,
                "ttfb_p50_ms": statistics.median(probe["ttfb"]),
                "ttfb_p99_ms": percentile(probe["ttfb"], 0.99),
                "last_byte_p50_ms": statistics.median(probe["total"]),
                "requests": sum(run["requests"] for run in subject_runs),
                "errors": sum(errors(run) for run in subject_runs),
                "per_round_rps": [round(rps(run)) for run in subject_runs],
                "meta": probe["meta"],
            }
    for subject in running:
        results["subjects"][subject.subject.name] = {
            "label": subject.subject.label,
            "cold_start_ms": [round(ms) for ms in subject.cold_ms],
            "idle_rss_mb": round(subject.idle_rss / 2**20, 1),
            "peak_rss_mb": round(subject.peak_rss / 2**20, 1),
        }
    return results


# --- reporting --------------------------------------------------------------------------------

def goals(results: dict) -> list[tuple[bool, str]]:
    """intentedge's performance goals, for each intentedge variant that ran: (met, what was measured).

    Per page: at least 0.9x the minimal Python HTMLRewriter's requests/s; better than GrowthBook's
    edge app on requests/s, p50 and TTFB all three; no warm request waiting for KV. TTFB that does
    not grow with the page (streaming): at 1 MB under twice the 10 KB page's plus 1 ms. Peak memory
    under half of GrowthBook's."""
    return [check for name in results["subjects"] if name.startswith("intentedge")
            for check in _goals(results, name)]


def _goals(results: dict, us: str) -> list[tuple[bool, str]]:
    pages, subjects = results["pages"], results["subjects"]
    label = subjects[us]["label"]
    checks = []
    for page, by in pages.items():
        ours = by[us]
        if "py-rewriter" in by:
            ratio = ours["rps"] / by["py-rewriter"]["rps"]
            checks.append((ratio >= 0.9, f"{label}, {page}: throughput {ratio:.2f}x the minimal Python HTMLRewriter "
                                         "(goal >= 0.9x)"))
        if "growthbook" in by:
            gb = by["growthbook"]
            better = (ours["rps"] > gb["rps"] and ours["p50_ms"] < gb["p50_ms"]
                      and ours["ttfb_p50_ms"] < gb["ttfb_p50_ms"])
            checks.append((better, f"{label}, {page}: vs GrowthBook {ours['rps'] / gb['rps']:.2f}x requests/s, p50 "
                                   f"{ours['p50_ms']:.2f} vs {gb['p50_ms']:.2f} ms, TTFB {ours['ttfb_p50_ms']:.2f} vs "
                                   f"{gb['ttfb_p50_ms']:.2f} ms (goal: better on all three)"))
        # STALE is served from the isolate at once and refreshed in the background (waitUntil)
        waited = sum(count for state, count in ours["meta"].items() if state not in ("HIT", "STALE"))
        checks.append((waited == 0, f"{label}, {page}: a request waited for KV on {waited} of "
                                    f"{sum(ours['meta'].values())} warm requests, {ours['meta'].get('STALE', 0)} "
                                    "started a background refresh (goal 0 waits; Server-Timing pz-meta)"))
    sizes = [page for page in ("10k", "1m") if page in pages]
    if len(sizes) == 2:
        small, large = (pages[page][us]["ttfb_p50_ms"] for page in sizes)
        checks.append((large < 2 * small + 1, f"{label}: TTFB {small:.2f} ms at 10 KB, {large:.2f} ms at 1 MB "
                                              "(goal: does not grow with the page, streaming)"))
    if "growthbook" in subjects:
        ours, gb = subjects[us]["peak_rss_mb"], subjects["growthbook"]["peak_rss_mb"]
        checks.append((ours < gb / 2, f"{label}: peak memory {ours:.0f} MB vs GrowthBook's {gb:.0f} MB "
                                      f"({ours / gb:.2f}x; goal: a fraction)"))
    return checks


def markdown(results: dict, meta: dict) -> str:
    subjects = results["subjects"]
    lines = ["# Benchmark: intentedge against the runtime's floor and GrowthBook's edge app",
             "",
             f"{meta['date']}, commit {meta['commit']}, {meta['machine']}. workerd {meta['workerd']} under miniflare "
             f"(jobs/run_worker.mjs, no wrangler dev proxy), origin nginx {meta['nginx']} on loopback, "
             f"wrk -t1 -c{meta['concurrency']}, {meta['rounds']} rounds x {meta['duration']:g} s per subject and page "
             f"(after {meta['warmup']:g} s of warm-up; medians over rounds), TTFB over {meta['samples']} sequential "
             f"requests. Produced by `make bench` (bench/compare.py).",
             ""]
    for page, by in results["pages"].items():
        lines += [f"## {page} page ({meta['page_bytes'][page]:,} bytes, {meta['page_elements'][page]:,} elements)", "",
                  "| worker | requests/s | p50 ms | p99 ms | TTFB p50 ms | TTFB p99 ms | last byte p50 ms | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, row in by.items():
            lines.append(f"| {subjects[name]['label']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                         f"{row['ttfb_p50_ms']:.2f} | {row['ttfb_p99_ms']:.2f} | {row['last_byte_p50_ms']:.2f} | "
                         f"{row['errors']} |")
        lines.append("")
    lines += ["## Memory and cold start", "",
              "| worker | peak RSS MB | RSS after start MB | cold start ms (each start) |", "|---|---:|---:|---|"]
    for name, row in subjects.items():
        lines.append(f"| {row['label']} | {row['peak_rss_mb']:.0f} | {row['idle_rss_mb']:.0f} | "
                     f"{', '.join(f'{ms:,}' for ms in row['cold_start_ms'])} |")
    if "intentedge" in subjects:
        lines += ["", "## intentedge (full) relative to each reference", "",
                  "requests/s ratio (higher is better) / p50 ratio / TTFB p50 ratio (lower is better).", "",
                  "| reference | " + " | ".join(results["pages"]) + " |",
                  "|---|" + "---:|" * len(results["pages"])]
        for name in subjects:
            if name.startswith("intentedge"):
                continue
            cells = []
            for by in results["pages"].values():
                ours, ref = by["intentedge"], by[name]
                cells.append(f"{ours['rps'] / ref['rps']:.2f}x / {ours['p50_ms'] / ref['p50_ms']:.2f}x / "
                             f"{ours['ttfb_p50_ms'] / ref['ttfb_p50_ms']:.2f}x")
            lines.append(f"| {subjects[name]['label']} | " + " | ".join(cells) + " |")
        lines += ["", "## Goals", ""]
        lines += [f"- {'met' if ok else '**not met**'}: {text}" for ok, text in goals(results)]
    lines += ["", "Per-round requests/s (each page, each worker) and the raw numbers are in results.json.", ""]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pages = list(results["pages"])
    names = list(results["subjects"])
    labels = [results["subjects"][name]["label"] for name in names]
    figure, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    width = 0.8 / len(names)
    panels = [(axes[0][0], "rps", "requests/s (higher is better)", True),
              (axes[0][1], "p50_ms", "p50 latency, ms (lower is better)", True),
              (axes[1][0], "ttfb_p50_ms", "time to first byte p50, ms (lower is better)", True)]
    for axis, key, title, log in panels:
        for i, name in enumerate(names):
            values = [results["pages"][page][name][key] for page in pages]
            axis.bar([p + (i - (len(names) - 1) / 2) * width for p in range(len(pages))], values, width,
                     label=results["subjects"][name]["label"])
        axis.set_xticks(range(len(pages)), [f"{page} page" for page in pages])
        axis.set_title(title)
        if log:
            axis.set_yscale("log")
        axis.grid(axis="y", alpha=0.3)
    memory = axes[1][1]
    memory.barh(labels, [results["subjects"][name]["peak_rss_mb"] for name in names],
                color=[f"C{i}" for i in range(len(names))])
    memory.set_title("workerd peak resident memory, MB (lower is better)")
    memory.invert_yaxis()
    memory.grid(axis="x", alpha=0.3)
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, legend_labels, loc="lower center", ncol=4, fontsize=9)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_metadata(args, nginx: Nginx, pages: dict[str, bytes]) -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    workerd = next(ROOT.glob("node_modules/@cloudflare/workerd-linux-64/package.json"), None)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.stdout.strip() or "unknown",
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.system()}",
        "workerd": json.loads(workerd.read_text())["version"] if workerd else "unknown",
        "nginx": nginx.version(),
        "concurrency": args.concurrency, "rounds": args.rounds, "duration": args.duration,
        "warmup": args.warmup, "samples": args.samples,
        "page_bytes": {name: len(body) for name, body in pages.items()},
        "page_elements": {name: len(re.findall(rb"<[a-zA-Z]", body)) for name, body in pages.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each measured run")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pages", default="10k,100k,1m", help="a comma-separated subset of 10k,100k,1m")
    parser.add_argument("--only", default="", help="a comma-separated subset of " + ",".join(s.name for s in SUBJECTS))
    parser.add_argument("--cold-starts", type=int, default=3, help="fresh starts timed per subject")
    parser.add_argument("--samples", type=int, default=100, help="sequential requests for TTFB, per page")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, KV, nginx)")
    parser.add_argument("--from-json", type=Path, help="only write results.md and chart.png again from a results.json")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        meta = saved.pop("meta")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(markdown(saved, meta))
        chart(saved, args.out / "chart.png")
        return
    args.pages = [page for page in args.pages.split(",") if page]
    only = {name for name in args.only.split(",") if name}
    subjects = [subject for subject in SUBJECTS if not only or subject.name in only]
    if (not set(args.pages) <= set(PAGES) or not args.pages or only - {s.name for s in SUBJECTS}
            or not (1 <= args.rounds <= 20 and 1 <= args.duration <= 120 and 1 <= args.warmup <= 30
                    and 1 <= args.concurrency <= 256 and 1 <= args.cold_starts <= 10 and 1 <= args.samples <= 10_000)):
        parser.error("pages among 10k,100k,1m; known subjects; rounds 1-20, duration 1-120 s, warmup 1-30 s, "
                     "concurrency 1-256, cold starts 1-10, samples 1-10000")

    wrk = ensure_debian("wrk")
    tmp = Path(tempfile.mkdtemp(prefix="intentedge-compare-"))
    tmp.chmod(0o755)   # nginx's worker runs as another user
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    pages = {name: origin_page(size) for name, size in PAGES.items()}
    nginx = Nginx(tmp / "nginx", pages)
    running: list[Running] = []
    sampler = MemorySampler(running)
    try:
        launcher = Launcher(tmp, nginx.url)
        # intentedge first: the references inject the hero fragment it chose for the bench visitor
        order = sorted(subjects, key=lambda subject: subject.kind != "intentedge")
        for subject in order:
            print(f"starting {subject.name} ({args.cold_starts} cold starts)", file=sys.stderr)
            current = launch(launcher, subject, args.cold_starts)
            running.append(current)
            hero = check_injection(current, launcher.fragment)
            if subject.kind == "intentedge" and not launcher.fragment:
                launcher.fragment = hero
                print(f"intentedge fills the hero slot with: {hero}", file=sys.stderr)
            print(f"  {subject.name}: cold start {current.cold_ms} ms, {current.idle_rss / 2**20:.0f} MB", file=sys.stderr)
        if not launcher.fragment:
            launcher.fragment = "<h2>Premium care</h2>"
        running.sort(key=lambda r: SUBJECTS.index(r.subject))
        sampler.start()
        runs = load_rounds(running, args, wrk, script)
        probes = first_bytes(running, args.pages, args.samples)
        sampler.stopped.set()
        results = summarize(running, runs, probes)
        meta = run_metadata(args, nginx, {page: pages[page] for page in args.pages})
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps({"meta": meta, **results}, indent=1) + "\n")
        report = markdown(results, meta)
        (args.out / "results.md").write_text(report)
        chart(results, args.out / "chart.png")
        print(report)
        print(f"wrote {args.out}/results.md, results.json, chart.png", file=sys.stderr)
    except ServerError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        sampler.stopped.set()
        for subject in running:
            subject.server.stop()
        nginx.server.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
