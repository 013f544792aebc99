"""The events' vocabulary: the types of event, the fields each may carry and their bounds, and the
line an accepted batch becomes.

The events endpoint checks a page's batch against it (events/batch.py), and the profile fold
(events/fold.py) and the KPI report (intentedge_jobs/report.py) read the stored lines with it.
docs/events.md tells the same to a site's developers.

    type          fields, besides type and timestamp
    page_view     url
    exposure      slot                          only with the page token
    cta_click     slot, url                     only with the page token
    cart_add      productId, quantity, value
    cart_remove   productId, quantity, value
    purchase      value
    search        query                         checked, never stored
    trial_start   -

A page's batch, schema version 1, as the beacon or the site's own code posts it:

    {"v": 1, "page": "<page token>", "events": [{"type": "exposure", "slot": "hero"}, ...]}

The endpoint refuses a field that no type carries and takes the others on any type; a client's
timestamp is allowed and ignored (the Worker's clock stamps every event).

The stored line is one accepted batch, as batch.enrich writes it and the collector keeps it, one
JSON object a line. It keeps the batch shape that build-profiles reads (userId, sessionId,
events), so the collector's file is its input as it is, and adds the Worker's clock and what the
page decided:

    {"v": 1, "batchId": "...", "receivedAt": 1795000000.1, "userId": "...", "sessionId": "<userId>.<start>",
     "page": null | {"id": "<decision id>", "path": "/...", "tier": "high", "score": 88.0,
                     "choices": {"<slot>": {"rule": "<rule id or 'fallback'>", "variant": "<fragment or 'control'>"}}},
     "events": [{"type": "exposure", "timestamp": 1795000000.1, "slot": "hero", "decisionId": "<decision id>",
                 "rule": "<the slot's rule>", "variant": "<the slot's variant>"}, ...]}

Every event of a line with a page names its decisionId; a slot event also the rule and variant of its slot.

    read_batch(obj) -> (userId, sessionId, events)   the batch shape, lines of other producers included
    read_line(obj)  -> Line                          the whole stored line, events with a string type

read_batch leaves the events to its reader, which checks each as it reads it (`untyped` is the error
for one that has no string type); read_line checks that much and the decision of slot events, and
leaves the other fields to the report. A line they refuse raises LineError: `reason` is one word to
count lines by, the message says what is wrong in one line.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from intentedge.errors import IntentEdgeError

SCHEMA_VERSION = 1              # of a page's batch and of the stored line
FIELDS = {
    "page_view": frozenset({"url"}),
    "exposure": frozenset({"slot"}),
    "cta_click": frozenset({"slot", "url"}),
    "cart_add": frozenset({"productId", "quantity", "value"}),
    "cart_remove": frozenset({"productId", "quantity", "value"}),
    "purchase": frozenset({"value"}),
    "search": frozenset({"query"}),
    "trial_start": frozenset(),
}
EVENT_TYPES = tuple(FIELDS)
SLOT_EVENTS = frozenset({"exposure", "cta_click"})      # name a slot the page filled: need the page token
CLIENT_FIELDS = frozenset({"type", "timestamp"}).union(*FIELDS.values())
SLOT_EVENT_FIELDS = ("slot", "rule", "variant", "decisionId")   # a stored slot event's, in the order checked

MAX_URL = 2048
MAX_SLOT = 64                   # a slot's name
MAX_TEXT = 256                  # a page's productId and query
MAX_STORED_TEXT = 1024          # productId and query in a stored line, whoever wrote it
MAX_QUANTITY = 10_000
MAX_VALUE = 1e9                 # money per event
MAX_ID = 256                    # characters of a user, session, batch or decision id, and of a tier
MAX_TIMESTAMP = 2**32 - 1       # epoch seconds; milliseconds are refused, not misread
MAX_LINE_EVENTS = 10_000        # events in one stored line (the endpoint takes at most 500 a batch)
MAX_LINE_BYTES = 1 << 20        # a longer stored line is malformed and never held whole
# A page's text fields and their bounds, in the order the endpoint checks them.
TEXT_LIMITS = {"url": MAX_URL, "slot": MAX_SLOT, "productId": MAX_TEXT, "query": MAX_TEXT}


class LineError(IntentEdgeError, ValueError):
    """A stored line without the line's shape: `reason` is one word, the message one line."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class LinePage(NamedTuple):
    """The line's page decision."""

    id: str
    tier: str                                 # "" below every tier
    score: float | None
    choices: list[tuple[str, str, str]]       # (slot, rule, variant)


