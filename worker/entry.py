"""The Worker's entry: forward to the origin, and personalize the HTML pages it returns.

Whatever fails after the origin answered, the visitor gets the origin's response
unmodified and the logs get one JSON line saying why.
"""

import asyncio
import os
from urllib.parse import urlsplit

from js import Date, Request, Response, console, fetch

from intentedge import log_line, may_personalize_request, may_personalize_response, upstream_url
from intentedge.eligibility import PASS_THROUGH_HEADERS
from intentedge.cache_policy import CacheStatus, normalized_cache_url, server_timing
from intentedge.context import RequestContext
from intentedge.consent import may_recognise
from intentedge.decision import decide
from intentedge.preview import TOKEN_PARAM, TRACE_HEADER, requested_preview, trace_header, without_preview_params
from intentedge.session import (SessionKeyError, SessionKeys, cookie_value, dump, expired_cookie_header,
                                set_cookie_header)
from intentedge.visitor import logged_in, page_view, profile_key, returning_session

from jsconvert import headers_from_js, optional_str, request_data_from_js, to_js_object
from events import beacon_html, events_response, is_events_request
from metadata import (Budget, OverBudget, Timing, fresh_bundle, fresh_profile, known_events_path,
                      known_login_cookie, page_caching_enabled, read_bundle, read_profile)
from pagecache import PageResult, cached_page
from rewriting import personalize

_BAD_GATEWAY = "<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1><p>The origin could not be reached.</p>"
# Headers that describe the origin's body, not the personalized one.
_ORIGIN_VALIDATORS = ("etag", "last-modified")
_secrets: dict = {}


async def on_fetch(request, env, ctx):
    if request.method == "POST":
        handled = await _events(request, env, ctx)
        if handled is not None:
            return handled
    if not may_personalize_request(request.method, headers_from_js(request.headers, PASS_THROUGH_HEADERS)):
        return await _origin_or_502(request, env)
    try:
        return await _get(request, env, ctx)
    except Exception as exc:  # before the origin answered: the plain origin response, as if we were not here
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc), stage="before_origin"))
        return await _origin_or_502(request, env)


async def _get(request, env, ctx):
    """A GET: the page (cached or not) and, for HTML, its personalization."""
    started = Date.now()
    data = request_data_from_js(request, started)
    context = RequestContext(data)
    cookie = data.headers.get("cookie", "")
    keys = _session_keys(env)
    preview = requested_preview(context.query, keys, now=data.now) if TOKEN_PARAM in context.query else None
    # Crawlers and Sec-GPC requests are never recognised; [consent] is checked once the bundle is read.
    previous = (returning_session(cookie, keys, data.now)
                if keys and not context.is_bot and not context.gpc else None)
    # KV reads run while the origin works on the page.
    timing = Timing()
    budget = Budget(env, started)
    # Warm isolate: both are already in its cache, and no task is scheduled for them.
    fresh = fresh_bundle(env, timing)
    bundle_read = _done(fresh) if fresh is not None else asyncio.ensure_future(read_bundle(env, ctx, timing))
    salt = _secret(env, "PROFILE_SALT")
    profile_read = (_profile_read(env, ctx, bundle_read, fresh, previous, cookie, salt)
                    if previous and salt else None)
    page = await _page(request, env, ctx)
    response = page.response
    if not may_personalize_response(response.status, optional_str(response.headers.get("content-type"))):
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
        headers = _personal_headers(decision, keys, secure=not context.is_local_http, forget=forget,
                                    preview=preview is not None)
        headers.append(("set", "server-timing", server_timing([("pz-meta", timing.state, timing.ms),
                                                                ("pz-page", page.status, page.ms)])))
        beacon = (beacon_html(bundle, decision, keys, context.path, data.now)
                  if preview is None and _is_document(request) else None)
        decision_line = log_line("decision", path=context.path, **decision.trace)
        # Last: once the rewriter has taken the origin's body, that response can no longer be
        # served instead, so everything that could fail is done above.
        out = _rewritten(response, decision.choices, headers, beacon)
        console.log(decision_line)
        return out
    except Exception as exc:
        console.error(log_line("fail_open", reason=type(exc).__name__, detail=str(exc), path=context.path))
        return response


async def _events(request, env, ctx):
    """The events endpoint's answer, or None when this POST is not for it (it goes to the origin).
    A POST elsewhere waits for no KV read once the isolate knows the events path, and for no more
    than KV_BUDGET_MS before."""
    started = Date.now()
    bundle = fresh_bundle(env, Timing())
    if bundle is None:
        read, path = known_events_path()
        if read and urlsplit(request.url).path != path:
            return None
        try:
            bundle = await Budget(env, started).wait(asyncio.ensure_future(read_bundle(env, ctx, Timing())),
                                                     ctx, "config")
        except Exception as exc:  # no config, no endpoint: the POST is the origin's
            console.error(log_line("events_unavailable", reason=type(exc).__name__, detail=str(exc)))
            return None
    if not is_events_request(request, bundle):
        return None
    try:
        return await events_response(request, env, ctx, bundle, _session_keys(env), started)
    except Exception as exc:
        console.error(log_line("events_failed", reason=type(exc).__name__, detail=str(exc)))
        return Response.new('{"error":"internal"}', status=500,
                            headers=to_js_object({"content-type": "application/json"}))


