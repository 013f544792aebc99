"""Events from the page: a client batch checked, and the line the sink receives.

    parse_batch(body, limits)                      -> ClientBatch, or EventRejected(status, reason, detail)
    enrich(batch, session, page, received_at, id)  -> the stored line of an accepted batch
    check_slots(batch, page)                       -> None, or EventRejected for a slot the page did not fill
    beacon_tag(source, token, path)                -> the beacon's script element

The batch's schema, the event types and fields, their bounds and the stored line are the
vocabulary's (events/vocabulary.py). The line adds what the Worker knows to the batch: the page's
decision (tier, score, the rule and variant of every slot) and its own clock. Client timestamps
are not trusted; a search query is checked but never forwarded, and URLs lose their query string
and fragment.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field

from intentedge.errors import IntentEdgeError
from intentedge.events.page_token import PageDecision
from intentedge.events.vocabulary import (CLIENT_FIELDS, EVENT_TYPES, MAX_QUANTITY, MAX_VALUE, SCHEMA_VERSION,
                                          SLOT_EVENTS, TEXT_LIMITS)
from intentedge.session import Session

_TYPES = frozenset(EVENT_TYPES)


@dataclass(frozen=True)
class Limits:
    """The `[events]` table of the site's config (contract/config.py checks it)."""

    path: str = "/__pz/events"
    beacon: bool = True
    max_events: int = 50
    max_bytes: int = 16_384
    rate_per_minute: int = 120             # events per visitor
    client_rate_per_minute: int = 1_200    # per connecting IP (an IPv6 /64): any GET mints a visitor
    isolate_rate_per_minute: int = 60_000  # all events an isolate takes


class EventRejected(IntentEdgeError, ValueError):
    """A batch the Worker refuses: the HTTP status and a one-word reason for the response."""

    def __init__(self, status: int, reason: str, detail: str, *, retry_after: int | None = None):
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after     # seconds, for a 429

    def body(self) -> str:
        return json.dumps({"error": self.reason, "detail": self.detail})


@dataclass
class ClientBatch:
    page_token: str | None
    events: list[dict] = field(default_factory=list)   # validated, only the known fields


def parse_batch(body: bytes, limits: Limits) -> ClientBatch:
    if len(body) > limits.max_bytes:
        raise EventRejected(413, "too_large", f"{len(body)} bytes, at most {limits.max_bytes}")
    try:   # decoded first: json.loads would take UTF-16 and UTF-32 bytes too
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):   # UnicodeDecodeError is a ValueError
        raise EventRejected(400, "json", "the body is not JSON in UTF-8") from None
    if type(data) is not dict:
        raise EventRejected(400, "shape", "the body must be a JSON object")
    if type(data.get("v")) is not int or data["v"] != SCHEMA_VERSION:
        raise EventRejected(400, "version", f"'v' must be {SCHEMA_VERSION}, found {data.get('v')!r:.40}")
    token = data.get("page")
    if token is not None and (type(token) is not str or not token):
        raise EventRejected(400, "page", "'page' must be the page token string")
    events = data.get("events")
    if type(events) is not list or not events:
        raise EventRejected(400, "shape", "'events' must be a non-empty array")
    if len(events) > limits.max_events:
        raise EventRejected(413, "too_many", f"{len(events)} events, at most {limits.max_events} per batch")
    batch = ClientBatch(token, [_event(raw, index) for index, raw in enumerate(events)])
    if token is None and any(e["type"] in SLOT_EVENTS for e in batch.events):
        raise EventRejected(400, "page", "exposure and cta_click events need the page token")
    return batch


def _event(raw, index: int) -> dict:
    if type(raw) is not dict:
        raise EventRejected(400, "event", f"event {index} is not an object")
    kind = raw.get("type")
    if type(kind) is not str or kind not in _TYPES:   # an array or object is unhashable
        raise EventRejected(400, "type", f"event {index}: unknown type {kind!r:.40}; "
                                         f"known: {', '.join(sorted(EVENT_TYPES))}")
    unknown = raw.keys() - CLIENT_FIELDS
    if unknown:
        raise EventRejected(400, "field", f"event {index}: unknown field {sorted(unknown)[0]!r:.40}")
    event = {"type": kind}
    for name, limit in TEXT_LIMITS.items():
        value = raw.get(name)
        if value is None:
            continue
        if type(value) is not str or len(value) > limit or not value.isprintable():
            raise EventRejected(400, "string", f"event {index}: {name} must be text of at most {limit} characters")
        if name == "url":     # without query or fragment: they can carry an email or a token
            event[name] = value.split("?", 1)[0].split("#", 1)[0]
        elif name != "query":   # checked, never forwarded: a search can say who someone is
            event[name] = value
    if kind in SLOT_EVENTS and "slot" not in event:
        raise EventRejected(400, "slot", f"event {index}: {kind} needs the slot's name")
    if "quantity" in raw:
        quantity = raw["quantity"]
        if type(quantity) is not int or not 0 <= quantity <= MAX_QUANTITY:
            raise EventRejected(400, "number", f"event {index}: quantity must be an integer 0-{MAX_QUANTITY}")
        event["quantity"] = quantity
    if "value" in raw:
        value = raw["value"]
        if type(value) not in (int, float) or not (math.isfinite(value) and 0 <= value < MAX_VALUE):
            raise EventRejected(400, "number", f"event {index}: value must be a number from 0 to {MAX_VALUE:.0f}")
        event["value"] = float(value)
    return event


def session_id(session: Session) -> str:
    """The visitor's current session: their id and when the session started."""
    return f"{session.visitor_id}.{session.started}"


def enrich(batch: ClientBatch, session: Session, page: PageDecision | None, *, received_at: float,
           batch_id: str) -> dict:
    """The stored line of an accepted batch (its shape: events/vocabulary.py). Slot events name the rule
    and the variant the page showed there; an exposure of a held-out slot is the rule's control exposure."""
    events = []
    for event in batch.events:
        line = {"type": event["type"], "timestamp": received_at, **event}
        if page is not None:
            line["decisionId"] = page.id
            if event["type"] in SLOT_EVENTS:
                choice = page.choice(event["slot"])
                line["rule"], line["variant"] = choice.rule, choice.variant
        events.append(line)
    return {"v": SCHEMA_VERSION, "batchId": batch_id, "receivedAt": received_at, "userId": session.visitor_id,
            "sessionId": session_id(session), "page": page.as_json() if page is not None else None,
            "events": events}


def check_slots(batch: ClientBatch, page: PageDecision) -> None:
    """Slot events must name a slot the page filled."""
    for index, event in enumerate(batch.events):
        if event["type"] in SLOT_EVENTS and page.choice(event["slot"]) is None:
            raise EventRejected(400, "slot", f"event {index}: slot {event['slot']!r:.70} was not filled on this page")


def beacon_tag(source: str, token: str, path: str) -> str:
    """The beacon's script element, appended to the page's <body> (the token is base64url and dots)."""
    return f'<script data-pz-page="{token}" data-pz-events="{html.escape(path)}">{source}</script>'
