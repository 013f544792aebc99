"""Where a request goes upstream: the zone's own origin, or ORIGIN_URL in development."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from intentedge.errors import IntentEdgeError


class OriginURLError(IntentEdgeError, ValueError):
    """ORIGIN_URL is not an absolute http(s) URL."""


def upstream_url(origin_base: str, request_url: str) -> str:
    """Move `request_url` onto `origin_base`, keeping its path and query.

    upstream_url("http://127.0.0.1:8000/shop", "https://example.com/a?b=1")
    -> "http://127.0.0.1:8000/shop/a?b=1"
    """
    base = urlsplit(origin_base)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise OriginURLError(f"ORIGIN_URL must be an absolute http(s) URL, found {origin_base!r}")
    incoming = urlsplit(request_url)
    path = base.path.rstrip("/") + (incoming.path or "/")
    return urlunsplit((base.scheme, base.netloc, path, incoming.query, ""))
