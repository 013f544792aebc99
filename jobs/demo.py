"""`make demo`: the demo shop behind the Worker in `wrangler dev`, with its config in local KV."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .devserver import ServerError, free_port, start_static_origin, start_worker

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
WORKER_PORT = 8787


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="intentedge-demo-"))
    print("$ intentedge publish --local demo/config.toml")
    published = subprocess.run([sys.executable, "-m", "intentedge.jobs.cli", "publish", "--local",
                                str(DEMO / "config.toml")], cwd=ROOT)
    if published.returncode != 0:
        return published.returncode
    origin_port, worker_port = free_port(), _port_or_free(WORKER_PORT)
    servers = []
    try:
        servers.append(start_static_origin(DEMO / "site", origin_port, log_path=logs / "origin.log"))
        print(f"origin: the demo shop on http://127.0.0.1:{origin_port}/ (unpersonalized)")
        print("starting the Worker in wrangler dev (the first start takes a few seconds)...")
        servers.append(start_worker(ROOT, worker_port, origin_url=f"http://127.0.0.1:{origin_port}",
                                    log_path=logs / "worker.log"))
        print(f"\n  Open http://127.0.0.1:{worker_port}/  and  http://127.0.0.1:{worker_port}/products/alpha-pro/\n")
        print(f"Worker log: {logs / 'worker.log'}   Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while True:
            time.sleep(3600)
    except ServerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        for server in reversed(servers):
            server.stop()
        print("stopped the Worker and the origin")
    return 0


def _port_or_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


if __name__ == "__main__":
    raise SystemExit(main())