class Line(NamedTuple):
    batch_id: str
    received_at: float
    user_id: str
    session_id: str
    page: LinePage | None
    events: list[dict]                        # each with a string "type"; slot events with SLOT_EVENT_FIELDS


def read_batch(obj: Any) -> tuple[str, str, list]:
    """(userId, sessionId, events) of a batch. The events are the reader's to check, one by one as
    it reads them: `untyped(index)` is the error for one that is not an object with a string type."""
    _object(obj)
    events = _events(obj)
    return _id(obj.get("userId"), "userId"), _id(obj.get("sessionId"), "sessionId"), events


def read_line(obj: Any) -> Line:
    """A stored line, checked: its version, batchId, clock, ids, page and the decision of its slot events."""
    _object(obj)
    version = obj.get("v", SCHEMA_VERSION)
    if type(version) is not int or version != SCHEMA_VERSION:
        raise LineError("version", f"v must be {SCHEMA_VERSION}, found {str(obj.get('v'))[:20]!r}")
    batch_id = _id(obj.get("batchId"), "batchId")
    received = obj.get("receivedAt")
    if not (type(received) in (int, float) and 0 <= received <= MAX_TIMESTAMP):   # NaN fails this too
        raise LineError("timestamp", "receivedAt must be epoch seconds")
    user_id, session_id = _id(obj.get("userId"), "userId"), _id(obj.get("sessionId"), "sessionId")
    page = _page(obj.get("page"))
    events = _events(obj)
    for index, event in enumerate(events):
        kind = event.get("type") if type(event) is dict else None
        if type(kind) is not str:
            raise untyped(index)
        if kind in SLOT_EVENTS:
            for name in SLOT_EVENT_FIELDS:
                value = event.get(name)
                if type(value) is not str or not value:
                    raise LineError("event", f"event {index}: {kind} needs a string {name}")
    return Line(batch_id, float(received), user_id, session_id, page, events)


def untyped(index: int) -> LineError:
    """The error for event `index` of a line when it is not an object with a string type."""
    return LineError("event", f"event {index}: must be an object with a string type")


def _object(obj: Any) -> None:
    if type(obj) is not dict:
        raise LineError("shape", f"a line must be a JSON object, found {_kind(obj)}")


def _events(obj: dict) -> list:
    events = obj.get("events")
    if type(events) is not list:
        raise LineError("shape", f"events must be an array, found {_kind(events)}")
    if len(events) > MAX_LINE_EVENTS:
        raise LineError("shape", f"{len(events)} events in one line, at most {MAX_LINE_EVENTS}")
    return events


def _id(value: Any, name: str) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_ID:
        raise LineError("id", f"{name} must be a string of 1-{MAX_ID} characters")
    if not value.isprintable():
        raise LineError("id", f"{name} must be printable")
    if not value.isascii():
        encodable(value, "id", name)
    return value


def encodable(value: str, reason: str, name: str) -> None:
    """LineError unless `value` is valid Unicode (JSON's escapes can spell a lone surrogate)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise LineError(reason, f"{name} is not valid Unicode (lone surrogate)") from None


def _page(raw: Any) -> LinePage | None:
    if raw is None:
        return None
    if type(raw) is not dict:
        raise LineError("page", f"page must be null or an object, found {_kind(raw)}")
    page_id = _id(raw.get("id"), "page.id")
    tier = raw.get("tier")
    if type(tier) is not str or len(tier) > MAX_ID:
        raise LineError("page", "page.tier must be a string (\"\" below every tier)")
    score = raw.get("score")
    if score is not None and not (type(score) in (int, float) and math.isfinite(score)):
        raise LineError("page", "page.score must be a number")
    choices = raw.get("choices", {})
    if type(choices) is not dict:
        raise LineError("page", f"page.choices must be an object, found {_kind(choices)}")
    checked = []
    for slot, choice in choices.items():
        if type(choice) is not dict:
            raise LineError("page", f"page.choices.{slot[:40]} must be an object")
        rule, variant = choice.get("rule"), choice.get("variant")
        if type(rule) is not str or not rule or type(variant) is not str or not variant:
            raise LineError("page", f"page.choices.{slot[:40]} needs string rule and variant")
        checked.append((slot, rule, variant))
    return LinePage(page_id, tier, None if score is None else float(score), checked)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")
