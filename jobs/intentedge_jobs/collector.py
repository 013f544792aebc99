"""The local events sink: an HTTP collector that appends the Worker's batches to a JSON Lines file.

    POST /events   {"v": 1, "batches": [LINE, ...]}   204 once every new LINE is written
    GET  /health                                       200

    intentedge collector --port 8788 --out events.jsonl [--token T]     (or python -m intentedge_jobs.collector)
    server, url = start_collector(path)    # in a thread: tests and the demo

Each LINE (a client batch the Worker accepted, as core/intentedge/events/batch.py enriches it) becomes one
compact JSON line. A LINE whose batchId is already in the file is skipped: the
Worker retries a failed delivery, so the same batch may arrive twice. The ids are
read back from the file at start, so a restarted collector does not duplicate either.
The envelope is checked whole before anything is written: a bad one is a 400 with a
reason word and writes nothing.

For tests of the Worker's delivery: `collector.fail_next(n, status)` answers the
next n POSTs with `status` and writes nothing; `collector.posts` counts POSTs.
"""

from __future__ import annotations

import hmac
import json
import signal
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

MAX_BODY_BYTES = 4 * 1024 * 1024
ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """A POST body that is not a valid envelope: `reason` is one word, the message says more."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def lines_from_envelope(body: bytes) -> list[dict]:
    """The LINEs of a `{"v": 1, "batches": [...]}` body, or EnvelopeError."""
    try:
        envelope = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:   # UnicodeDecodeError is a ValueError too
        raise EnvelopeError("json", f"the body is not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise EnvelopeError("shape", "the body must be a JSON object")
    if envelope.get("v") != ENVELOPE_VERSION or isinstance(envelope.get("v"), bool):
        raise EnvelopeError("version", f"v must be {ENVELOPE_VERSION}, found {envelope.get('v')!r}")
    batches = envelope.get("batches")
    if not isinstance(batches, list):
        raise EnvelopeError("batches", "batches must be an array of lines")
    for position, line in enumerate(batches):
        if not isinstance(line, dict):
            raise EnvelopeError("line", f"batches[{position}] is not an object")
        if not isinstance(line.get("batchId"), str) or not line["batchId"]:
            raise EnvelopeError("line", f"batches[{position}] has no batchId string")
        if not isinstance(line.get("events"), list):
            raise EnvelopeError("line", f"batches[{position}] has no events array")
    return batches


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def read_lines(path: Path) -> list[dict]:
    """Every parseable line of a collector file, in file order."""
    lines = []
    if Path(path).is_file():
        for text in Path(path).read_text("utf-8").splitlines():
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue   # a line torn by a crash
    return lines


@dataclass(frozen=True)
class Failure:
    """The reply a POST gets instead of being written."""

    status: int
    reason: str
    detail: str


class Collector:
    """The JSON Lines file, the batchIds already in it and the counters; safe across threads."""

    def __init__(self, path: Path, token: str | None = None):
        self.path = Path(path)
        self.token = token      # when set, a POST must carry `Authorization: Bearer <token>`
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seen = {line["batchId"] for line in read_lines(self.path)
                      if isinstance(line, dict) and isinstance(line.get("batchId"), str)}
        torn = self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
        self._file = open(self.path, "a", encoding="utf-8")
        if torn:
            self._file.write("\n")   # the next line must not join the torn one
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self.posts = 0          # POSTs received, failed ones included
        self.written = 0        # lines written by this collector
        self.duplicates = 0     # lines skipped as already written

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next `n` POSTs with `status`, writing nothing (a sink outage, for tests)."""
        with self._lock:
            self._failures = [status] * n

    def receive(self, body: bytes) -> Failure | None:
        """Count the POST, validate it and append its new lines; None once they are flushed."""
        with self._lock:
            self.posts += 1
            if self._failures:
                return Failure(self._failures.pop(), "unavailable", "failure injected by fail_next()")
        try:
            lines = lines_from_envelope(body)
        except EnvelopeError as exc:
            return Failure(400, exc.reason, str(exc))
        self.append(lines)
        return None

    def append(self, lines: list[dict]) -> int:
        """Write the lines whose batchId is new, flush, and return how many were written."""
        with self._lock:
            written = 0
            for line in lines:
                if line["batchId"] in self._seen:
                    self.duplicates += 1
                    continue
                self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
                self._seen.add(line["batchId"])
                written += 1
            self._file.flush()
            self.written += written
            return written

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _Handler(BaseHTTPRequestHandler):
    server: CollectorServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        token = self.server.collector.token
        if token and not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {token}"):
            self.close_connection = True
            return self._reply(401, {"error": "token", "detail": "Authorization: Bearer <EVENTS_SINK_TOKEN> is required"})
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            return self._reply(411, {"error": "length", "detail": "Content-Length is required"})
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True   # the body stays unread
            return self._reply(413, {"error": "size", "detail": f"the body is over {MAX_BODY_BYTES} bytes"})
        failure = self.server.collector.receive(self.rfile.read(int(length)))
        if failure is None:
            return self._reply(204, None)
        self._reply(failure.status, {"error": failure.reason, "detail": failure.detail})

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/health":
            return self._reply(200, {"ok": True})
        self._reply(404, {"error": "not-found", "detail": "POST events to any path; GET /health"})

    def _reply(self, status: int, payload: dict | None) -> None:
        self.send_response(status)
        if payload is None:
            self.end_headers()
            return
        body = json.dumps(payload).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass   # one line per request would drown the demo's output


class CollectorServer(ThreadingHTTPServer):
    """The HTTP server around a Collector; `stop()` shuts it down and closes the file."""

    daemon_threads = True

    def __init__(self, collector: Collector, host: str = "127.0.0.1", port: int = 0):
        self.collector = collector
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/events"

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-request (a Worker stopped while it posted) is no error of
        ours: it gets no traceback. Anything else still does."""
        if isinstance(sys.exc_info()[1], ConnectionError):   # BrokenPipe, ConnectionReset, ...
            return
        super().handle_error(request, client_address)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.collector.close()


def start_collector(path: Path, port: int = 0, host: str = "127.0.0.1",
                    token: str | None = None) -> tuple[CollectorServer, str]:
    """A collector writing to `path`, serving in a daemon thread: (server, its events URL)."""
    server = CollectorServer(Collector(path, token), host, port)
    # A short poll interval: stop() waits for the loop to notice, and tests stop many collectors.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="collector",
                     daemon=True).start()
    return server, server.url


@click.command("collector")
@click.option("--port", type=int, default=8788, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The JSON Lines file to append to.")
@click.option("--token", envvar="EVENTS_SINK_TOKEN",
              help="Require `Authorization: Bearer TOKEN` (default: $EVENTS_SINK_TOKEN).")
def collector_command(port: int, host: str, out: Path, token: str | None) -> None:
    """Append the Worker's event batches to a JSON Lines file, until Ctrl-C or SIGTERM."""
    try:
        server = CollectorServer(Collector(out, token), host, port)
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ready {server.url}")
    signal.signal(signal.SIGTERM, signal.default_int_handler)   # a stopped collector closes its file
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.collector.close()


if __name__ == "__main__":
    collector_command(prog_name="python -m intentedge_jobs.collector")
