"""The events endpoint (POST to the `[events] path`): converts the POST, asks core
(core/intentedge/events/endpoint.py) and answers; accepted lines go to worker/sink.py."""

import os

from js import Response, console

from intentedge import (EventRejected, EventsOutcome, RequestContext, accept, admit, log_line, refusals_line,
                        rejection, visitor_of)

from isolate import ISOLATE
from jsconvert import request_data_from_js, to_js_object
from settings import Settings
from sink import forward


async def events_response(request, headers: dict[str, str], config: Settings, ctx, bundle, now_ms: float):
    """202 (with the session cookie when an event changed it), or 4xx with {"error", "detail"}."""
    context = RequestContext(request_data_from_js(request, "POST", headers, now_ms, ISOLATE.timezone_offsets))
    keys = config.session_keys
    try:
        session = admit(context, visitor_of(context, keys), bundle)
        body = await _body(request, headers.get("content-length"), bundle.events.max_bytes)
    except EventRejected as exc:
        return _reply(rejection(exc))
    forwarding = bool(config.events_sink)
    budget = ISOLATE.event_budget(bundle.events)
    outcome = accept(context, session, bundle, body, keys=keys, budget=budget, forwarding=forwarding,
                     random_bytes=os.urandom)
    refusals = refusals_line(budget, context.data.now)
    if refusals is not None:
        console.error(refusals)
    if outcome.line is not None:
        if forwarding:
            forward(outcome.line, config, ctx, context.data.now)
        elif ISOLATE.warn_once("sink"):
            console.error(log_line("events_not_forwarded", reason="EVENTS_SINK is not set"))
        console.log(outcome.log)
    return _reply(outcome)


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


def _reply(outcome: EventsOutcome):
    out = Response.new(outcome.body, status=outcome.status, headers=to_js_object({
        "content-type": "application/json", "cache-control": "no-store"}))
    for name, value in outcome.headers:
        out.headers.append(name, value)
    return out
