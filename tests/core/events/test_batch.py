"""Events from the page: the client batch (what is refused, and why), the stored line an accepted
batch becomes, the slots it may name, the beacon's tag, the session an event leaves behind, and the
[events] table's limits."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from intentedge.events.batch import EventRejected, Limits, beacon_tag, check_slots, enrich, parse_batch, session_id
from intentedge.events.page_token import PageDecision, SlotChoice
from intentedge.session import Session

from tests.core.builders import NOW

LIMITS = Limits()
VISITOR = "v" * 22
PAGE = PageDecision("d1", NOW, "/products/alpha-pro/", "medium", 64.2,
                    (SlotChoice("hero", "premium-offer", "hero-premium"),
                     SlotChoice("promo", "bundle-on-products", "control")))


def body(events, **fields) -> bytes:
    return json.dumps({"v": 1, "events": events, **fields}).encode()


def rejected(data: bytes, limits: Limits = LIMITS) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        parse_batch(data, limits)
    return caught.value


# --- the client batch ----------------------------------------------------------------------

def test_a_batch_keeps_known_fields_and_drops_the_search_query():
    batch = parse_batch(body([{"type": "cart_add", "productId": "alpha-pro", "quantity": 2, "value": 10},
                              {"type": "search", "query": "my name is Ada"},
                              {"type": "exposure", "slot": "hero"}], page="tok"), LIMITS)
    assert batch.page_token == "tok"
    assert batch.events == [{"type": "cart_add", "productId": "alpha-pro", "quantity": 2, "value": 10.0},
                            {"type": "search"}, {"type": "exposure", "slot": "hero"}]


@pytest.mark.parametrize("data, status, reason", [
    (b"{", 400, "json"),
    (b"\xff\xfe", 400, "json"),
    (b"[]", 400, "shape"),
    (json.dumps({"events": [{"type": "page_view"}]}).encode(), 400, "version"),
    (json.dumps({"v": 2, "events": [{"type": "page_view"}]}).encode(), 400, "version"),
    (json.dumps({"v": True, "events": [{"type": "page_view"}]}).encode(), 400, "version"),
    (body([]), 400, "shape"),
    (body({"type": "page_view"}), 400, "shape"),
    (body([{"type": "page_view"}], page=""), 400, "page"),
    (body([{"type": "page_view"}], page=5), 400, "page"),
    (body(["page_view"]), 400, "event"),
    (body([{"type": "add_to_cart"}]), 400, "type"),
    (body([{"type": "page_view", "email": "a@b.c"}]), 400, "field"),
    (body([{"type": "page_view", "url": "x" * 2049}]), 400, "string"),
    (body([{"type": "page_view", "url": "line\nbreak"}]), 400, "string"),
    (body([{"type": "cart_add", "quantity": -1}]), 400, "number"),
    (body([{"type": "cart_add", "quantity": 1.5}]), 400, "number"),
    (body([{"type": "cart_add", "quantity": True}]), 400, "number"),
    (body([{"type": "purchase", "value": "12"}]), 400, "number"),
    (body([{"type": "purchase", "value": 1e12}]), 400, "number"),
    (b'{"v": 1, "events": [{"type": "purchase", "value": NaN}]}', 400, "number"),
    (body([{"type": "exposure"}], page="tok"), 400, "slot"),
    (body([{"type": "exposure", "slot": "hero"}]), 400, "page"),
    (body([{"type": "cta_click", "slot": "hero"}]), 400, "page"),
])
def test_bad_batches_are_refused_with_a_reason(data, status, reason):
    error = rejected(data)
    assert (error.status, error.reason) == (status, reason)
    assert json.loads(error.body()) == {"error": reason, "detail": error.detail}


def test_urls_lose_their_query_and_fragment():
    batch = parse_batch(body([{"type": "page_view", "url": "/thanks?email=a@b.c#top"},
                              {"type": "cta_click", "slot": "hero", "url": "https://x.example/p#q?r"}], page="t"),
                        LIMITS)
    assert [e["url"] for e in batch.events] == ["/thanks", "https://x.example/p"]


def test_size_and_count_limits_give_413():
    assert rejected(b" " * 20_000).reason == "too_large"
    many = body([{"type": "page_view"}] * 51)
    assert (rejected(many).status, rejected(many).reason) == (413, "too_many")
    assert len(parse_batch(body([{"type": "page_view"}] * 5), replace(LIMITS, max_events=5)).events) == 5


def test_a_refusal_names_the_event():
    error = rejected(body([{"type": "page_view"}, {"type": "nope"}]))
    assert error.detail.startswith("event 1: unknown type 'nope'")


def test_the_beacon_tag_carries_token_and_path():
    tag = beacon_tag("/*js*/", "k1.abc.def", "/__pz/e")
    assert tag == '<script data-pz-page="k1.abc.def" data-pz-events="/__pz/e">/*js*/</script>'


# --- the stored line ----------------------------------------------------------------------

def test_the_line_has_the_batch_shape_and_the_pages_decision():
    session = Session(VISITOR, NOW - 100, NOW - 5, pages=3)
    batch = parse_batch(body([{"type": "page_view", "url": "/p"}, {"type": "exposure", "slot": "promo"},
                              {"type": "cta_click", "slot": "hero", "url": "/checkout/"}], page="t"), LIMITS)
    line = enrich(batch, session, PAGE, received_at=NOW + 0.5, batch_id="b1")
    assert line == {
        "v": 1, "batchId": "b1", "receivedAt": NOW + 0.5, "userId": VISITOR, "sessionId": f"{VISITOR}.{NOW - 100}",
        "page": {"id": "d1", "path": "/products/alpha-pro/", "tier": "medium", "score": 64.2,
                 "choices": {"hero": {"rule": "premium-offer", "variant": "hero-premium"},
                             "promo": {"rule": "bundle-on-products", "variant": "control"}}},
        "events": [
            {"type": "page_view", "timestamp": NOW + 0.5, "url": "/p", "decisionId": "d1"},
            {"type": "exposure", "timestamp": NOW + 0.5, "slot": "promo", "decisionId": "d1",
             "rule": "bundle-on-products", "variant": "control"},
            {"type": "cta_click", "timestamp": NOW + 0.5, "slot": "hero", "url": "/checkout/", "decisionId": "d1",
             "rule": "premium-offer", "variant": "hero-premium"},
        ]}
    assert session_id(session) == line["sessionId"]


def test_a_line_without_a_page():
    batch = parse_batch(body([{"type": "purchase", "value": 649}]), LIMITS)
    line = enrich(batch, Session(VISITOR, NOW, NOW), None, received_at=NOW, batch_id="b")
    assert line["page"] is None and line["events"] == [{"type": "purchase", "timestamp": NOW, "value": 649.0}]


def test_slot_events_must_name_a_slot_the_page_filled():
    batch = parse_batch(body([{"type": "exposure", "slot": "footer"}], page="t"), LIMITS)
    with pytest.raises(EventRejected, match="slot 'footer' was not filled"):
        check_slots(batch, PAGE)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig"])
def test_a_body_that_is_not_plain_utf8_is_refused(encoding):
    data = json.dumps({"v": 1, "events": [{"type": "page_view", "url": "/"}]}).encode(encoding)
    assert rejected(data).reason == "json" and "UTF-8" in rejected(data).detail


@pytest.mark.parametrize("kind", [[], ["purchase"], {}, {"a": 1}, 1, 1.5, True, None])
def test_an_event_type_of_any_other_json_kind_is_refused_not_a_crash(kind):
    data = json.dumps({"v": 1, "events": [{"type": kind}]}).encode()
    assert rejected(data).status == 400 and rejected(data).reason == "type"
