"""The events endpoint (POST to the `[events] path`) and the background task that forwards accepted
batches to the sink (EVENTS_SINK), and the beacon a page gets.

The 202 never waits for the sink: lines go into the isolate's outbox (core/outbox.py) and one
`ctx.waitUntil` task at a time posts them, with bounded retries, then a counted drop and a log line.
"""

import asyncio
import base64
import json
import math
import os
from collections import Counter
from urllib.parse import urlsplit

from js import AbortSignal, Response, console, fetch

from intentedge import log_line
from intentedge.events.beacon import SOURCE as BEACON_SOURCE
from intentedge.consent import may_recognise
from intentedge.context import RequestContext
from intentedge.events.batch import EventRejected, beacon_tag, check_slots, enrich, parse_batch
from intentedge.events.outbox import MAX_POSTS, POST_TIMEOUT_MS, RETRY_DELAYS, Outbox, post_body, retryable
from intentedge.events.page_token import MAX_TOKEN_CHARS, PageTokenError, page_decision, sign, verify
from intentedge.events.rate_limit import RateLimiter
from intentedge.session import dump, set_cookie_header
from intentedge.visitor import returning_session

from background import run_in_background
from jsconvert import request_data_from_js, to_js_object
from settings import Settings

_outbox = Outbox()
_limiters: dict[int, RateLimiter] = {}   # by rate: a config change makes a new one
_warned = set()


def is_events_request(request, bundle) -> bool:
    return bundle.events is not None and urlsplit(request.url).path == bundle.events.path


async def events_response(request, headers: dict[str, str], config: Settings, ctx, bundle, now_ms: float):
    """202 (with the session cookie when an event changed it), or 4xx with {"error", "detail"}."""
    context = RequestContext(request_data_from_js(request, "POST", headers, now_ms))
    keys = config.session_keys
    now = now_ms / 1000.0
    try:
        _check_origin(headers.get("origin"), context.data.url)
        session = _visitor(context, bundle, keys)
        batch = parse_batch(await _body(request, headers.get("content-length"), bundle.events.max_bytes),
                            bundle.events)
        _check_rate(session.visitor_id, len(batch.events), bundle.events.rate_per_minute, now)
        page = _page(batch.page_token, session.visitor_id, keys, now)
        if page is not None:
            check_slots(batch, page)
    except EventRejected as exc:
        return _reply(exc.status, exc.body(), [("retry-after", str(exc.retry_after))] if exc.retry_after else [])
    before = session
    for event in batch.events:
        session = bundle.signals.record(session, event, bundle.products)
    line = enrich(batch, session, page, received_at=now, batch_id=_random_id(12))
    forwarded = _forward(json.dumps(line, separators=(",", ":")), config, ctx, now)
    types = dict(Counter(event["type"] for event in batch.events))
    console.log(log_line("events", accepted=len(batch.events), types=types, page=page is not None, forwarded=forwarded))
    # Only when an event changed the session: a beacon's views, exposures and clicks race the next
    # page load, and an unchanged cookie written after that page's would undo its update.
    headers = [] if session is before else [("set-cookie", set_cookie_header(dump(session, keys),
                                                                            secure=not context.is_local_http))]
    return _reply(202, json.dumps({"accepted": len(batch.events), "forwarded": forwarded}), headers)


def beacon_html(bundle, decision, keys, path: str, now: float) -> str | None:
    """The beacon's script tag for this page, when the config asks for it and the visitor has a
    session (events are only accepted from one)."""
    if bundle.events is None or not bundle.events.beacon or decision.session is None or keys is None:
        return None
    page = page_decision(decision.choices, decision.trace, decision_id=_random_id(9), now=now, path=path)
    token = sign(page, decision.session.visitor_id, keys)
    if len(token) > MAX_TOKEN_CHARS:   # a page of very many slots: its events could not be verified
        console.error(log_line("beacon_skipped", reason=f"page token of {len(token)} characters", path=path))
        return None
    return beacon_tag(BEACON_SOURCE, token, bundle.events.path)


def _visitor(context, bundle, keys):
    """The session of the visitor posting, or 403: events are only taken from a recognised visitor."""
    if keys is None:
        raise EventRejected(403, "no_session", "the Worker has no SESSION_KEYS")
    cookie = context.data.headers.get("cookie", "")
    if context.is_bot or not may_recognise(bundle.consent, cookie, gpc=context.gpc):
        raise EventRejected(403, "no_consent", "this visitor is not recognised (consent, Sec-GPC or a crawler)")
    session = returning_session(cookie, keys, context.data.now)
    if session is None:
        raise EventRejected(403, "no_session", "no valid session cookie: load a page first")
    return session


