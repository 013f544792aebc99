"""`make demo`: the demo shop behind the Worker in `wrangler dev`, with its config in local KV, its
events going to a local collector, and a KPI report from synthetic traffic through the Worker.

Ctrl-C (or SIGTERM) stops everything the demo started, whenever it comes: `intentedge publish`, the
origin, `wrangler dev` with its node, esbuild and workerd, the report job and the collector
(jobs/intentedge_jobs/devserver.py says how). The demo says so in a line and exits with 0.

Environment:

    DEMO_PORT      the Worker's port, 8787 by default. A port that is already taken (by a leftover
                   `wrangler dev`, say) is an error naming what holds it, never a silent move elsewhere.
    DEMO_STATE     a folder for the run's local KV and events, to keep a run apart from the usual ones
                   (the tests use one). By default the KV is wrangler's own (.wrangler/state, what the
                   CLI's --local reads) and the events go to demo/.state/events.
    DEMO_VISITORS  how many synthetic visitors to send, 400 by default.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import traffic
from .collector import CollectorServer, start_collector
from .devserver import (ServerError, free_port, port_is_free, port_listener, run, start_static_origin, start_worker,
                        stop_all)
from .paths import DEMO, ROOT

WORKER_PORT = 8787
EVENTS = DEMO / ".state" / "events"       # events.jsonl, truth.json and report/: rewritten by every run
SYNTHETIC_VISITORS = 400


class DemoError(Exception):
    """The demo cannot start as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Settings:
    """How this run serves and where it keeps its state (the module docstring's environment)."""

    port: int
    kv: Path | None        # --persist-to for publish and wrangler dev; None: wrangler's default
    events: Path
    visitors: int

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        port = _number(env, "DEMO_PORT", WORKER_PORT)
        if not 0 < port < 65536:
            raise DemoError(f"DEMO_PORT must be a TCP port number, got {port}")
        visitors = _number(env, "DEMO_VISITORS", SYNTHETIC_VISITORS)
        if visitors < 1:
            raise DemoError(f"DEMO_VISITORS must be at least 1, got {visitors}")
        state = env.get("DEMO_STATE")
        if not state:
            return cls(port, None, EVENTS, visitors)
        folder = Path(state).resolve()
        return cls(port, folder, folder / "events", visitors)


def _number(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit():
        raise DemoError(f"{name} must be a whole number, got {text!r}")
    return int(text)


@dataclass
class Started:
    """What this run has started so far: for its last line, and the collector to stop (devserver
    stops the processes)."""

    names: list[str] = field(default_factory=list)
    collector: CollectorServer | None = None


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):   # Ctrl-C and `kill PID` alike, however the demo was launched
        signal.signal(sig, signal.default_int_handler)
    started = Started()
    status = 0
    try:
        settings = Settings.from_env(dict(os.environ))
        _check_port(settings.port)
        _demo(settings, started)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the demo started...", flush=True)
    except (DemoError, ServerError) as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        _stop_everything(started)
    if started.names:
        *others, last = reversed(started.names)
        print(f"stopped {', '.join(others)} and {last}" if others else f"stopped {last}", flush=True)
    return status


