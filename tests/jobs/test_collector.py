"""The events collector over real HTTP: lines appended as written, batchIds never written twice (across
a restart too), bad envelopes refused with a reason, injected failures, and its command line
(`intentedge collector`, and `python -m intentedge_jobs.collector` that scripts run)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from intentedge_jobs.collector import MAX_BODY_BYTES, read_lines, start_collector
from intentedge_jobs.devserver import Server, free_port

ROOT = Path(__file__).resolve().parents[2]


def line(batch_id: str, n_events: int = 1) -> dict:
    return {"v": 1, "batchId": batch_id, "receivedAt": 1795000000.5, "userId": "visitor-0000000000000001",
            "sessionId": "visitor-0000000000000001.1795000000", "page": None,
            "events": [{"type": "page_view", "timestamp": 1795000000.5, "url": "/"}] * n_events}


def request(url: str, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post(url: str, envelope) -> tuple[int, bytes]:
    body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    return request(url, "POST", "/events", body)


@pytest.fixture
def collector(tmp_path):
    server, url = start_collector(tmp_path / "events.jsonl")
    yield server, url
    server.stop()


def test_health(collector):
    _, url = collector
    assert request(url, "GET", "/health")[0] == 200


def test_lines_are_appended_compact_in_order(collector, tmp_path):
    server, url = collector
    assert post(url, {"v": 1, "batches": [line("a"), line("b", 2)]}) == (204, b"")
    assert post(url, {"v": 1, "batches": [line("c")]})[0] == 204
    path = tmp_path / "events.jsonl"
    assert path.read_text().splitlines()[0] == json.dumps(line("a"), separators=(",", ":"))
    assert read_lines(path) == [line("a"), line("b", 2), line("c")]
    assert (server.collector.posts, server.collector.written) == (2, 3)


def test_a_batch_id_is_written_once_even_across_a_restart(tmp_path):
    path = tmp_path / "events.jsonl"
    server, url = start_collector(path)
    try:
        post(url, {"v": 1, "batches": [line("a"), line("a")]})   # a duplicate inside one envelope
        post(url, {"v": 1, "batches": [line("a"), line("b")]})   # the Worker's retry
        assert server.collector.duplicates == 2
    finally:
        server.stop()
    server, url = start_collector(path)   # the ids are read back from the file
    try:
        assert post(url, {"v": 1, "batches": [line("b"), line("c")]})[0] == 204
        assert (server.collector.written, server.collector.duplicates) == (1, 1)
    finally:
        server.stop()
    assert [entry["batchId"] for entry in read_lines(path)] == ["a", "b", "c"]


def test_a_torn_last_line_is_skipped_and_not_joined(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(line("a")) + "\n" + '{"v": 1, "batchId": "torn", "ev')   # a crash mid-write
    server, url = start_collector(path)
    try:
        post(url, {"v": 1, "batches": [line("a"), line("b")]})
    finally:
        server.stop()
    assert [entry["batchId"] for entry in read_lines(path)] == ["a", "b"]


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "json"),
    (b"\xff\xfe{}", "json"),                                       # not UTF-8
    (b'{"v": 1, "batches": [{"batchId": "x", "events": [NaN]}]}', "json"),   # NaN is not JSON
    (b"[]", "shape"),
    (b'{"batches": []}', "version"),
    (b'{"v": 2, "batches": []}', "version"),
    (b'{"v": true, "batches": []}', "version"),                     # true == 1 in Python
    (b'{"v": 1, "batches": {}}', "batches"),
    (b'{"v": 1, "batches": ["x"]}', "line"),
    (b'{"v": 1, "batches": [{"events": []}]}', "line"),
    (b'{"v": 1, "batches": [{"batchId": "", "events": []}]}', "line"),
    (b'{"v": 1, "batches": [{"batchId": "x", "events": {}}]}', "line"),
], ids=["syntax", "encoding", "nan", "array", "no-version", "version-2", "version-bool", "batches-object",
        "line-string", "no-batch-id", "empty-batch-id", "events-object"])
def test_a_bad_envelope_is_refused_with_a_reason_and_writes_nothing(collector, tmp_path, body, reason):
    _, url = collector
    status, reply = post(url, body)
    assert status == 400
    assert json.loads(reply)["error"] == reason
    assert read_lines(tmp_path / "events.jsonl") == []


def test_one_bad_line_refuses_the_whole_envelope(collector, tmp_path):
    _, url = collector
    assert post(url, {"v": 1, "batches": [line("a"), {"batchId": "b"}]})[0] == 400
    assert read_lines(tmp_path / "events.jsonl") == []


def test_a_body_over_the_limit_is_refused_unread(collector):
    _, url = collector
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/events")
        conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        conn.endheaders()   # no body sent: the collector must answer from the header alone
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"] == "size"
    finally:
        conn.close()


def test_fail_next_fails_that_many_posts_without_writing(collector, tmp_path):
    server, url = collector
    server.collector.fail_next(2, status=503)
    assert post(url, {"v": 1, "batches": [line("a")]})[0] == 503
    assert post(url, {"v": 1, "batches": [line("a")]})[0] == 503
    assert read_lines(tmp_path / "events.jsonl") == []
    assert post(url, {"v": 1, "batches": [line("a")]})[0] == 204
    assert server.collector.posts == 3
    assert [entry["batchId"] for entry in read_lines(tmp_path / "events.jsonl")] == ["a"]


def test_with_a_token_only_a_post_that_carries_it_is_written(tmp_path):
    server, url = start_collector(tmp_path / "events.jsonl", token="s3cret")
    try:
        body = json.dumps({"v": 1, "batches": [line("b1")]}).encode()
        assert request(url, "POST", "/events", body)[0] == 401
        assert request(url, "POST", "/events", body, {"Authorization": "Bearer wrong"})[0] == 401
        assert request(url, "POST", "/events", body, {"Authorization": "Bearer s3cret"})[0] == 204
    finally:
        server.stop()
    assert [l["batchId"] for l in read_lines(tmp_path / "events.jsonl")] == ["b1"]


LAUNCHERS = {
    "intentedge": [str(Path(sys.executable).with_name("intentedge")), "collector"],
    "python-m": [sys.executable, "-m", "intentedge_jobs.collector"],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_the_command_line_prints_ready_and_appends(tmp_path, launcher):
    out = tmp_path / "events.jsonl"
    server = Server("collector", [*LAUNCHERS[launcher], "--port", str(free_port()), "--out", str(out)],
                    cwd=ROOT, log_path=tmp_path / "collector.log")
    try:
        deadline = time.monotonic() + 15
        while not (ready := re.search(r"^ready (http://\S+)$", server.log_tail(), re.MULTILINE)):
            if server.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the collector did not start:\n{server.log_tail()}")
            time.sleep(0.05)
        url = ready.group(1)
        assert url.endswith("/events")
        assert post(url, {"v": 1, "batches": [line("a")]})[0] == 204
        assert [entry["batchId"] for entry in read_lines(out)] == ["a"]   # written before the reply
    finally:
        server.stop()


def test_a_client_that_hangs_up_mid_post_leaves_no_traceback(tmp_path, capfd):
    """A Worker stopped while it posts resets the connection: the collector says nothing about it."""
    server, _ = start_collector(tmp_path / "events.jsonl")
    try:
        host, port = server.server_address[:2]
        with socket.create_connection((host, port)) as conn:   # says 100 bytes, sends 10, hangs up hard
            conn.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close with a reset
        time.sleep(0.3)
        assert "Traceback" not in capfd.readouterr().err
    finally:
        server.stop()
