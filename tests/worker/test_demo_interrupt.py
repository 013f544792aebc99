"""`make demo`'s entry point (`python -m intentedge_jobs.demo`) under a real Ctrl-C at every moment of
its life: while it publishes, right after each server start begins, while `wrangler dev` builds, during
the synthetic traffic and the report, while it serves, and at fixed delays that land wherever the
machine's speed puts them. Each time the demo exits promptly, nothing it started survives (the publish
and report jobs, the origin, `wrangler dev` with its node, esbuild and workerd) and its port is free
again. A port that is already taken is reported, not worked around.

These start the real `wrangler dev` (marked workerd), each run in its own DEMO_STATE and on its own
DEMO_PORT, so a real demo (demo/.state, port 8787) is left alone.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from intentedge_jobs.devserver import free_port
from intentedge_jobs.paths import ROOT

pytestmark = pytest.mark.workerd

RUN_MARK = "INTENTEDGE_DEMO_TEST_RUN"   # in the demo's environment, so in every process it starts
STARTUP_TIMEOUT = 150                   # a loaded machine takes its time to publish and start wrangler
EXIT_TIMEOUT = 20                       # SIGTERM, 5 s of grace, SIGKILL: far less in practice

# (moment, a line the demo prints or None for its launch, seconds after it)
MOMENTS = [
    ("publishing", "$ intentedge publish", 0.8),
    ("origin-starting", "starting the origin", 0.0),
    ("worker-starting", "starting the Worker", 0.0),
    ("worker-building", "starting the Worker", 2.0),    # wrangler runs the [build] command, then workerd
    ("traffic", "synthetic traffic:", 0.5),
    ("report", "report: intentedge report", 0.0),
    ("serving", "KPI report:", 0.5),
    ("after-2.5s", None, 2.5),
    ("after-8s", None, 8.0),
]


class Demo:
    """The demo in a process group of its own, as a shell runs a foreground job; its output read
    line by line as it comes."""

    def __init__(self, tmp_path: Path, port: int):
        self.port = port
        self.mark = uuid.uuid4().hex
        env = {**os.environ, RUN_MARK: self.mark, "DEMO_PORT": str(port), "DEMO_STATE": str(tmp_path / "state"),
               "DEMO_VISITORS": "20", "PYTHONUNBUFFERED": "1", "WRANGLER_SEND_METRICS": "false"}
        self.launched = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "intentedge_jobs.demo"], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None and not self._reader.is_alive():
                pytest.fail(f"the demo exited with {self.process.returncode} before printing {text!r}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not print {text!r} within {STARTUP_TIMEOUT}s:\n{self.output}")
            time.sleep(0.02)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def ctrl_c(self) -> None:
        """What the terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo was still running {timeout}s after the interrupt:\n{self.output}")
        self._reader.join(5)
        return code

    def marked(self) -> list[psutil.Process]:
        """Every live process carrying this run's mark in its environment: whatever the demo started,
        at any depth, even after its parent died."""
        found = []
        for process in psutil.process_iter():
            try:
                if process.environ().get(RUN_MARK) == self.mark and alive(process):
                    found.append(process)
            except psutil.Error:   # gone meanwhile, or not ours to read
                continue
        return found

    def kill_everything(self) -> None:
        """After a failure: leave nothing behind for the next test."""
        for process in [self.process, *self.marked()]:
            try:
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.wait(10)


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def listening_on(port: int) -> list[int]:
    """The pids listening on TCP `port` (seen independently of the demo's own port check)."""
    return [conn.pid or -1 for conn in psutil.net_connections("tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port]


def described(processes: list[psutil.Process]) -> str:
    lines = []
    for process in processes:
        try:
            lines.append(f"  pid {process.pid}: {' '.join(process.cmdline())[:160]}")
        except psutil.Error:
            lines.append(f"  pid {process.pid}")
    return "\n".join(lines)


@pytest.fixture
def demo(tmp_path):
    runs: list[Demo] = []

    def launch(port: int | None = None) -> Demo:
        runs.append(Demo(tmp_path, port or free_port()))
        return runs[-1]
    yield launch
    for run in runs:
        run.kill_everything()


@pytest.mark.parametrize("line, delay", [moment[1:] for moment in MOMENTS], ids=[moment[0] for moment in MOMENTS])
def test_a_ctrl_c_at_any_moment_stops_everything_the_demo_started(demo, line, delay):
    run = demo()
    if line is not None:
        run.wait_for_line(line)
        time.sleep(delay)
    else:
        time.sleep(max(0.0, run.launched + delay - time.monotonic()))
    before = run.descendants()
    run.ctrl_c()
    interrupted = time.monotonic()
    code = run.wait_exit(EXIT_TIMEOUT)
    took = time.monotonic() - interrupted

    survivors = [process for process in before if alive(process)]
    assert not survivors, f"still running after the demo exited:\n{described(survivors)}\n{run.output}"
    marked = run.marked()
    assert not marked, f"started by the demo and still running:\n{described(marked)}\n{run.output}"
    assert not listening_on(run.port), f"port {run.port} is still taken after the demo exited:\n{run.output}"
    assert code == 0, run.output
    assert "KeyboardInterrupt" not in run.output
    assert "interrupted: stopping everything the demo started" in run.output
    assert took < 12, f"the demo took {took:.1f}s to stop:\n{run.output}"


def test_a_taken_port_is_reported_with_what_holds_it_and_nothing_starts(demo):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = demo(port)
        code = run.wait_exit(30)
    assert code == 1, run.output
    assert f"port {port} is in use by pid {os.getpid()}" in run.output
    other = re.search(r"DEMO_PORT=(\d+) make demo", run.output)   # how to run it elsewhere instead
    assert other and int(other.group(1)) > port, run.output
    assert "intentedge publish" not in run.output   # nothing was started
    assert not run.marked()
