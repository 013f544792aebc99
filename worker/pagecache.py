"""The base-page cache: the origin's unpersonalized HTML in the Cache API, with the
stale-while-revalidate and stale-if-error the Cache API itself ignores.

Decisions live in core/intentedge/caching/pages.py; this module only talks to `caches.default`
and the origin. Personalization runs after it, per request, so one stored page
serves every visitor. What the origin does not mark as shareable (`private`,
`no-store`, `Set-Cookie`, a `Vary` beyond Accept-Encoding, no max-age) is never stored.
"""

from js import Date, IdentityTransformStream, Request, Response, caches, console, fetch

from intentedge import log_line, media_type
from intentedge.caching import (STORED_HEADER, CacheStatus, PageState, page_policy, page_state, revalidated_policy,
                                revalidation_headers, storage_headers, stored_policy, usable_on_error)

from background import run_in_background
from isolate import ISOLATE
from jsconvert import all_headers, headers_from_js, optional_str, to_js_object

# The origin's own Cache-Control, kept on the stored copy (whose Cache-Control is ours).
ORIGIN_CACHE_CONTROL = "x-intentedge-origin-cache-control"
_POLICY_HEADERS = ("cache-control", "set-cookie", "vary", "age", "etag", "last-modified")
# What described the origin's encoded body; the stored copy holds the decoded one.
_ENCODING_HEADERS = ("content-encoding", "content-length")


class PageResult:
    def __init__(self, response, status: CacheStatus, ms: float):
        self.response = response
        self.status = status
        self.ms = ms


async def cached_page(key: str, fetch_origin, upstream_url: str, ctx) -> PageResult:
    """The page for `key` (a normalized URL): from the cache when it may be, else from the origin.

    `fetch_origin()` fetches the visitor's own request, which is what they get on a miss; what is
    stored is fetched anonymously from `upstream_url` (fills and revalidations).
    """
    started = Date.now()
    stored = await caches.default.match(key)
    stored_headers = all_headers(stored.headers) if stored is not None else {}
    found = stored_policy(stored_headers) if stored is not None else None
    if found is None:
        response = await fetch_origin()
        _fill_later(key, response, upstream_url, ctx)
        return PageResult(response, CacheStatus.MISS, Date.now() - started)
    stored_at, policy = found
    now = Date.now() / 1000
    state = page_state(stored_at, policy, now)
    if state is PageState.FRESH:
        return PageResult(_as_served(stored, stored_headers), CacheStatus.HIT, Date.now() - started)
    if state is PageState.STALE:
        if key not in ISOLATE.revalidating:
            ISOLATE.revalidating.add(key)
            run_in_background(ctx, _revalidate_later(key, policy, upstream_url))
        return PageResult(_as_served(stored, stored_headers), CacheStatus.STALE, Date.now() - started)
    return await _revalidate_now(key, stored, stored_headers, stored_at, policy, fetch_origin, upstream_url, ctx,
                                 started)


async def _revalidate_now(key, stored, stored_headers, stored_at, policy, fetch_origin, upstream_url, ctx,
                          started) -> PageResult:
    """Past the stale window: ask the origin (conditionally when it can), before answering."""
    try:
        if policy.validators.etag or policy.validators.last_modified:
            response = await _conditional_fetch(upstream_url, policy)
        else:
            response = await _plain_fetch(upstream_url)
    except Exception as exc:
        response = None
        console.error(log_line("origin_unreachable", key=key, error=repr(exc)))
    if response is not None and response.status == 304:
        _in_background(ctx, _settled(_restore(key, stored.clone(), policy, response)))
        return PageResult(_as_served(stored, stored_headers), CacheStatus.REVALIDATED, Date.now() - started)
    if (response is None or response.status >= 500) and usable_on_error(stored_at, policy, Date.now() / 1000):
        return PageResult(_as_served(stored, stored_headers), CacheStatus.ERROR, Date.now() - started)
    if response is None:
        response = await fetch_origin()   # the visitor's own request: the origin's answer, or a 502 page
    else:
        _in_background(ctx, _store(key, response))
    return PageResult(response, CacheStatus.MISS, Date.now() - started)


def _fill_later(key: str, response, upstream_url: str, ctx) -> None:
    """After a miss, store the page as an anonymous request for the key gets it, if the origin
    lets it be stored. Never the visitor's own answer: it may depend on their cookies, headers or
    body (X-Forwarded-Host, a login), which the key leaves out, and would poison the page for all."""
    if not _is_html(response) or page_policy(response.status, headers_from_js(response.headers, _POLICY_HEADERS)) is None:
        return
    if key not in ISOLATE.revalidating:
        ISOLATE.revalidating.add(key)
        run_in_background(ctx, _revalidate_later(key, None, upstream_url))