def _profile_read(env, ctx, bundle_read, bundle, previous, cookie: str, salt: str):
    """A future of the visitor's profile (None without consent): already done when the bundle and
    the profile are both fresh in the isolate's cache."""
    if bundle is not None:
        if not may_recognise(bundle.consent, cookie, gpc=False):   # Sec-GPC was checked before
            return _done(None)
        key = profile_key(previous, salt.encode())
        cached, profile = fresh_profile(env, key)
        return _done(profile) if cached else asyncio.ensure_future(read_profile(env, ctx, key))
    return asyncio.ensure_future(_consented_profile(env, ctx, bundle_read, previous, cookie, salt))


async def _consented_profile(env, ctx, bundle_read, previous, cookie: str, salt: str):
    """The visitor's profile, read only if the bundle's [consent] allows recognising them."""
    bundle = await bundle_read
    if not may_recognise(bundle.consent, cookie, gpc=False):   # Sec-GPC was checked before
        return None
    return await read_profile(env, ctx, profile_key(previous, salt.encode()))


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


def _rewritten(response, choices, headers: list[tuple[str, str, str]], beacon: str | None):
    body = personalize(response, choices, beacon) if choices or beacon else response
    out = Response.new(body.body, body)
    for operation, name, value in headers:
        if operation == "delete":
            out.headers.delete(name)
        elif operation == "append":
            out.headers.append(name, value)
        else:
            out.headers.set(name, value)
    return out


async def _page(request, env, ctx) -> PageResult:
    """The origin's page, through the base-page cache unless it is off (CACHE or PAGE_CACHE) or the
    request carries credentials (Authorization, or the site's login cookie as the newest bundle names it)."""
    if (request.headers.get("authorization") is not None or not page_caching_enabled(env)
            or logged_in(optional_str(request.headers.get("cookie")) or "", known_login_cookie())):
        return PageResult(await _visitors_page(request, env), CacheStatus.BYPASS, 0.0)
    key = normalized_cache_url(request.url)
    origin = optional_str(getattr(env, "ORIGIN_URL", None))
    try:
        # the visitor gets their own request's answer; what is stored comes from an anonymous
        # request for the key (worker/pagecache.py)
        return await cached_page(key, lambda: _visitors_page(request, env),
                                 upstream_url(origin, key) if origin else key, ctx)
    except Exception as exc:  # the Cache API itself failed: go to the origin
        console.error(log_line("page_cache_failed", reason=type(exc).__name__, detail=str(exc)))
        return PageResult(await _visitors_page(request, env), CacheStatus.ERROR, 0.0)


async def _visitors_page(request, env):
    """The origin's answer to the visitor's own GET, without our preview parameters (tokens stay
    out of the origin's logs)."""
    return await _origin_or_502(request, env, url=without_preview_params(request.url))


async def _origin_or_502(request, env, url: str | None = None):
    try:
        return await _fetch_origin(request, env, url or request.url)
    except Exception as exc:
        console.error(log_line("origin_unreachable", method=request.method, error=repr(exc)))
        return Response.new(_BAD_GATEWAY, status=502,
                            headers=to_js_object({"content-type": "text/html; charset=utf-8"}))


async def _fetch_origin(request, env, url: str):
    origin = optional_str(getattr(env, "ORIGIN_URL", None))
    target = upstream_url(origin, url) if origin else url
    expects = request.headers.get("expect") is not None
    upstream = request if target == request.url and not expects else Request.new(target, request)
    if expects:  # fetch would take the origin's interim "100 Continue" for its answer
        upstream.headers.delete("expect")
    return await (fetch(upstream, redirect="manual") if origin else fetch(upstream))


def _is_document(request) -> bool:
    """A top-level page, not HTML the page fetched itself or an iframe (browsers say which)."""
    return optional_str(request.headers.get("sec-fetch-dest")) in (None, "document")


def _secret(env, name: str) -> str | None:
    return optional_str(getattr(env, name, None)) or None


def _session_keys(env) -> SessionKeys | None:
    """SESSION_KEYS, parsed once per isolate; without it the Worker personalizes from the request alone."""
    spec = _secret(env, "SESSION_KEYS")
    if spec is None:
        return None
    if spec not in _secrets:
        try:
            _secrets[spec] = SessionKeys.parse(spec)
        except SessionKeyError as exc:
            console.error(log_line("bad_secret", name="SESSION_KEYS", reason=str(exc)))
            _secrets[spec] = None
    return _secrets[spec]


def _discard(*futures) -> None:
    """These results, or their errors, are not needed."""
    for future in futures:
        if future is not None:
            future.add_done_callback(_retrieve)


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()
