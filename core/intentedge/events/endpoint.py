"""The events endpoint's answer to one POST: who may post, and what an accepted batch becomes.

    session = admit(context, visitor, bundle)          # before the body is read: 403s
    outcome = accept(context, session, bundle, body, keys=..., limiter=..., forwarding=..., random_bytes=...)

`admit` raises EventRejected; `accept` never does: a refused batch is an outcome with its 4xx
answer. The Worker reads the body in between (no further than the limit) and forwards the
outcome's line to the sink.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from intentedge.context import RequestContext
from intentedge.contract.config import Bundle
from intentedge.events.batch import EventRejected, Limits, check_slots, enrich, parse_batch
from intentedge.events.page_token import PageDecision, PageTokenError, verify
from intentedge.events.rate_limit import EventBudget
from intentedge.logs import log_line
from intentedge.outcome import random_id
from intentedge.session import Session, SessionKeys, dump, set_cookie_header
from intentedge.visitor import Visitor


@dataclass
class EventsOutcome:
    status: int
    body: str                                              # JSON
    headers: list[tuple[str, str]] = field(default_factory=list)   # appended to the answer
    line: str | None = None                                # the sink's line, for an accepted batch
    log: str | None = None                                 # the endpoint's log line


def is_events_path(bundle: Bundle, path: str) -> bool:
    return bundle.events is not None and path == bundle.events.path


def admit(context: RequestContext, visitor: Visitor, bundle: Bundle) -> Session:
    """The session of the visitor posting, or EventRejected: events come from the site's own pages
    and a recognised visitor only."""
    origin = context.data.headers.get("origin")
    if origin is not None and origin != _origin_of(context.data.url):   # browsers name it: no CSRF
        raise EventRejected(403, "cross_origin", "events are accepted from the site's own pages only")
    if visitor.keys is None:
        raise EventRejected(403, "no_session", "the Worker has no SESSION_KEYS")
    if not visitor.recognised(bundle.consent):
        raise EventRejected(403, "no_consent", "this visitor is not recognised (consent, Sec-GPC or a crawler)")
    if visitor.previous is None:
        raise EventRejected(403, "no_session", "no valid session cookie: load a page first")
    return visitor.previous


def accept(context: RequestContext, session: Session, bundle: Bundle, body: bytes, *, keys: SessionKeys,
           budget: EventBudget, forwarding: bool, random_bytes: Callable[[int], bytes]) -> EventsOutcome:
    """202 (with the session cookie when an event changed it), or the refusal's 4xx. `budget` is
    the isolate's (made for this bundle's limits: budget_for)."""
    now = context.data.now
    try:
        batch = parse_batch(body, bundle.events)
        _check_rate(budget, session.visitor_id, context.data.headers.get("cf-connecting-ip"), len(batch.events),
                    now)
        page = _page(batch.page_token, session.visitor_id, keys, now)
        if page is not None:
            check_slots(batch, page)
    except EventRejected as exc:
        return rejection(exc)
    before = session
    for event in batch.events:
        session = bundle.signals.record(session, event, bundle.products)
    line = enrich(batch, session, page, received_at=now, batch_id=random_id(12, random_bytes))
    types = dict(Counter(event["type"] for event in batch.events))
    log = log_line("events", accepted=len(batch.events), types=types, page=page is not None, forwarded=forwarding)
    # Only when an event changed the session: a beacon's views, exposures and clicks race the next
    # page load, and an unchanged cookie written after that page's would undo its update.
    headers = [] if session is before else [("set-cookie", set_cookie_header(dump(session, keys),
                                                                            secure=not context.is_local_http))]
    return EventsOutcome(202, json.dumps({"accepted": len(batch.events), "forwarded": forwarding}), headers,
                         json.dumps(line, separators=(",", ":")), log)


def rejection(exc: EventRejected) -> EventsOutcome:
    """The 4xx answer of a refused POST ({"error", "detail"}, Retry-After when it says)."""
    headers = [("retry-after", str(exc.retry_after))] if exc.retry_after else []
    return EventsOutcome(exc.status, exc.body(), headers)


def budget_for(limits: Limits) -> EventBudget:
    return EventBudget(limits.rate_per_minute, limits.client_rate_per_minute, limits.isolate_rate_per_minute)


def refusals_line(budget: EventBudget, now: float) -> str | None:
    """The counted log line of refused events, when one is due (each scope at most once a minute)."""
    counted = budget.report(now)
    return None if counted is None else log_line("events_rate_limited", refused=counted, limits=budget.limits)


def _check_rate(budget: EventBudget, visitor_id: str, client_ip: str | None, n: int, now: float) -> None:
    refused = budget.take(visitor_id, client_ip, n, now)
    if refused is not None:
        scope, wait = refused
        retry = max(1, math.ceil(wait))
        whose = {"visitor": "", "client": " from this network", "isolate": " here"}[scope]
        raise EventRejected(429, "rate_limited", f"at most {budget.limits[scope]} events a minute{whose}; "
                                                 f"retry in {retry} s", retry_after=retry)


def _page(token: str | None, visitor_id: str, keys: SessionKeys, now: float) -> PageDecision | None:
    if token is None:
        return None
    try:
        return verify(token, visitor_id, keys, now)
    except PageTokenError as exc:
        raise EventRejected(400, "page", f"page token: {exc}") from None


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