async def _revalidate_later(key, policy, upstream_url) -> None:
    """Fetch the key anonymously in the background (conditionally when the stored copy, if any,
    has validators) and store what comes back; `policy` is None for a first fill."""
    try:
        if policy is not None and (policy.validators.etag or policy.validators.last_modified):
            response = await _conditional_fetch(upstream_url, policy)
        else:
            response = await _plain_fetch(upstream_url)
        # The key stays claimed until the cache holds the new copy: requests in between still
        # see the stale one and must not start a second revalidation.
        if response.status == 304:
            stored = await caches.default.match(Request.new(key))   # read again rather than hold a copy
            if stored is not None:
                await _settled(_restore(key, stored, policy, response))
        elif response.status < 500:
            work = _store(key, response, drop_unstorable=True)
            if work is not None:
                await work
        else:
            console.error(log_line("revalidate_failed", key=key, status=response.status))
    except Exception as exc:
        console.error(log_line("revalidate_failed", key=key, error=repr(exc)))
    finally:
        ISOLATE.revalidating.discard(key)


def _store(key: str, response, *, drop_unstorable: bool = False):
    """Copy an HTML page the origin allows shared caches to keep; the caller keeps `response`.
    Returns the work that stores the copy (a coroutine: await it or hand it to _in_background),
    or None when there is nothing to do. The copy must be taken now, before `response` is sent."""
    if not _is_html(response):
        return None
    policy = page_policy(response.status, headers_from_js(response.headers, _POLICY_HEADERS))
    if policy is None:
        return _settled(caches.default.delete(Request.new(key))) if drop_unstorable else None
    headers = storage_headers(policy, Date.now() / 1000)
    origin_cache_control = optional_str(response.headers.get("cache-control"))
    if origin_cache_control:
        headers[ORIGIN_CACHE_CONTROL] = origin_cache_control
    copy = response.clone()
    # The copy streams into the cache as it arrives, through a pipe whose end says whether the
    # origin's body came whole (a read of a tee'd branch that starts later sees a cut-off body end
    # cleanly instead of failing: workerd 1.20240725).
    piped = body = None
    if copy.body is not None:
        pipe = IdentityTransformStream.new()
        piped, body = copy.body.pipeTo(pipe.writable), pipe.readable
    stored = Response.new(body, copy)
    for name in _ENCODING_HEADERS:
        stored.headers.delete(name)
    for name, value in headers.items():
        stored.headers.set(name, value)
    return _put_whole(key, caches.default.put(Request.new(key), stored), piped)


async def _put_whole(key: str, put, piped) -> None:
    """Wait for the copy's `put`; take the copy back out when the origin's body did not come whole
    (`piped` failed): the Cache API keeps the part of a failing stream it got (miniflare does), and
    every visitor would get the cut-off page until it expired. The copy is stored without
    Content-Encoding, its body being the decoded one (kept, the header made the cache hand back
    compressed bytes that neither the rewriter nor an identity client can read)."""
    try:
        if piped is not None:
            await piped
    except Exception as exc:
        await _settled_quietly(put)
        await caches.default.delete(Request.new(key))
        console.error(log_line("page_not_stored", key=key, reason="origin body failed", error=str(exc)))
        return
    try:
        await put
    except Exception as exc:
        console.error(log_line("page_not_stored", key=key, reason="cache put failed", error=str(exc)))


async def _settled_quietly(promise) -> None:
    try:
        await promise
    except Exception:
        pass


def _restore(key: str, stored, policy, not_modified):
    """After a 304: the same body, stored again with the freshness the 304 gives (the promise)."""
    renewed = revalidated_policy(policy, headers_from_js(not_modified.headers, _POLICY_HEADERS))
    if renewed is None:
        return caches.default.delete(Request.new(key))
    copy = Response.new(stored.body, stored)
    for name, value in storage_headers(renewed, Date.now() / 1000).items():
        copy.headers.set(name, value)
    return caches.default.put(Request.new(key), copy)


async def _settled(promise) -> None:
    if promise is not None:
        await promise


def _in_background(ctx, work) -> None:
    """`work` (a coroutine, or None) after the response, through waitUntil."""
    if work is not None:
        run_in_background(ctx, work)


async def _conditional_fetch(url: str, policy):
    return await _plain_fetch(url, revalidation_headers(policy.validators))


async def _plain_fetch(url: str, headers: dict | None = None):
    return await fetch(url, headers=to_js_object(headers or {}), redirect="manual")


def _as_served(stored, stored_headers: dict[str, str]):
    """A stored copy as the origin sent it: its own Cache-Control back, our bookkeeping gone."""
    served = Response.new(stored.body, stored)
    headers = served.headers
    origin_cache_control = stored_headers.get(ORIGIN_CACHE_CONTROL)
    headers.delete(ORIGIN_CACHE_CONTROL)
    headers.delete(STORED_HEADER)
    if origin_cache_control:
        headers.set("cache-control", origin_cache_control)
    else:
        headers.delete("cache-control")
    return served


def _is_html(response) -> bool:
    return media_type(optional_str(response.headers.get("content-type"))) == "text/html"
