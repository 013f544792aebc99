"""upstream_url: moving a request onto ORIGIN_URL, keeping path and query."""

from __future__ import annotations

import pytest

from intentedge import IntentEdgeError, OriginURLError, upstream_url


@pytest.mark.parametrize(
    "origin, request_url, expected",
    [
        pytest.param("http://127.0.0.1:8000/shop", "https://example.com/a?b=1", "http://127.0.0.1:8000/shop/a?b=1",
                     id="docstring-example"),
        pytest.param("http://127.0.0.1:8000", "https://example.com/", "http://127.0.0.1:8000/", id="root"),
        pytest.param("http://origin", "https://example.com", "http://origin/", id="request-without-path"),
        pytest.param("https://origin/", "https://example.com/x", "https://origin/x", id="base-trailing-slash"),
        pytest.param("https://origin/shop/", "https://example.com/x", "https://origin/shop/x",
                     id="base-path-trailing-slash"),
        pytest.param("https://origin/shop//", "https://example.com/x", "https://origin/shop/x",
                     id="base-path-double-slash"),
        pytest.param("http://origin/shop", "https://example.com/", "http://origin/shop/", id="base-path-root"),
        pytest.param("http://origin", "https://example.com/a/b/?x=1&y=%20", "http://origin/a/b/?x=1&y=%20",
                     id="query-kept-verbatim"),
        pytest.param("http://origin", "https://example.com/caf%C3%A9", "http://origin/caf%C3%A9",
                     id="percent-encoded-path"),
        # the fragment never reaches the origin
        pytest.param("http://origin", "https://example.com/a#top", "http://origin/a", id="fragment-dropped"),
        # the base's own query and fragment are dropped; the request's query wins
        pytest.param("http://origin/?token=1#f", "https://example.com/a?b=2", "http://origin/a?b=2",
                     id="base-query-dropped"),
        pytest.param("http://user:pw@origin:81", "https://example.com/a", "http://user:pw@origin:81/a",
                     id="credentials-and-port-kept"),
        pytest.param("HTTP://Origin", "https://example.com/a", "http://Origin/a", id="scheme-case"),
        pytest.param("http://origin", "/relative?q=1", "http://origin/relative?q=1", id="relative-request"),
    ],
)
def test_upstream_url(origin, request_url, expected):
    assert upstream_url(origin, request_url) == expected


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("", id="empty"),
        pytest.param("127.0.0.1:8000", id="no-scheme"),
        pytest.param("localhost:8000", id="host-looks-like-scheme"),
        pytest.param("//origin", id="scheme-relative"),
        pytest.param("ftp://origin", id="ftp"),
        pytest.param("ws://origin", id="websocket"),
        pytest.param("http://", id="no-host"),
        pytest.param("http:///path", id="empty-host"),
        pytest.param("/shop", id="path-only"),
    ],
)
def test_upstream_url_refuses_non_http_origins(origin):
    with pytest.raises(OriginURLError) as caught:
        upstream_url(origin, "https://example.com/a")
    assert str(caught.value) == f"ORIGIN_URL must be an absolute http(s) URL, found {origin!r}"


def test_origin_url_error_is_a_value_error_and_an_intentedge_error():
    assert issubclass(OriginURLError, ValueError)
    assert issubclass(OriginURLError, IntentEdgeError)
