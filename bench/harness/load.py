"""Load on the Workers under test, with wrk: one run and its summary, and workerd's CPU time per
request with every subject loaded at once."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from harness.workers import Running

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


def run_wrk(wrk: str, script: Path, url: str, *, seconds: float, connections: int, threads: int,
            headers: dict[str, str] | None = None) -> dict:
    """One wrk run: its WRKJSON summary (requests, duration_us, errors, p50_us, p99_us, mean_us)."""
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(script)]
    command += header_args(headers or {})
    done = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk printed no summary (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def rps(run: dict) -> float:
    """Requests per second of one run_wrk summary."""
    return run["requests"] / (run["duration_us"] / 1e6)


def errors(run: dict) -> int:
    """Every kind of error one run_wrk summary counts."""
    return sum(run[kind] for kind in ("connect", "read", "write", "status", "timeout"))


def load_all(wrk: str, running: dict[str, Running], page: str, seconds: int) -> dict[str, float]:
    """wrk -c2 on every subject at once; each one's workerd CPU microseconds per request."""
    before = {name: cpu_seconds(subject) for name, subject in running.items()}
    loads = {name: subprocess.Popen([wrk, "-t1", "-c2", f"-d{seconds}s", *header_args(subject.headers),
                                     f"{subject.url}/{page}/"], stdout=subprocess.PIPE, text=True)
             for name, subject in running.items()}
    outputs = {name: load.communicate()[0] for name, load in loads.items()}
    per_request = {}
    for name, subject in running.items():
        requests = re.search(r"(\d+) requests in", outputs[name])
        if requests is None or int(requests.group(1)) == 0 or "Non-2xx" in outputs[name]:
            raise SystemExit(f"{name}: wrk failed:\n{outputs[name]}")
        per_request[name] = (cpu_seconds(subject) - before[name]) / int(requests.group(1)) * 1e6
    return per_request


def cpu_seconds(subject: Running) -> float:
    """The CPU time (user + system) the subject's workerd processes have used so far."""
    return sum(sum(process.cpu_times()[:2]) for process in subject.workerd())


def header_args(headers: dict[str, str]) -> list[str]:
    return [argument for name, value in headers.items() for argument in ("-H", f"{name}: {value}")]
