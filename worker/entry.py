"""The Worker's entry: forward to the origin, and personalize the HTML pages it returns.

Whatever fails after the origin answered, the visitor gets the origin's response
unmodified and the logs get one JSON line saying why.
"""

import asyncio
import os
from urllib.parse import urlsplit

from js import Date, Request, Response, console, fetch

from intentedge import log_line, may_personalize_request, may_personalize_response, upstream_url
from intentedge.caching.pages import CacheStatus, normalized_cache_url, server_timing
from intentedge.context import RequestContext
from intentedge.consent import may_recognise
from intentedge.decision import decide
from intentedge.preview import TOKEN_PARAM, TRACE_HEADER, requested_preview, trace_header, without_preview_params
from intentedge.session import cookie_value, dump, expired_cookie_header, set_cookie_header
from intentedge.visitor import logged_in, page_view, profile_key, returning_session

from jsconvert import all_headers, optional_str, request_data_from_js, to_js_object
from events import beacon_html, events_response, is_events_request
from metadata import (Budget, OverBudget, Timing, fresh_bundle, fresh_profile, known_events_path,
                      known_login_cookie, read_bundle, read_profile)
from pagecache import PageResult, cached_page
import isolate_handlers
from rewriting import personalize
from settings import Settings, settings

_BAD_GATEWAY = "<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1><p>The origin could not be reached.</p>"
# Headers that describe the origin's body, not the personalized one.
_ORIGIN_VALIDATORS = ("etag", "last-modified")
_MANUAL_REDIRECTS = to_js_object({"redirect": "manual"})


async def on_fetch(request, env, ctx):
    config = settings(env)
    method = request.method
    headers = all_headers(request.headers)
    if method == "POST":
        handled = await _events(request, headers, config, ctx)
        if handled is not None:
            return handled
    if not may_personalize_request(method, headers):
        return await _origin_or_502(request, headers, config)
    try:
        return await _get(request, method, headers, config, ctx)
    except Exception as exc:  # before the origin answered: the plain origin response, as if we were not here
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc), stage="before_origin"))
        return await _origin_or_502(request, headers, config)


async def _get(request, method: str, headers: dict[str, str], config: Settings, ctx):
    """A GET: the page (cached or not) and, for HTML, its personalization."""
    started = Date.now()
    data = request_data_from_js(request, method, headers, started)
    context = RequestContext(data)
    cookie = headers.get("cookie", "")
    keys = config.session_keys
    preview = requested_preview(context.query, keys, now=data.now) if TOKEN_PARAM in context.query else None
    # Crawlers and Sec-GPC requests are never recognised; [consent] is checked once the bundle is read.
    previous = (returning_session(cookie, keys, data.now)
                if keys and not context.is_bot and not context.gpc else None)
    # KV reads run while the origin works on the page.
    timing = Timing()
    budget = Budget(config.budget_ms, started)
    # Warm isolate: both are already in its cache, and no task is scheduled for them.
    fresh = fresh_bundle(config, timing, data.now)
    bundle_read = _done(fresh) if fresh is not None else asyncio.ensure_future(read_bundle(config, ctx, timing))
    salt = config.profile_salt
    profile_read = (_profile_read(config, ctx, bundle_read, fresh, previous, cookie, salt, data.now)
                    if previous and salt else None)
    page = await _page(request, data.url, headers, config, ctx)
    response = page.response
    content_type = optional_str(response.headers.get("content-type"))
    if not may_personalize_response(response.status, content_type):
        _discard(bundle_read, profile_read)
        return response
    try:
        bundle = await budget.wait(bundle_read, ctx, "config")
        recognised = (keys is not None and not context.is_bot
                      and may_recognise(bundle.consent, cookie, gpc=context.gpc))
        session = page_view(previous, bundle.signals, context, data.now, os.urandom) if recognised else None
        profile = await _within_budget(budget, profile_read, ctx) if recognised else None
        decision = decide(bundle, context, session, profile, now=data.now,
                          logged_in=logged_in(cookie, bundle.login_cookie), preview=preview)
        # consent withdrawn, or Sec-GPC: a session cookie the visitor still has is deleted
        forget = (keys is not None and not recognised and not context.is_bot
                  and cookie_value(cookie) is not None)
        personal = _personal_headers(decision, keys, secure=not context.is_local_http, forget=forget,
                                     preview=preview is not None)
        personal.append(("set", "server-timing", server_timing([("pz-meta", timing.state, timing.ms),
                                                                ("pz-page", page.status, page.ms)])))
        beacon = (beacon_html(bundle, decision, keys, context.path, data.now)
                  if preview is None and _is_document(headers) else None)
        decision_line = log_line("decision", path=context.path, **decision.trace)
        if not isolate_handlers.ready():
            await isolate_handlers.prepare()
        # Last: once the rewriter has taken the origin's body, that response can no longer be
        # served instead, so everything that could fail is done above.
        out = _rewritten(response, content_type, decision.choices, personal, beacon)
        console.log(decision_line)
        return out
    except Exception as exc:
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc), path=context.path))
        return response


