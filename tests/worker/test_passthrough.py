"""Everything the Worker must not personalize comes back exactly as the origin sent it."""

import hashlib
import json
import random

import pytest

from . import origin as site


@pytest.mark.parametrize("path", [
    "/plain.html",   # HTML without slots; slot-like text only in a comment and a script
    "/style.css",
    "/image.png",
    "/data.json",    # JSON that contains slot markup as a string
    "/missing",      # 404 HTML
    "/broken",       # 500 HTML with a real slot element: errors are never personalized
])
def test_body_and_status_are_the_origins(worker, path):
    status, content_type, body = site.ROUTES[path]
    reply = worker.get(path)
    assert reply.status == status
    assert reply.headers["content-type"] == content_type
    assert reply.headers["x-origin"] == "test-origin"
    assert reply.body == body


def test_head_is_passed_through_with_origin_headers(worker):
    reply = worker.request("HEAD", "/")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers["content-length"] == str(len(site.SLOTTED))
    assert reply.headers["x-origin"] == "test-origin"


def test_redirects_are_returned_not_followed(worker):
    reply = worker.get("/redirect")
    assert reply.status == 302
    assert reply.headers["location"] == "/products/camera.html"


def test_post_body_reaches_the_origin(worker, origin):
    body = random.Random(7).randbytes(1_000_000)
    reply = worker.request("POST", "/echo?form=1", body=body, headers={"content-type": "application/octet-stream"})
    assert reply.status == 200
    echoed = json.loads(reply.body)
    assert echoed == {"method": "POST", "path": "/echo?form=1", "length": len(body),
                      "sha256": hashlib.sha256(body).hexdigest()}
    assert origin.requests[-1].headers["Content-Type"] == "application/octet-stream"


def test_path_query_and_headers_are_forwarded(worker, origin):
    worker.get("/plain.html?utm_source=news&x=%2F1", headers={"X-Test": "forwarded", "Cookie": "a=1"})
    seen = origin.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/plain.html?utm_source=news&x=%2F1")
    assert seen.headers["X-Test"] == "forwarded"
    assert seen.headers["Cookie"] == "a=1"
