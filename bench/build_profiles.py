"""Benchmark: `build-profiles` over generated event files, in a subprocess, on CPython.

    .venv/bin/python bench/build_profiles.py [EVENTS ...] [--gzip] [--tmp-dir DIR]

For each size (default 1000000): generate a JSON Lines file of EVENTS events (batches
of 1-20 events, 40 events per visitor over up to 6 sessions, 7 % of events of unknown
types, 10 % of timestamps as ISO strings, a malformed line every 10,000; generation is
not timed), run the job
in a child process and print its events/s (as the job measures it, and over the
child's whole life) and the child's peak RSS (wait4's ru_maxrss). The goal:
>= 200,000 events/s, and a peak RSS that does not grow with the file. No assertions.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
[signals]
stages = ["browse", "product", "cart", "checkout", "purchase"]

[[signals.pages]]
pattern = '^/products/(?P<category>[a-z]+)/(?P<product>[a-z0-9-]+)/'
stage = "product"

[[signals.pages]]
pattern = '^/cart/'
stage = "cart"

[[signals.pages]]
pattern = '^/checkout/done/'
stage = "purchase"

[[signals.pages]]
pattern = '^/checkout/'
stage = "checkout"

[[signals.pages]]
pattern = '^/trial/'
trial = true
"""
CATEGORIES = ("cameras", "lenses", "tripods", "bags", "lights", "drones", "audio", "film")
PRODUCTS = [(f"p-{i:04d}", CATEGORIES[i % len(CATEGORIES)], 20 + (i * 37) % 2000) for i in range(2000)]
TYPES = (("page_view", 60), ("search", 8), ("cta_click", 10), ("cart_add", 9), ("cart_remove", 3),
         ("purchase", 2), ("trial_start", 1), ("scroll", 5), ("video_play", 2))
START = 1_790_000_000


def generate(path: Path, events: int, seed: int = 7) -> int:
    """Write about `events` events; return the number written (unknown types included)."""
    rng = random.Random(seed)
    names = [name for name, weight in TYPES for _ in range(weight)]
    visitors = max(1, events // 40)
    opener = gzip.open if path.name.endswith(".gz") else open
    written = line_no = 0
    with opener(path, "wt", encoding="utf-8") as out:
        while written < events:
            line_no += 1
            if line_no % 10_000 == 0:
                out.write('{"userId": "broken", "events": [\n')
                continue
            visitor = rng.randrange(visitors)
            session = rng.randrange(6)
            ts = START + visitor * 97 + session * 86_400 + rng.randrange(3600)
            batch = []
            for _ in range(min(rng.randint(1, 20), events - written)):
                name = rng.choice(names)
                pid, category, price = PRODUCTS[rng.randrange(len(PRODUCTS))]
                ts += rng.randint(1, 240)
                event = {"type": name, "timestamp": ts if rng.random() < 0.9 else
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))}
                if name in ("page_view", "cta_click"):
                    event["url"] = rng.choice((f"/products/{category}/{pid}/", f"/products/{category}/{pid}/",
                                               "/", "/cart/", "/checkout/", "/checkout/done/", "/trial/start/",
                                               f"/guides/{category}/?utm_source=mail"))
                elif name in ("cart_add", "cart_remove"):
                    event.update(productId=pid, quantity=rng.randint(1, 3), value=float(price))
                elif name == "purchase":
                    event["value"] = float(price)
                elif name == "search":
                    event["query"] = rng.choice(CATEGORIES) + " " + pid
                batch.append(event)
            written += len(batch)
            out.write(json.dumps({"userId": f"user-{visitor:08d}", "sessionId": f"s-{visitor}-{session}",
                                  "events": batch}) + "\n")
    return written


def run_job(events_file: Path, config: Path, tmp_dir: Path) -> tuple[dict, float, int]:
    """(the job's JSON report, wall seconds of the child, the child's peak RSS in bytes)."""
    report = tmp_dir / "report.json"
    command = [sys.executable, "-c", "from intentedge_jobs.build_profiles import build_profiles; build_profiles()",
               str(events_file), "--config", str(config), "--out", str(tmp_dir / "profiles.jsonl"),
               "--salt", "bench-salt-0123456789abcdef", "--written-at", str(START), "--tmp-dir", str(tmp_dir),
               "--report", str(report)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"build-profiles failed with exit code {child.returncode}")
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return json.loads(report.read_text()), wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000], metavar="EVENTS")
    parser.add_argument("--gzip", action="store_true", help="gzip the generated files")
    parser.add_argument("--tmp-dir", type=Path, help="where the files go (default: the system's temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profiles-", dir=args.tmp_dir) as folder:
        folder = Path(folder)
        config = folder / "config.toml"
        config.write_text(CONFIG + "".join(f'\n[products.{pid}]\ncategory = "{category}"\nprice = {price}\n'
                                           for pid, category, price in PRODUCTS))
        print(f"{'generated':>10} {'events':>10} {'file MB':>8} {'partitions':>10} {'visitors':>9} {'job s':>7} "
              f"{'events/s':>9} {'wall s':>7} {'wall ev/s':>9} {'peak RSS MB':>11}")
        for size in args.sizes:
            events_file = folder / f"events-{size}.jsonl{'.gz' if args.gzip else ''}"
            generated = generate(events_file, size)
            report, wall, rss = run_job(events_file, config, folder)
            print(f"{generated:>10,} {report['events']:>10,} {events_file.stat().st_size / 1e6:>8.0f} "
                  f"{report['partitions']:>10} {report['visitors']:>9,} {report['seconds']:>7.2f} "
                  f"{report['events_per_second']:>9,.0f} "
                  f"{wall:>7.2f} {report['events'] / wall:>9,.0f} {rss / 2**20:>11.0f}", flush=True)
            events_file.unlink()


if __name__ == "__main__":
    main()
