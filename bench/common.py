"""What the Worker benchmarks share: the origin's page, wrk and its summary line, Debian packages,
and a local KV seeded with a config by our own CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from intentedge_jobs.wranglerkv import wrangler_env

ROOT = Path(__file__).resolve().parent.parent
# Dev-only values, as in .dev.vars (the Worker only needs them to be well-formed).
SESSION_KEYS = "dev1:intentedge-dev-only-session-key-not-a-secret-0001"
PROFILE_SALT = "intentedge-dev-only-profile-salt"

# wrk prints this line (after its own report) from its `done` callback; latencies in microseconds.
WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d,\"mean_us\":%.1f}\n",
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def origin_page(target_bytes: int = 100_000) -> bytes:
    """A shop page of about `target_bytes` with the two slots the demo config fills."""
    head = ('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<title>Cameras · Lumen Cameras</title>\n<link rel="stylesheet" href="/static/style.css">\n'
            '</head>\n<body>\n<header><a href="/"><strong>Lumen Cameras</strong></a>'
            '<a href="/products/">Cameras</a><a href="/guides/">Guides</a><a href="/cart/">Cart</a></header>\n'
            '<main>\n<div data-personalized-region="hero"><h1>Cameras for every story</h1>'
            '<p>Origin content: the Worker replaces this block.</p></div>\n<h2>All cameras</h2>\n'
            '<div class="products">\n')
    promo = '</div>\n<aside data-personalized-region="promo"><p>Origin promo.</p></aside>\n<div class="products">\n'
    tail = ('</div>\n</main>\n<footer>Lumen Cameras benchmark page, served unchanged by the origin.</footer>\n'
            '</body>\n</html>\n')
    cards = []
    size = len(head) + len(promo) + len(tail)
    i = 0
    while size < target_bytes:
        card = (f'<div class="card" data-sku="lc-{i:05d}"><img src="/static/camera-{i % 12}.png" alt="Model {i}" '
                f'loading="lazy"><h3><a href="/products/model-{i:05d}/">Lumen Model {i}</a></h3>'
                f'<p>Sensor {20 + i % 40} MP, {["APS-C", "full-frame", "micro four thirds"][i % 3]}, '
                f'{4 + i % 8} fps burst, weather-sealed body, two card slots.</p>'
                f'<p class="price">${399 + 37 * (i % 60)}</p></div>\n')
        cards.append(card)
        size += len(card)
        i += 1
    half = len(cards) // 2
    return (head + "".join(cards[:half]) + promo + "".join(cards[half:]) + tail).encode()


def ensure_debian(program: str, package: str | None = None) -> str:
    """The path of `program`, installing its Debian package with apt-get when it is missing."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found:
        return found
    package = package or program
    print(f"{program} is missing: apt-get install -y {package}", file=sys.stderr)
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (apt + ["update"], apt + ["install", "-y", package]):
        subprocess.run(command, check=False, env=env, stdout=subprocess.DEVNULL, timeout=600)
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found is None:
        raise SystemExit(f"{program} is not installed and apt-get could not install {package}")
    return found


def run_wrk(wrk: str, script: Path, url: str, *, seconds: float, connections: int, threads: int,
            headers: dict[str, str] | None = None) -> dict:
    """One wrk run: its WRKJSON summary (requests, duration_us, errors, p50_us, p99_us, mean_us)."""
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(script)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk printed no summary (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def seed_kv(persist: Path, config: Path = ROOT / "demo" / "config.toml") -> None:
    """Publish `config` into a local KV under `persist` with our own CLI, as `make demo` does."""
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "intentedge"), "publish", "--local", "--persist-to",
                           str(persist), str(config)],
                          cwd=ROOT, capture_output=True, text=True, env=wrangler_env(), timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"intentedge publish failed:\n{done.stdout}{done.stderr}")
