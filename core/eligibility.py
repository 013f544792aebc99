"""Which requests and responses the Worker may personalize. Everything else passes through untouched."""

from __future__ import annotations


def may_personalize_request(method: str) -> bool:
    """Only GET pages are personalized; HEAD and every other method go straight to the origin."""
    return method.upper() == "GET"


def may_personalize_response(status: int, content_type: str | None) -> bool:
    """Only a 200 whose media type is text/html (any parameters) is rewritten."""
    return status == 200 and media_type(content_type) == "text/html"


def media_type(content_type: str | None) -> str:
    """`'Text/HTML; charset=utf-8'` -> `'text/html'`; None -> `''`."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()
