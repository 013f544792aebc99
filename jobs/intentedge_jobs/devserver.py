"""Start and stop the local servers the demo and the integration tests run: an origin and `wrangler dev`.

Each server runs in its own session so that stopping it ends its whole process
group: a killed `wrangler dev` otherwise leaves `workerd` running, holding ports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .wranglerkv import wrangler_bin, wrangler_env


class ServerError(Exception):
    """A server did not come up; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], *, cwd: Path, log_path: Path, env: dict | None = None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(command, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text("utf-8", "replace")[-chars:]

    def wait_http(self, url: str, timeout: float) -> None:
        """Poll `url` until it answers with any HTTP status, or fail with the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(url, timeout=10).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise ServerError(f"{self.name} did not answer {url} within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left."""
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(grace)
                # The leader may exit before its children (workerd): end the group regardless.
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        self._log.close()


def start_static_origin(directory: Path, port: int, *, log_path: Path) -> Server:
    """A plain static HTTP server for `directory` (the demo shop)."""
    # HTTP/1.1 keep-alive: with 1.0's close after each response, workerd's pooled connections to it
    # sometimes fail with "Network connection lost" under concurrent load.
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory),
               "--protocol", "HTTP/1.1"]
    server = Server("origin", command, cwd=directory, log_path=log_path)
    server.wait_http(f"http://127.0.0.1:{port}/", timeout=15)
    return server


def start_worker(project: Path, port: int, *, origin_url: str, log_path: Path,
                 persist_to: Path | None = None, timeout: float = 90, variables: dict | None = None) -> Server:
    """`wrangler dev` on 127.0.0.1:`port` in front of `origin_url`, ready once a request got through.
    `variables` adds Worker vars (EVENTS_SINK)."""
    command = [str(wrangler_bin(project)), "dev", "--ip", "127.0.0.1", "--port", str(port),
               "--inspector-port", str(free_port()), "--var", f"ORIGIN_URL:{origin_url}",
               "--show-interactive-dev-session=false", "--log-level", "log"]
    for name, value in (variables or {}).items():
        command += ["--var", f"{name}:{value}"]
    if persist_to is not None:
        command += ["--persist-to", str(persist_to)]
    server = Server("wrangler dev", command, cwd=project, log_path=log_path, env=wrangler_env())
    try:
        # The first request also pays the Python runtime's start-up.
        server.wait_http(f"http://127.0.0.1:{port}/", timeout=timeout)
    except ServerError:
        server.stop()
        raise
    return server


RUN_WORKER = Path(__file__).with_name("run_worker.mjs")


def start_miniflare(project: Path, root: Path, *, log_path: Path, bindings: dict[str, str],
                    kv_persist: Path | None = None, entry: str = "entry.py", port: int | None = None,
                    count_decisions: bool = False, timeout: float = 90,
                    extra: dict | None = None) -> tuple[Server, str]:
    """The staged Worker in `root` under miniflare directly (jobs/run_worker.mjs), without
    `wrangler dev`'s proxy and file watching: (server, its URL) once it serves. `extra` adds
    run_worker.mjs options (a JavaScript `script`, `kvNamespaces`, `kvSeed`)."""
    node = shutil.which("node")
    if node is None:
        raise ServerError("node is not on PATH")
    options = {"root": str(root), "entry": entry, "port": port or free_port(), "host": "127.0.0.1",
               "bindings": bindings, "countDecisions": count_decisions, **(extra or {})}
    if kv_persist is not None:
        options["kvPersist"] = str(kv_persist / "v3" / "kv")   # where `wrangler --persist-to DIR` keeps KV
    server = Server("miniflare", [node, str(RUN_WORKER), json.dumps(options)], cwd=project,
                    log_path=log_path, env=wrangler_env())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = re.search(r"^ready (http://\S+)$", log_path.read_text("utf-8", "replace"), re.M)
        if ready:
            return server, ready.group(1).rstrip("/")
        if server.process.poll() is not None:
            break
        time.sleep(0.1)
    tail = server.log_tail()
    server.stop()
    raise ServerError(f"miniflare did not start within {timeout:.0f}s:\n{tail}")