def _demo(settings: Settings, started: Started) -> None:
    """Publish, start the collector, the origin and the Worker, send the synthetic traffic in the
    background, then serve until interrupted."""
    logs = Path(tempfile.mkdtemp(prefix="intentedge-demo-"))
    persist = [] if settings.kv is None else ["--persist-to", str(settings.kv)]
    print(" ".join(["$ intentedge publish --local", *persist, "demo/config.toml"]), flush=True)
    started.names.append("intentedge publish")
    published = run("intentedge publish", [sys.executable, "-m", "intentedge_jobs.cli", "publish", "--local",
                                           *persist, str(DEMO / "config.toml")], cwd=ROOT)
    started.names.pop()   # it has ended
    if published.returncode != 0:
        raise DemoError(f"intentedge publish failed with exit status {published.returncode}")
    settings.events.mkdir(parents=True, exist_ok=True)
    (settings.events / "events.jsonl").unlink(missing_ok=True)
    started.names.append("the collector")
    started.collector, sink = start_collector(settings.events / "events.jsonl")
    origin_port = free_port()
    print("starting the origin...", flush=True)
    started.names.append("the origin")
    start_static_origin(DEMO / "site", origin_port, log_path=logs / "origin.log")
    print(f"origin: the demo shop on http://127.0.0.1:{origin_port}/ (unpersonalized)")
    print(f"collector: events from the Worker go to {sink}, written to {_shown(settings.events / 'events.jsonl')}")
    print("starting the Worker in wrangler dev (the first start takes a few seconds)...", flush=True)
    started.names.append("the Worker")
    start_worker(ROOT, settings.port, origin_url=f"http://127.0.0.1:{origin_port}", log_path=logs / "worker.log",
                 persist_to=settings.kv, variables={"EVENTS_SINK": sink})
    print(f"\n  Open http://127.0.0.1:{settings.port}/  and  http://127.0.0.1:{settings.port}/products/alpha-pro/\n")
    print(f"Worker log: {logs / 'worker.log'}   Ctrl-C stops everything.", flush=True)
    threading.Thread(target=_synthetic_report, args=(f"http://127.0.0.1:{settings.port}", settings),
                     daemon=True).start()
    while True:
        time.sleep(3600)


def _check_port(port: int) -> None:
    """DemoError when `port` is taken, naming what holds it if it can be seen."""
    if port_is_free(port):
        return
    listener = port_listener(port)
    if listener is None:
        held, stop = "", "Stop it"
    else:
        command = " ".join(listener.command.split())
        held = f" by pid {listener.pid} ({command[:100]}{'...' if len(command) > 100 else ''})"
        stop = f"Stop it with `kill -- -{listener.group}` (its process group)"
    other = next(candidate for candidate in range(port + 1, 65536) if port_is_free(candidate))
    raise DemoError(f"port {port} is in use{held}: a leftover `wrangler dev`? {stop}, "
                    f"or run the demo on another port: DEMO_PORT={other} make demo")


def _stop_everything(started: Started) -> None:
    """Every process group the demo started (a second interrupt meanwhile only hurries it), then the collector."""
    try:
        stop_all()
    except KeyboardInterrupt:
        pass
    if started.collector is not None:
        started.collector.stop()


def _synthetic_report(url: str, settings: Settings) -> None:
    """Synthetic visitors through the Worker (a planted lift for bundle-on-products, none for
    local-pickup), then `intentedge report` over what the collector got."""
    events = settings.events
    print(f"synthetic traffic: {settings.visitors} visitors through the Worker (jobs/intentedge_jobs/traffic.py)...", flush=True)
    truth = traffic.run(url, settings.visitors, seed=7)
    (events / "truth.json").write_text(json.dumps(truth.to_json(), indent=2) + "\n")
    time.sleep(3)   # forwarding runs after each response: let the last batches land
    print("report: intentedge report over the collected events...", flush=True)
    try:
        done = run("intentedge report", [sys.executable, "-m", "intentedge_jobs.cli", "report",
                                         str(events / "events.jsonl"), "--config", str(DEMO / "config.toml"),
                                         "--out", str(events / "report")], cwd=ROOT, capture_output=True)
    except ServerError:
        return   # the demo is stopping
    if done.returncode < 0:
        return   # stopped with the demo
    if done.returncode != 0:
        print(f"report failed:\n{done.stderr}", file=sys.stderr)
        return
    print(f"\n{traffic.summary(truth)}\n  KPI report: {(events / 'report' / 'report.html').as_uri()}"
          f"\n  (planted: bundle-on-products doubles the purchase rate, local-pickup changes nothing, medium- and"
          f" high-intent visitors buy 1.5x and 2.5x as often; ground truth in {_shown(events / 'truth.json')})\n",
          flush=True)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    raise SystemExit(main())
