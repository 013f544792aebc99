"""Events from the page: the client batch (what is refused, and why), the stored line an accepted
batch becomes, the slots it may name, the beacon's tag, the session an event leaves behind, and the
[events] table's limits."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from intentedge import compile_bundle
from intentedge.contract.config import ConfigError
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

def test_the_line_has_the_seeds_shape_and_the_pages_decision():
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


# --- the session an event leaves -----------------------------------------------------------

DEMO = compile_bundle({"products": {"alpha-pro": {"price": 2499, "category": "cameras"}}}, source="t")


def record(session: Session, *events: dict) -> Session:
    for event in events:
        session = DEMO.signals.record(session, event, DEMO.products)
    return session


def test_cart_events_move_the_cart_and_the_funnel():
    start = Session(VISITOR, NOW, NOW)
    added = record(start, {"type": "cart_add", "productId": "alpha-pro", "quantity": 2})
    assert (added.cart_value, added.cart_items, added.stage) == (4998.0, 2, 2)
    assert added.products == ("alpha-pro",) and added.categories == ("cameras",)
    priced = record(start, {"type": "cart_add", "productId": "unknown", "value": 30.5})
    assert (priced.cart_value, priced.cart_items) == (30.5, 1)
    removed = record(added, {"type": "cart_remove", "productId": "alpha-pro", "quantity": 5})
    assert (removed.cart_value, removed.cart_items) == (0.0, 0)


def test_purchase_search_and_trial_change_the_session_views_do_not():
    start = Session(VISITOR, NOW, NOW, cart_value=100.0, cart_items=1)
    bought = record(start, {"type": "purchase", "value": 100})
    assert (bought.cart_value, bought.cart_items, bought.purchases, bought.stage) == (0.0, 0, 1, 4)
    assert record(start, {"type": "search"}).searches == 1
    assert record(start, {"type": "trial_start"}).trial is True
    for kind in ("page_view", "exposure", "cta_click"):
        assert record(start, {"type": kind, "slot": "hero"}) is start


# --- the [events] table --------------------------------------------------------------------

def test_events_are_off_unless_configured():
    assert compile_bundle({}, source="t").events is None
    events = compile_bundle({"events": {"path": "/t/e", "beacon": False, "max_events": 5, "rate_per_minute": 60}},
                            source="t").events
    assert events == Limits(path="/t/e", beacon=False, max_events=5, rate_per_minute=60)


def test_the_client_and_isolate_limits_default_to_at_least_the_narrower_one():
    events = compile_bundle({"events": {"rate_per_minute": 5_000}}, source="t").events
    assert (events.client_rate_per_minute, events.isolate_rate_per_minute) == (5_000, 60_000)
    events = compile_bundle({"events": {"client_rate_per_minute": 300, "isolate_rate_per_minute": 900}},
                            source="t").events
    assert (events.rate_per_minute, events.client_rate_per_minute, events.isolate_rate_per_minute) == (120, 300, 900)


@pytest.mark.parametrize("spec, message", [
    ({"path": "events"}, "path must be a URL path"),
    ({"path": '/"><script>'}, "path must be a URL path"),
    ({"beacon": "yes"}, "beacon must be true or false"),
    ({"max_events": 0}, "max_events must be at least 1"),
    ({"max_events": 10}, "max_events (10) must be at least 50 with the beacon on"),
    ({"max_events": 501, "rate_per_minute": 600}, "max_events is at most 500"),
    ({"max_bytes": 1_000_000}, "max_bytes at most 65536"),
    ({"rate_per_minute": 10}, "rate_per_minute (10) must allow one full batch"),
    ({"sink": "http://x"}, "unknown key 'sink'"),
    ({"client_rate_per_minute": 60}, "rate_per_minute (120) <= client_rate_per_minute (60)"),
    ({"isolate_rate_per_minute": 500}, "client_rate_per_minute (1200) <= isolate_rate_per_minute (500)"),
    ({"client_rate_per_minute": "many"}, "client_rate_per_minute must be an integer"),
    ({"isolate_rate_per_minute": 0}, "isolate_rate_per_minute must be at least 1"),
])
def test_a_bad_events_table_names_the_problem(spec, message):
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"events": spec}, source="site.toml")
    assert message in str(caught.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig"])
def test_a_body_that_is_not_plain_utf8_is_refused(encoding):
    data = json.dumps({"v": 1, "events": [{"type": "page_view", "url": "/"}]}).encode(encoding)
    assert rejected(data).reason == "json" and "UTF-8" in rejected(data).detail


@pytest.mark.parametrize("kind", [[], ["purchase"], {}, {"a": 1}, 1, 1.5, True, None])
def test_an_event_type_of_any_other_json_kind_is_refused_not_a_crash(kind):
    data = json.dumps({"v": 1, "events": [{"type": kind}]}).encode()
    assert rejected(data).status == 400 and rejected(data).reason == "type"