def _check_origin(origin: str | None, url: str) -> None:
    """Browsers name the page's origin on a POST: only the site's own pages may post (no CSRF)."""
    if origin is not None and origin != _origin_of(url):
        raise EventRejected(403, "cross_origin", "events are accepted from the site's own pages only")


async def _body(request, length: str | None, limit: int) -> bytes:
    """The body, read no further than `limit` bytes: a chunked upload without a length could
    otherwise fill the isolate's memory (parse_batch refuses what is over the limit)."""
    if length is not None and length.isdigit():
        if int(length) > limit:
            raise EventRejected(413, "too_large", f"{length} bytes, at most {limit}")
        return (await request.arrayBuffer()).to_bytes()
    if request.body is None:
        return b""
    reader = request.body.getReader()
    chunks, size = [], 0
    while True:
        result = await reader.read()
        if result.done:
            return b"".join(chunks)
        chunks.append(result.value.to_bytes())
        size += len(chunks[-1])
        if size > limit:
            await reader.cancel()
            raise EventRejected(413, "too_large", f"more than {limit} bytes")


def _check_rate(visitor_id: str, n: int, per_minute: int, now: float) -> None:
    limiter = _limiters.get(per_minute)
    if limiter is None:
        limiter = _limiters[per_minute] = RateLimiter(per_minute)
    wait = limiter.take(visitor_id, n, now)
    if wait:
        retry = max(1, math.ceil(wait))
        raise EventRejected(429, "rate_limited", f"at most {per_minute} events a minute; retry in {retry} s",
                            retry_after=retry)


def _page(token, visitor_id: str, keys, now: float):
    if token is None:
        return None
    try:
        return verify(token, visitor_id, keys, now)
    except PageTokenError as exc:
        raise EventRejected(400, "page", f"page token: {exc}") from None


def _forward(line: str, config: Settings, ctx, now: float) -> bool:
    """Queue the line for the sink; False when no sink is configured (logged once per isolate)."""
    sink = config.events_sink
    if not sink:
        if "sink" not in _warned:
            _warned.add("sink")
            console.error(log_line("events_not_forwarded", reason="EVENTS_SINK is not set"))
        return False
    overflow = _outbox.add(line)
    if overflow:
        console.error(log_line("events_dropped", count=overflow, reason="outbox full: the sink is behind",
                               dropped_total=_outbox.dropped))
    if _outbox.start_drain(now):
        try:
            run_in_background(ctx, _drain(sink, config.events_sink_token))
        except Exception:
            _outbox.end_drain()
            raise
    return True


async def _drain(sink: str, token: str | None) -> None:
    """Post what is waiting, MAX_POSTS posts at most (core/outbox.py); lines added meanwhile go in
    the next post."""
    lines: list[str] = []
    try:
        for _ in range(MAX_POSTS):
            lines = _outbox.take()
            if not lines:
                break
            error, attempts = await _post(sink, token, post_body(lines))
            if error is None:
                _outbox.sent(lines)
            else:
                _drop(lines, error, attempts)
            lines = []
    except Exception as exc:  # a bug here must not lose the lines in hand silently
        _drop(lines, f"{type(exc).__name__}: {exc}"[:200], 0)
    finally:
        _outbox.end_drain()


def _drop(lines: list[str], reason: str, attempts: int) -> None:
    _outbox.failed(lines)
    console.error(log_line("events_dropped", count=len(lines), reason=reason, attempts=attempts,
                           dropped_total=_outbox.dropped))


async def _post(sink: str, token: str | None, body: str) -> tuple[str | None, int]:
    """(None, attempts) once the sink took the body, else (why the last attempt failed, attempts)."""
    error, attempt = None, 0
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
        if delay:
            await asyncio.sleep(delay)
        try:
            response = await _send(sink, token, body)
            await response.arrayBuffer()   # a body left unread holds the connection
            if 200 <= response.status < 300:
                return None, attempt
            error = f"HTTP {response.status}"
            if not retryable(response.status):
                break   # the sink refuses this content: retrying cannot help
        except Exception as exc:  # unreachable, timed out: retried like a 5xx
            error = f"{type(exc).__name__}: {exc}"[:200]
    return error, attempt


async def _send(sink: str, token: str | None, body: str):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await fetch(sink, to_js_object({"method": "POST", "body": body, "headers": headers,
                                           "signal": AbortSignal.timeout(POST_TIMEOUT_MS)}))


def _reply(status: int, body: str, headers: list):
    out = Response.new(body, status=status, headers=to_js_object({
        "content-type": "application/json", "cache-control": "no-store"}))
    for name, value in headers:
        out.headers.append(name, value)
    return out


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _random_id(n: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()
