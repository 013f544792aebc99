"""Forwarding accepted event lines to the sink (EVENTS_SINK) after the 202.

The answer never waits for the sink: lines go into the isolate's outbox (core/intentedge/events/outbox.py)
and one `ctx.waitUntil` task at a time posts them, with bounded retries, then a counted drop and a log line.
"""

import asyncio

from js import AbortSignal, console, fetch

from intentedge import log_line
from intentedge.events.outbox import MAX_POSTS, POST_TIMEOUT_MS, RETRY_DELAYS, post_body, retryable   # the sink's alone

from background import run_in_background
from isolate import ISOLATE
from jsconvert import to_js_object
from settings import Settings


def forward(line: str, config: Settings, ctx, now: float) -> None:
    """Queue the line for the sink (the caller checked there is one) and start a drain if none runs."""
    outbox = ISOLATE.outbox
    overflow = outbox.add(line)
    if overflow:
        console.error(log_line("events_dropped", count=overflow, reason="outbox full: the sink is behind",
                               dropped_total=outbox.dropped))
    if outbox.start_drain(now):
        try:
            run_in_background(ctx, _drain(config.events_sink, config.events_sink_token))
        except Exception:
            outbox.end_drain()
            raise


async def _drain(sink: str, token: str | None) -> None:
    """Post what is waiting, MAX_POSTS posts at most; lines added meanwhile go in the next post."""
    outbox = ISOLATE.outbox
    lines: list[str] = []
    try:
        for _ in range(MAX_POSTS):
            lines = outbox.take()
            if not lines:
                break
            error, attempts = await _post(sink, token, post_body(lines))
            if error is None:
                outbox.sent(lines)
            else:
                _drop(lines, error, attempts)
            lines = []
    except Exception as exc:  # a bug here must not lose the lines in hand silently
        _drop(lines, f"{type(exc).__name__}: {exc}"[:200], 0)
    finally:
        outbox.end_drain()


def _drop(lines: list[str], reason: str, attempts: int) -> None:
    ISOLATE.outbox.failed(lines)
    console.error(log_line("events_dropped", count=len(lines), reason=reason, attempts=attempts,
                           dropped_total=ISOLATE.outbox.dropped))


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
