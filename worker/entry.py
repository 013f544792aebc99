"""The Worker's entry: forward to the origin, and personalize the HTML pages it returns.

Whatever fails after the origin answered, the visitor gets the origin's response
unmodified and the logs get one JSON line saying why.
"""

import asyncio
from urllib.parse import urlsplit

from js import Request, Response, console, fetch

from intentedge import (log_line, may_personalize_request, may_personalize_response,
                        upstream_url)

from jsconvert import optional_str, to_js_object
from metadata import read_bundle
from rewriting import personalize

_BAD_GATEWAY = "<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1><p>The origin could not be reached.</p>"


async def on_fetch(request, env, ctx):
    bundle = None
    if may_personalize_request(request.method):
        # Read KV while the origin works on the page.
        bundle = asyncio.ensure_future(read_bundle(env))
    try:
        response = await _fetch_origin(request, env)
    except Exception as exc:
        console.error(log_line("origin_unreachable", method=request.method, error=repr(exc)))
        return Response.new(_BAD_GATEWAY, status=502,
                            headers=to_js_object({"content-type": "text/html; charset=utf-8"}))
    if bundle is None:
        return response
    if not may_personalize_response(response.status, optional_str(response.headers.get("content-type"))):
        bundle.add_done_callback(_discard)  # its result, or its error, is not needed
        return response
    try:
        choices = (await bundle).choose(_path(request.url))
        return personalize(response, choices) if choices else response
    except Exception as exc:
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc)))
        return response


async def _fetch_origin(request, env):
    origin = optional_str(getattr(env, "ORIGIN_URL", None))
    if not origin:
        return await fetch(request)
    return await fetch(Request.new(upstream_url(origin, request.url), request), redirect="manual")


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _discard(future) -> None:
    if not future.cancelled():
        future.exception()
