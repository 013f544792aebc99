"""Which requests and responses may be personalized; everything else passes through."""

from __future__ import annotations

import pytest

from intentedge import may_personalize_request, may_personalize_response, media_type


@pytest.mark.parametrize(
    "method, expected",
    [
        ("GET", True),
        pytest.param("get", True, id="lowercase-get"),
        pytest.param("Get", True, id="mixed-case-get"),
        # HEAD has no body to rewrite: it goes straight to the origin
        ("HEAD", False),
        ("POST", False),
        ("PUT", False),
        ("DELETE", False),
        ("OPTIONS", False),
        ("PATCH", False),
        pytest.param("", False, id="empty"),
        pytest.param(" GET", False, id="padded"),
        pytest.param("GETS", False, id="longer"),
    ],
)
def test_may_personalize_request(method, expected):
    assert may_personalize_request(method) is expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        pytest.param({}, True, id="none"),
        pytest.param({"accept": "text/html"}, True, id="others"),
        pytest.param({"upgrade": "websocket"}, False, id="websocket"),
        pytest.param({"range": "bytes=0-99"}, False, id="range"),
        pytest.param({"range": ""}, True, id="empty-range"),
    ],
)
def test_upgrades_and_ranges_pass_through(headers, expected):
    assert may_personalize_request("GET", headers) is expected


@pytest.mark.parametrize(
    "content_type, expected",
    [
        pytest.param("text/html", "text/html", id="plain"),
        pytest.param("text/html; charset=utf-8", "text/html", id="charset"),
        pytest.param("Text/HTML; Charset=UTF-8", "text/html", id="mixed-case"),
        pytest.param("  text/html  ;charset=utf-8", "text/html", id="whitespace"),
        pytest.param("text/html;a=1;b=2", "text/html", id="several-params"),
        pytest.param("application/xhtml+xml", "application/xhtml+xml", id="xhtml"),
        pytest.param(";charset=utf-8", "", id="params-only"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="missing"),
    ],
)
def test_media_type(content_type, expected):
    assert media_type(content_type) == expected


@pytest.mark.parametrize(
    "status, content_type, expected",
    [
        pytest.param(200, "text/html; charset=utf-8", True, id="html-page"),
        pytest.param(200, "TEXT/HTML", True, id="uppercase"),
        pytest.param(200, "text/plain", False, id="plain-text"),
        pytest.param(200, "application/json", False, id="json"),
        # XHTML is HTML-ish but not rewritten
        pytest.param(200, "application/xhtml+xml", False, id="xhtml"),
        pytest.param(200, "text/html-sandboxed", False, id="html-prefix-only"),
        pytest.param(200, None, False, id="no-content-type"),
        pytest.param(200, "", False, id="empty-content-type"),
        # partial content cannot be rewritten safely
        pytest.param(206, "text/html", False, id="partial"),
        pytest.param(201, "text/html", False, id="created"),
        pytest.param(304, "text/html", False, id="not-modified"),
        pytest.param(301, "text/html", False, id="redirect"),
        pytest.param(404, "text/html", False, id="not-found"),
        pytest.param(500, "text/html", False, id="server-error"),
    ],
)
def test_may_personalize_response(status, content_type, expected):
    assert may_personalize_response(status, content_type) is expected
