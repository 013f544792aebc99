"""The events' vocabulary: every type and field the endpoint takes becomes a stored line that the
fold and the report read, and the stored line's reader refuses what is not one, with a reason."""

from __future__ import annotations

import json
import math

import pytest

from intentedge.errors import IntentEdgeError
from intentedge.events import fold, vocabulary
from intentedge.events.batch import EventRejected, Limits, enrich, parse_batch
from intentedge.events.page_token import PageDecision, SlotChoice
from intentedge.events.vocabulary import (EVENT_TYPES, FIELDS, MAX_LINE_EVENTS, SLOT_EVENTS, Line, LineError, LinePage,
                                          read_batch, read_line)
from intentedge.session import Session

from tests.core.builders import NOW

VISITOR = "v" * 22
PAGE = PageDecision("d1", NOW, "/p/", "high", 91.5, (SlotChoice("hero", "premium-offer", "hero-premium"),))
# A value of each field the endpoint takes.
SAMPLE = {"url": "/p/", "slot": "hero", "productId": "alpha-pro", "quantity": 2, "value": 10.5, "query": "lens"}


def stored(*events: dict, page: PageDecision | None = PAGE) -> dict:
    """The stored line the endpoint makes of a batch of `events`."""
    body = json.dumps({"v": 1, "page": "token", "events": list(events)}).encode()
    line = enrich(parse_batch(body, Limits()), Session(VISITOR, NOW - 60, NOW), page, received_at=NOW + 0.25,
                  batch_id="batch-1")
    return json.loads(json.dumps(line))      # as the collector's file gives it back


def test_the_types_their_fields_and_the_slot_events():
    assert EVENT_TYPES == ("page_view", "exposure", "cta_click", "cart_add", "cart_remove", "purchase", "search",
                           "trial_start")
    assert SLOT_EVENTS == {kind for kind, fields in FIELDS.items() if "slot" in fields}
    assert set(fold.FOLDED_TYPES) == set(EVENT_TYPES) - {"exposure"}     # an exposure changes no profile


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_each_type_with_its_fields_is_taken_stored_and_read_back(kind):
    line = stored({"type": kind, **{name: SAMPLE[name] for name in FIELDS[kind]}})
    read = read_line(line)
    assert (read.batch_id, read.received_at, read.user_id) == ("batch-1", NOW + 0.25, VISITOR)
    assert read.page == LinePage("d1", "high", 91.5, [("hero", "premium-offer", "hero-premium")])
    [event] = read.events
    assert event["type"] == kind and event["decisionId"] == "d1"
    assert "query" not in event                                         # checked, never stored
    batch = fold.batch_from_json(line)
    assert (batch.visitor_id, batch.session_id) == (VISITOR, f"{VISITOR}.{NOW - 60}")
    assert batch.unknown == (["exposure"] if kind == "exposure" else [])


def test_a_field_no_type_carries_is_refused_at_the_endpoint():
    with pytest.raises(EventRejected) as caught:
        stored({"type": "page_view", "email": "a@b.c"})
    assert caught.value.reason == "field"


def test_the_batch_shape_needs_no_clock_or_decision():
    user, session, events = read_batch({"userId": "u-1", "sessionId": "s-1", "events": [{"type": "scroll"}]})
    assert (user, session, events) == ("u-1", "s-1", [{"type": "scroll"}])
    with pytest.raises(LineError) as caught:
        read_line({"userId": "u-1", "sessionId": "s-1", "events": []})
    assert caught.value.reason == "id" and str(caught.value) == "batchId must be a string of 1-256 characters"


GOOD = {"v": 1, "batchId": "b", "receivedAt": NOW, "userId": "u", "sessionId": "s", "page": None, "events": []}
EXPOSURE = {"type": "exposure", "slot": "hero", "rule": "r", "variant": "control", "decisionId": "d"}


@pytest.mark.parametrize("line, reason, message", [
    pytest.param([GOOD], "shape", "a line must be a JSON object, found an array", id="not-an-object"),
    pytest.param(GOOD | {"v": 2}, "version", "v must be 1, found '2'", id="other-version"),
    pytest.param(GOOD | {"v": True}, "version", "v must be 1, found 'True'", id="bool-version"),
    pytest.param(GOOD | {"batchId": ""}, "id", "batchId must be a string of 1-256 characters", id="empty-batch-id"),
    pytest.param(GOOD | {"receivedAt": "yesterday"}, "timestamp", "receivedAt must be epoch seconds", id="clock"),
    pytest.param(GOOD | {"receivedAt": math.nan}, "timestamp", "receivedAt must be epoch seconds", id="nan-clock"),
    pytest.param(GOOD | {"receivedAt": NOW * 1000}, "timestamp", "receivedAt must be epoch seconds",
                 id="milliseconds"),
    pytest.param(GOOD | {"userId": "a\nb"}, "id", "userId must be printable", id="control-character"),
    pytest.param(GOOD | {"sessionId": "\ud800"}, "id", "sessionId must be printable", id="lone-surrogate"),
    pytest.param(GOOD | {"page": []}, "page", "page must be null or an object, found an array", id="page-array"),
    pytest.param(GOOD | {"page": {"id": "d", "tier": 3}}, "page", 'page.tier must be a string ("" below every tier)',
                 id="page-tier"),
    pytest.param(GOOD | {"page": {"id": "d", "tier": "", "score": math.inf}}, "page", "page.score must be a number",
                 id="page-score"),
    pytest.param(GOOD | {"page": {"id": "d", "tier": "", "choices": {"hero": {"rule": "r"}}}}, "page",
                 "page.choices.hero needs string rule and variant", id="page-choice"),
    pytest.param(GOOD | {"events": "page_view"}, "shape", "events must be an array, found a string", id="events"),
    pytest.param(GOOD | {"events": [{"type": "x"}] * (MAX_LINE_EVENTS + 1)}, "shape",
                 f"{MAX_LINE_EVENTS + 1} events in one line, at most {MAX_LINE_EVENTS}", id="too-many-events"),
    pytest.param(GOOD | {"events": [{"type": "page_view"}, 5]}, "event",
                 "event 1: must be an object with a string type", id="event-not-object"),
    pytest.param(GOOD | {"events": [EXPOSURE | {"rule": ""}]}, "event", "event 0: exposure needs a string rule",
                 id="exposure-without-rule"),
    pytest.param(GOOD | {"events": [{"type": "cta_click", "slot": "hero"}]}, "event",
                 "event 0: cta_click needs a string rule", id="click-without-decision"),
])
def test_what_is_not_a_stored_line_is_refused_with_a_reason(line, reason, message):
    with pytest.raises(LineError) as caught:
        read_line(line)
    assert (caught.value.reason, str(caught.value)) == (reason, message)


def test_a_stored_line_is_read_whole():
    line = GOOD | {"page": {"id": "d", "tier": "", "choices": {}}, "events": [EXPOSURE, {"type": "scroll"}]}
    assert read_line(line) == Line("b", float(NOW), "u", "s", LinePage("d", "", None, []), line["events"])


def test_its_errors_are_intentedge_errors_and_value_errors():
    assert issubclass(LineError, IntentEdgeError) and issubclass(LineError, ValueError)
    assert fold.EventError is LineError
    assert issubclass(EventRejected, IntentEdgeError) and issubclass(EventRejected, ValueError)
    assert vocabulary.untyped(3).reason == "event"
