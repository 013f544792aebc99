"""The Worker's entry: forward to the origin, and personalize the HTML pages it returns.

Whatever fails after the origin answered, the visitor gets the origin's response
unmodified and the logs get one JSON line saying why.
"""

import asyncio
import os
from urllib.parse import urlsplit

from js import Date, Request, Response, console, fetch

from intentedge import (RequestContext, Visitor, is_events_path, log_line, may_personalize_request,
                        may_personalize_response, page_outcome, upstream_url, visitor_of, without_preview_params)
from intentedge.caching import CacheStatus, normalized_cache_url

from jsconvert import all_headers, request_data_from_js, to_js_object
from events import events_response
from isolate import ISOLATE
from metadata import Budget, OverBudget, Timing
from pagecache import PageResult, cached_page
from rewriting import personalize
from settings import Settings

_BAD_GATEWAY = "<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1><p>The origin could not be reached.</p>"
_MANUAL_REDIRECTS = to_js_object({"redirect": "manual"})


async def on_fetch(request, env, ctx):
    config = ISOLATE.settings(env)
    method = request.method
    headers = all_headers(request.headers)
    if method == "POST":
        handled = await _events(request, headers, config, ctx)
        if handled is not None:
            return handled
    if not may_personalize_request(method, headers):
        return await _origin_or_502(request, headers, config)
    try:
        return await _page_request(request, method, headers, config, ctx)
    except Exception as exc:  # before the origin answered: the plain origin response, as if we were not here
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc), stage="before_origin"))
        return await _origin_or_502(request, headers, config)


async def _page_request(request, method: str, headers: dict[str, str], config: Settings, ctx):
    """A GET: convert, start the KV reads, await the origin's page (cached or not), then one core
    call says what happens to it (core/intentedge/outcome.py), and the rewriter does it."""
    started = Date.now()
    context = RequestContext(request_data_from_js(request, method, headers, started, ISOLATE.timezone_offsets))
    visitor = visitor_of(context, config.session_keys)
    timing = Timing()
    budget = Budget(config.budget_ms, started)
    bundle_read, profile_read = _start_reads(config, ctx, visitor, timing, context.data.now)
    page = await _page(request, context.data.url, headers, visitor, config, ctx)
    response = page.response
    origin_headers = all_headers(response.headers)   # one conversion: the names are needed too
    content_type = origin_headers.get("content-type")
    if not may_personalize_response(response.status, content_type):
        _discard(bundle_read, profile_read)
        return response
    try:
        bundle = await budget.wait(bundle_read, ctx, "config")
        # a visitor the bundle's [consent] does not let us recognise has no profile read to wait for
        profile = await _within_budget(budget, profile_read, ctx) if visitor.recognised(bundle.consent) else None
        outcome = page_outcome(context, visitor, bundle, profile, origin_headers=origin_headers,
                               document=_is_document(headers),
                               timings=[("pz-meta", timing.state, timing.ms), ("pz-page", page.status, page.ms)],
                               random_bytes=os.urandom)
        for line in outcome.problems:
            console.error(line)
        if not ISOLATE.handlers.ready():
            await ISOLATE.handlers.prepare()
        # Last: once the rewriter has taken the origin's body, that response can no longer be
        # served instead, so everything that could fail is done above.
        out = _rewritten(response, content_type, outcome.choices, outcome.headers, outcome.beacon)
        console.log(outcome.log)
        return out
    except Exception as exc:
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc), path=context.path))
        return response


def _start_reads(config: Settings, ctx, visitor: Visitor, timing: Timing, now: float):
    """Futures of the bundle and of the visitor's profile (None for a visitor without one), started
    while the origin works on the page. A warm isolate holds both fresh: no task is scheduled."""
    metadata = ISOLATE.metadata
    fresh = metadata.fresh_bundle(config, timing, now)
    bundle_read = _done(fresh) if fresh is not None else asyncio.ensure_future(metadata.read_bundle(config, ctx, timing))
    key = visitor.profile_key(config.profile_salt)
    if key is None:
        return bundle_read, None
    if fresh is None:
        return bundle_read, asyncio.ensure_future(_consented_profile(config, ctx, bundle_read, visitor, key))
    if not visitor.recognised(fresh.consent):
        return bundle_read, _done(None)
    cached, profile = metadata.fresh_profile(config, key, now)
    return bundle_read, _done(profile) if cached else asyncio.ensure_future(metadata.read_profile(config, ctx, key))


async def _consented_profile(config: Settings, ctx, bundle_read, visitor: Visitor, key: str):
    """The visitor's profile, read only if the bundle's [consent] lets them be recognised."""
    bundle = await bundle_read
    if not visitor.recognised(bundle.consent):
        return None
    return await ISOLATE.metadata.read_profile(config, ctx, key)


