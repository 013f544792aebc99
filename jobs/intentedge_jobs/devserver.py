"""Start and stop the local processes the demo and the integration tests run: an origin, `wrangler dev`,
miniflare, and one-shot commands such as `intentedge publish`.

Each runs in its own session, so that stopping it ends its whole process group (a killed `wrangler dev`
otherwise leaves `workerd` running, holding ports), and so that a Ctrl-C in the terminal reaches only the
program that started it, which then stops them all.

Nothing started here outlives the program that started it, whenever an interrupt comes (short of SIGKILL):

- a process group is registered the moment it exists: SIGINT and SIGTERM are held back (in the main
  thread) while it is created and registered, so no KeyboardInterrupt can fall between the two;
- a start that fails, times out or is interrupted while waiting for its server to answer stops that
  server before it raises;
- `stop_all()` stops every group still registered, all at once, and runs at interpreter exit too, after
  which nothing new starts. While groups stop, a second Ctrl-C skips the grace period.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, NamedTuple

from .wrangler import wrangler_bin, wrangler_env

STOP_GRACE = 5.0   # seconds between SIGTERM and SIGKILL


class ServerError(Exception):
    """A server did not come up; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `host:port` now. SO_REUSEADDR as servers set it, so the
    TIME_WAIT connections a stopped server leaves behind do not count as taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


class Listener(NamedTuple):
    """A process listening on a TCP port."""
    pid: int
    group: int      # its process group: `kill -- -GROUP` ends it with its siblings (wrangler's workerd)
    command: str


def port_listener(port: int) -> Listener | None:
    """The process listening on TCP `port`, when psutil is installed and may see it; None otherwise."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return Listener(conn.pid, os.getpgid(conn.pid), " ".join(psutil.Process(conn.pid).cmdline()))
    except (psutil.Error, OSError):
        pass
    return None


_lock = threading.Lock()
_running: list[ProcessGroup] = []
_closed = False


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[int]]:
    """SIGINT and SIGTERM held back until the block ends, then delivered to the handlers they had;
    yields the signals caught so far. Signals reach Python in the main thread only: elsewhere it
    holds nothing."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


class ProcessGroup:
    """A command in a session of its own, registered (for `stop_all`) until it is stopped."""

    def __init__(self, name: str, command: list[str], *, cwd: Path, env: dict | None = None,
                 stdout=None, stderr=None, text: bool = False):
        self.name = name
        with _interrupts_held(), _lock:
            if _closed:
                raise ServerError(f"{name}: not started, the program is stopping")
            self.process = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=stderr, text=text,
                                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            _running.append(self)

    def stop(self) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left."""
        _stop([self])

    def _stopped(self) -> None:
        """Called once the group is gone."""

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def _group_is_empty(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return True
        return False


def stop_all() -> None:
    """Stop every process group started here and not stopped yet; nothing starts afterwards."""
    global _closed
    with _lock:
        _closed = True
        groups = list(_running)
    _stop(groups)


def _forget_in_child() -> None:
    """A forked child owns none of its parent's groups: its exit must not stop them."""
    global _lock, _running
    _lock, _running = threading.Lock(), []


atexit.register(stop_all)
os.register_at_fork(after_in_child=_forget_in_child)


def _stop(groups: list[ProcessGroup]) -> None:
    """SIGTERM every group, give the leaders STOP_GRACE seconds (less on a second interrupt), then
    SIGKILL the groups, since a leader may exit before its children (workerd), and wait until they
    are gone."""
    with _lock:
        groups = [group for group in groups if group in _running]   # stopping twice does nothing
    with _interrupts_held() as caught:
        for group in groups:
            group._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while not caught and time.monotonic() < deadline and any(g.process.poll() is None for g in groups):
            time.sleep(0.05)
        for group in groups:
            group._signal_group(signal.SIGKILL)
        for group in groups:
            group.process.wait()
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and not all(group._group_is_empty() for group in groups):
            time.sleep(0.02)   # SIGKILLed members take a moment to be reaped, and free their ports
        with _lock:
            _running[:] = [group for group in _running if group not in groups]
        for group in groups:
            group._stopped()


def run(name: str, command: list[str], *, cwd: Path, env: dict | None = None,
        capture_output: bool = False) -> subprocess.CompletedProcess:
    """`command` to its end in a process group of its own, like a server: an interrupt while it runs
    ends the whole group. Its output goes to ours, or is captured (as text)."""
    pipe = subprocess.PIPE if capture_output else None
    group = ProcessGroup(name, command, cwd=cwd, env=env, stdout=pipe, stderr=pipe, text=True)
    try:
        stdout, stderr = group.process.communicate()
    finally:
        group.stop()
    return subprocess.CompletedProcess(command, group.process.returncode, stdout, stderr)


class Server(ProcessGroup):
    """A server in a process group of its own, logging to a file."""

    def __init__(self, name: str, command: list[str], *, cwd: Path, log_path: Path, env: dict | None = None):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        try:
            super().__init__(name, command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        except BaseException:
            self._log.close()
            raise

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

    @contextlib.contextmanager
    def stopped_on_failure(self) -> Iterator[Server]:
        """Stop the server if the block raises anything, an interrupt too (a start-up's readiness wait)."""
        try:
            yield self
        except BaseException:
            self.stop()
            raise

    def _stopped(self) -> None:
        self._log.close()


def start_static_origin(directory: Path, port: int, *, log_path: Path) -> Server:
    """A plain static HTTP server for `directory` (the demo shop)."""
    # HTTP/1.1 keep-alive: with 1.0's close after each response, workerd's pooled connections to it
    # sometimes fail with "Network connection lost" under concurrent load.
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory),
               "--protocol", "HTTP/1.1"]
    with Server("origin", command, cwd=directory, log_path=log_path).stopped_on_failure() as server:
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
    with server.stopped_on_failure():
        # The first request also pays the Python runtime's start-up.
        server.wait_http(f"http://127.0.0.1:{port}/", timeout=timeout)
    return server


RUN_WORKER = Path(__file__).with_name("run_worker.mjs")


def start_miniflare(project: Path, root: Path, *, log_path: Path, bindings: dict[str, str],
                    kv_persist: Path | None = None, entry: str = "entry.py", port: int | None = None,
                    count_decisions: bool = False, timeout: float = 90,
                    extra: dict | None = None) -> tuple[Server, str]:
    """The staged Worker in `root` under miniflare directly (jobs/intentedge_jobs/run_worker.mjs), without
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
    with server.stopped_on_failure():
        return server, _wait_ready_line(server, timeout)


def _wait_ready_line(server: Server, timeout: float) -> str:
    """The URL of run_worker.mjs's `ready <url>` line, once it is in the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = re.search(r"^ready (http://\S+)$", server.log_path.read_text("utf-8", "replace"), re.M)
        if ready:
            return ready.group(1).rstrip("/")
        if server.process.poll() is not None:
            break
        time.sleep(0.1)
    raise ServerError(f"miniflare did not start within {timeout:.0f}s:\n{server.log_tail()}")
