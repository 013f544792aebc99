"""The real transport, urllib's, against a small HTTP server: every status comes back as a Response
(headers and body included), a connection that gives no answer is a TransportError. The Cloudflare
client above it is tested with a fake transport (test_kvstore.py)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from intentedge_jobs.kv.transport import Request, TransportError, urllib_transport


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(200, body + b" from " + self.headers["Authorization"].encode())

    def do_GET(self) -> None:
        if self.path == "/drop":
            self.close_connection = True
            return   # no status line: the client sees the connection close
        self._answer(429, b'{"success": false}', {"Retry-After": "3"})

    def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_success_carries_the_body_and_sends_method_headers_and_body(server):
    response = urllib_transport(Request("PUT", server + "/bulk", {"Authorization": "Bearer t"}, b"[]"))
    assert (response.status, response.body) == (200, b"[] from Bearer t")


def test_an_error_status_is_a_response_with_its_headers(server):
    response = urllib_transport(Request("GET", server + "/keys"))
    assert (response.status, response.body) == (429, b'{"success": false}')
    assert response.header("retry-after") == "3"


def test_no_answer_is_a_transport_error(server):
    with pytest.raises(TransportError, match="RemoteDisconnected") as dropped:
        urllib_transport(Request("GET", server + "/drop"))
    assert dropped.value.retryable

    with socket.socket() as sock:          # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError, match="ConnectionRefusedError"):
        urllib_transport(Request("GET", f"http://127.0.0.1:{port}/", timeout=5))


def test_headers_stay_out_of_the_request_repr():
    assert "secret" not in repr(Request("GET", "https://x.test/", {"Authorization": "Bearer secret"}))