async def _events(request, headers: dict[str, str], config: Settings, ctx):
    """The events endpoint's answer, or None when this POST is not for it (it goes to the origin).
    A POST elsewhere waits for no KV read once the isolate knows the events path, and for no more
    than KV_BUDGET_MS before."""
    started = Date.now()
    bundle = fresh_bundle(config, Timing(), started / 1000)
    if bundle is None:
        read, path = known_events_path()
        if read and urlsplit(request.url).path != path:
            return None
        try:
            bundle = await Budget(config.budget_ms, started).wait(
                asyncio.ensure_future(read_bundle(config, ctx, Timing())), ctx, "config")
        except Exception as exc:  # no config, no endpoint: the POST is the origin's
            console.error(log_line("events_unavailable", reason=type(exc).__name__, detail=str(exc)))
            return None
    if not is_events_request(request, bundle):
        return None
    try:
        return await events_response(request, headers, config, ctx, bundle, started)
    except Exception as exc:
        console.error(log_line("events_failed", reason=type(exc).__name__, detail=str(exc)))
        return Response.new('{"error":"internal"}', status=500,
                            headers=to_js_object({"content-type": "application/json"}))


def _profile_read(config: Settings, ctx, bundle_read, bundle, previous, cookie: str, salt: str, now: float):
    """A future of the visitor's profile (None without consent): already done when the bundle and
    the profile are both fresh in the isolate's cache."""
    if bundle is not None:
        if not may_recognise(bundle.consent, cookie, gpc=False):   # Sec-GPC was checked before
            return _done(None)
        key = profile_key(previous, salt.encode())
        cached, profile = fresh_profile(config, key, now)
        return _done(profile) if cached else asyncio.ensure_future(read_profile(config, ctx, key))
    return asyncio.ensure_future(_consented_profile(config, ctx, bundle_read, previous, cookie, salt))


async def _consented_profile(config: Settings, ctx, bundle_read, previous, cookie: str, salt: str):
    """The visitor's profile, read only if the bundle's [consent] allows recognising them."""
    bundle = await bundle_read
    if not may_recognise(bundle.consent, cookie, gpc=False):   # Sec-GPC was checked before
        return None
    return await read_profile(config, ctx, profile_key(previous, salt.encode()))


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


def _personal_headers(decision, keys, *, secure: bool, forget: bool, preview: bool) -> list[tuple[str, str, str]]:
    """(operation, name, value) for the personalized response's headers."""
    headers = []
    if decision.choices or decision.session is not None or forget or preview:
        # One visitor's page must never be stored for another.
        headers += [("set", "cache-control", "private, no-store"), ("append", "vary", "Cookie")]
        headers += [("delete", name, "") for name in _ORIGIN_VALIDATORS]
    if preview:   # a preview shows the trace and leaves the visitor's session as it was
        headers.append(("set", TRACE_HEADER, trace_header(decision.trace)))
    elif decision.session is not None:
        headers.append(("append", "set-cookie", set_cookie_header(dump(decision.session, keys), secure=secure)))
    elif forget:
        headers.append(("append", "set-cookie", expired_cookie_header(secure=secure)))
    return headers


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


async def _page(request, url: str, headers: dict[str, str], config: Settings, ctx) -> PageResult:
    """The origin's page, through the base-page cache unless it is off (CACHE or PAGE_CACHE) or the
    request carries credentials (Authorization, or the site's login cookie as the newest bundle names it)."""
    if ("authorization" in headers or not config.page_caching
            or logged_in(headers.get("cookie", ""), known_login_cookie())):
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
