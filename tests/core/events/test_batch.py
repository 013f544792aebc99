"""Events from the page: the client batch schema (what is refused, and why), the page token, the
line the sink gets, the session an event leaves behind, the rate limit and the outbox."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from intentedge import compile_bundle
from intentedge.contract.config import ConfigError
from intentedge.decision import Choice
from intentedge.events.batch import EventRejected, Limits, beacon_tag, check_slots, enrich, parse_batch, session_id
from intentedge.fragments import ContentType, Fragment, Operation
from intentedge.events.outbox import STALE_SECONDS, Outbox, post_body, retryable
from intentedge.events.page_token import (MAX_AGE_SECONDS, PageDecision, PageTokenError, SlotChoice, page_decision, sign,
                                   verify)
from intentedge.events.rate_limit import RateLimiter
from intentedge.session import Session, SessionKeys

from tests.core.builders import KEYS, NOW, SECRET_1, SECRET_2

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


# --- the page token ------------------------------------------------------------------------

def test_a_page_token_round_trips_for_its_visitor_only():
    token = sign(PAGE, VISITOR, KEYS)
    assert verify(token, VISITOR, KEYS, NOW + 60) == PAGE
    with pytest.raises(PageTokenError, match="does not match this visitor"):
        verify(token, "w" * 22, KEYS, NOW)


@pytest.mark.parametrize("mangle, message", [
    (lambda t: t + "x", "not a page token|does not match"),
    (lambda t: "k9" + t[2:], "unknown key"),
    (lambda t: t.replace(".", "", 1), "not a page token"),
    (lambda t: "a.b.c.d", "not a page token"),
])
def test_forged_page_tokens_do_not_verify(mangle, message):
    with pytest.raises(PageTokenError, match=message):
        verify(mangle(sign(PAGE, VISITOR, KEYS)), VISITOR, KEYS, NOW)


def test_a_page_token_expires_and_survives_key_rotation():
    token = sign(PAGE, VISITOR, KEYS)
    with pytest.raises(PageTokenError, match="expired"):
        verify(token, VISITOR, KEYS, NOW + MAX_AGE_SECONDS + 1)
    rotated = SessionKeys.parse(f"k2:{SECRET_2},k1:{SECRET_1}")
    assert verify(token, VISITOR, rotated, NOW) == PAGE


def test_a_session_cookie_does_not_pass_for_a_page_token():
    from intentedge.session import dump
    cookie = dump(Session(VISITOR, NOW, NOW), KEYS)
    with pytest.raises(PageTokenError):
        verify(cookie, VISITOR, KEYS, NOW)


def test_the_page_decision_names_every_choice_and_control():
    fragment = Fragment("hero-premium", "x", ContentType.HTML, Operation.INNER)
    choices = [Choice("hero", fragment, "x", "premium-offer", "hero-premium"),
               Choice("promo", fragment, "x", None, "promo-newsletter"),
               Choice("side", fragment, "x", "bundle", "control")]
    page = page_decision(choices, {"tier": "high", "score": 87.449}, decision_id="d", now=NOW + 0.7, path="/p")
    assert page == PageDecision("d", NOW, "/p", "high", 87.4, (
        SlotChoice("hero", "premium-offer", "hero-premium"), SlotChoice("promo", "fallback", "promo-newsletter"),
        SlotChoice("side", "bundle", "control")))


def test_the_beacon_tag_carries_token_and_path():
    tag = beacon_tag("/*js*/", "k1.abc.def", "/__pz/e")
    assert tag == '<script data-pz-page="k1.abc.def" data-pz-events="/__pz/e">/*js*/</script>'


# --- the sink's line -----------------------------------------------------------------------

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
])
def test_a_bad_events_table_names_the_problem(spec, message):
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"events": spec}, source="site.toml")
    assert message in str(caught.value)


# --- the rate limit and the outbox ---------------------------------------------------------

def test_the_rate_limit_refills_over_a_minute_per_visitor():
    limiter = RateLimiter(60)
    assert limiter.take("a", 50, NOW) == 0
    assert limiter.take("a", 20, NOW) == pytest.approx(10.0)   # 10 tokens short, one a second
    assert limiter.take("b", 60, NOW) == 0
    assert limiter.take("a", 20, NOW + 10) == 0
    assert limiter.take("a", 61, NOW + 1000) == 60.0            # more than the bucket ever holds


def test_the_rate_limit_forgets_the_least_recent_visitors():
    limiter = RateLimiter(10, max_keys=2)
    limiter.take("a", 10, NOW)
    limiter.take("b", 10, NOW)
    limiter.take("c", 10, NOW)
    assert limiter.take("a", 10, NOW) == 0                     # forgotten: a full bucket again
    assert limiter.take("c", 1, NOW) > 0


def test_the_outbox_posts_in_order_by_size_and_counts_what_it_drops():
    outbox = Outbox(capacity_bytes=30, post_bytes=21)
    assert [outbox.add(f'{{"n":{n}}}') for n in range(5)] == [0, 0, 0, 0, 1]   # 7 bytes each, 35 > 30
    assert outbox.dropped == 1
    first = outbox.take()
    assert first == ['{"n":1}', '{"n":2}']          # 2 lines and a comma each fit in 21 bytes, 3 do not
    outbox.sent(first)
    rest = outbox.take()
    outbox.failed(rest)
    assert (outbox.pending, outbox.forwarded, outbox.dropped) == (0, 2, 3)
    assert post_body(first) == '{"v":1,"batches":[{"n":1},{"n":2}]}'


def test_a_line_larger_than_a_post_still_goes_alone():
    outbox = Outbox(post_bytes=4)
    outbox.add('{"big":1}')
    outbox.add('{"n":2}')
    assert outbox.take() == ['{"big":1}'] and outbox.take() == ['{"n":2}'] and outbox.take() == []


def test_one_drain_at_a_time_and_a_stale_one_does_not_block():
    outbox = Outbox()
    assert outbox.start_drain(NOW) is True
    assert outbox.start_drain(NOW + 1) is False
    assert outbox.start_drain(NOW + STALE_SECONDS + 1) is True   # the runtime abandoned the first
    outbox.end_drain()
    assert outbox.start_drain(NOW + 70) is True


@pytest.mark.parametrize("status, retry", [(500, True), (503, True), (408, True), (429, True),
                                           (400, False), (401, False), (413, False)])
def test_only_transient_failures_are_retried(status, retry):
    assert retryable(status) is retry