async def _events(request, headers: dict[str, str], config: Settings, ctx):
    """The events endpoint's answer, or None when this POST is not for it (it goes to the origin).
    A POST elsewhere waits for no KV read once the isolate knows the events path, and for no more
    than KV_BUDGET_MS before."""
    started = Date.now()
    metadata = ISOLATE.metadata
    path = urlsplit(request.url).path
    bundle = metadata.fresh_bundle(config, Timing(), started / 1000)
    if bundle is None:
        if metadata.read_once and path != metadata.events_path:
            return None
        try:
            bundle = await Budget(config.budget_ms, started).wait(
                asyncio.ensure_future(metadata.read_bundle(config, ctx, Timing())), ctx, "config")
        except Exception as exc:  # no config, no endpoint: the POST is the origin's
            console.error(log_line("events_unavailable", reason=type(exc).__name__, detail=str(exc)))
            return None
    if not is_events_path(bundle, path):
        return None
    try:
        return await events_response(request, headers, config, ctx, bundle, started)
    except Exception as exc:
        console.error(log_line("events_failed", reason=type(exc).__name__, detail=str(exc)))
        return Response.new('{"error":"internal"}', status=500,
                            headers=to_js_object({"content-type": "application/json"}))


def _done(value):
    """A future that already holds `value`."""
    future = asyncio.get_event_loop().create_future()
    future.set_result(value)
    return future


async def _within_budget(budget, profile_read, ctx):
    """The profile, or None when there is none or it is late (logged: the page goes on without it)."""
    if profile_read is None:
        return None
    try:
        return await budget.wait(profile_read, ctx, "profile")
    except OverBudget as exc:
        console.error(log_line("kv_over_budget", what="profile", detail=str(exc)))
        return None


def _rewritten(response, content_type: str | None, choices, headers: list[tuple[str, str, str]],
               beacon: str | None):
    body = personalize(response, content_type, choices, beacon) if choices or beacon else response
    out = Response.new(body.body, body)
    out_headers = out.headers
    for operation, name, value in headers:
        if operation == "delete":
            out_headers.delete(name)
        elif operation == "append":
            out_headers.append(name, value)
        else:
            out_headers.set(name, value)
    return out


async def _page(request, url: str, headers: dict[str, str], visitor: Visitor, config: Settings, ctx) -> PageResult:
    """The origin's page, through the base-page cache unless it is off (CACHE or PAGE_CACHE) or the
    request carries credentials (Authorization, or the site's login cookie as the newest bundle names it)."""
    if ("authorization" in headers or not config.page_caching
            or visitor.logged_in(ISOLATE.metadata.login_cookie)):
        return PageResult(await _visitors_page(request, url, headers, config), CacheStatus.BYPASS, 0.0)
    key = normalized_cache_url(url)
    origin = config.origin_url
    try:
        # the visitor gets their own request's answer; what is stored comes from an anonymous
        # request for the key (worker/pagecache.py)
        return await cached_page(key, lambda: _visitors_page(request, url, headers, config),
                                 upstream_url(origin, key) if origin else key, ctx)
    except Exception as exc:  # the Cache API itself failed: go to the origin
        console.error(log_line("page_cache_failed", reason=type(exc).__name__, detail=str(exc)))
        return PageResult(await _visitors_page(request, url, headers, config), CacheStatus.ERROR, 0.0)


async def _visitors_page(request, url: str, headers: dict[str, str], config: Settings):
    """The origin's answer to the visitor's own GET, without our preview parameters (tokens stay
    out of the origin's logs)."""
    return await _origin_or_502(request, headers, config, url=without_preview_params(url))


async def _origin_or_502(request, headers: dict[str, str], config: Settings, url: str | None = None):
    try:
        return await _fetch_origin(request, headers, config, url)
    except Exception as exc:
        console.error(log_line("origin_unreachable", method=request.method, error=repr(exc)))
        return Response.new(_BAD_GATEWAY, status=502,
                            headers=to_js_object({"content-type": "text/html; charset=utf-8"}))


async def _fetch_origin(request, headers: dict[str, str], config: Settings, url: str | None):
    """`request` sent on to the origin, to `url` (default: the request's own)."""
    origin = config.origin_url
    url = url or request.url
    target = upstream_url(origin, url) if origin else url
    expects = "expect" in headers
    upstream = request if target == request.url and not expects else Request.new(target, request)
    if expects:  # fetch would take the origin's interim "100 Continue" for its answer
        upstream.headers.delete("expect")
    return await (fetch(upstream, _MANUAL_REDIRECTS) if origin else fetch(upstream))


def _is_document(headers: dict[str, str]) -> bool:
    """A top-level page, not HTML the page fetched itself or an iframe (browsers say which)."""
    return headers.get("sec-fetch-dest") in (None, "document")


def _discard(*futures) -> None:
    """These results, or their errors, are not needed."""
    for future in futures:
        if future is not None:
            future.add_done_callback(_retrieve)


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()
