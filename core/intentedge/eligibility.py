"""Which requests and responses the Worker may personalize (everything else passes through untouched),
and how a fragment is written into a page whose charset the response header does not give."""

from __future__ import annotations

from typing import Mapping

# A GET with one of these is not a page view: a WebSocket upgrade, or a part of a body.
PASS_THROUGH_HEADERS = ("upgrade", "range")


def may_personalize_request(method: str, headers: Mapping[str, str] | None = None) -> bool:
    """Only GET page views are personalized; HEAD, every other method, WebSocket upgrades and
    Range requests go straight to the origin (`headers`: lower-case names, those of
    PASS_THROUGH_HEADERS suffice)."""
    if method.upper() != "GET":
        return False
    return not any(headers.get(name) for name in PASS_THROUGH_HEADERS) if headers else True


def may_personalize_response(status: int, content_type: str | None) -> bool:
    """Only a 200 whose media type is text/html (any parameters) is rewritten."""
    return status == 200 and media_type(content_type) == "text/html"


def media_type(content_type: str | None) -> str:
    """`'Text/HTML; charset=utf-8'` -> `'text/html'`; None -> `''`."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()
