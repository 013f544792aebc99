"""The fold's bounds on claims (events/fold.py, "Bounds on claims"): purchases counted per line and per
visitor per day, cart lines and carts capped, generated over floods of forged events; the partials
keep their algebra (exact, associative, commutative) with the per-day counts, and profiles of events
within the bounds are what they were."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge.events import fold
from intentedge.events.fold import (CART_ADD, CART_REMOVE, DAY, PAGE_VIEW, PURCHASE, UNCOUNTED, Clamps, Event,
                                    EventError, batch_from_json, clamps, merge, merge_all, profile_from_partial,
                                    session_tag)

from tests.core.builders import NOW
from tests.core.events.test_fold import FOLDER, S1, ev, events_st, pieces

MIDNIGHT = NOW - NOW % DAY


def line(*events: dict, user: str = "forger", session: str = "s-1") -> dict:
    return {"userId": user, "sessionId": session, "events": list(events)}


def bought(ts: int, value: float = 999_999.0) -> dict:
    return {"type": "purchase", "value": value, "timestamp": ts}


def profile_of(*lines: dict):
    """The profile of stored lines folded as build-profiles folds them: a fold per line, merged."""
    partial = merge_all(FOLDER.fold(session_tag(b.session_id), b.events) for b in map(batch_from_json, lines))
    return profile_from_partial(partial, updated_at=NOW), clamps(partial)


# --- a line -----------------------------------------------------------------------------------

def test_a_line_counts_at_most_its_bound_of_purchases_and_the_rest_still_empty_the_cart():
    parsed = batch_from_json(line(*(bought(NOW) for _ in range(10)),
                                  {"type": "cart_add", "value": 40, "timestamp": NOW + 1}, bought(NOW + 2)))
    quantities = [event[4] for event in parsed.events if event[1] == PURCHASE]
    assert quantities == [1] * fold.MAX_LINE_PURCHASES + [UNCOUNTED] * (11 - fold.MAX_LINE_PURCHASES)
    profile, clamped = profile_of(line(*(bought(NOW) for _ in range(10)),
                                       {"type": "cart_add", "value": 40, "timestamp": NOW + 1}, bought(NOW + 2)))
    assert profile.purchases == fold.MAX_LINE_PURCHASES
    assert (profile.cart_value, profile.cart_items) == (0.0, 0)       # the uncounted last purchase emptied it
    assert clamped == Clamps(purchases=11 - fold.MAX_LINE_PURCHASES, carts=0)


def test_a_purchase_past_the_line_bound_is_still_checked():
    with pytest.raises(EventError) as caught:
        batch_from_json(line(*(bought(NOW) for _ in range(5)), {"type": "purchase", "value": -1, "timestamp": NOW}))
    assert caught.value.reason == "number"


# --- a day, and the days ------------------------------------------------------------------------

def test_a_visitor_counts_at_most_the_daily_bound_on_each_day():
    flood = [line(*(bought(MIDNIGHT + day * DAY + n) for n in range(3))) for day in range(10) for _ in range(100)]
    profile, clamped = profile_of(*flood)
    assert profile.purchases == 10 * fold.MAX_DAILY_PURCHASES
    assert clamped.purchases == 10 * 100 * 3 - 10 * fold.MAX_DAILY_PURCHASES
    # a day is a UTC day of the timestamps: a second before midnight is the day before
    profile, _ = profile_of(*(line(bought(MIDNIGHT - 1), bought(MIDNIGHT)) for _ in range(10)))
    assert profile.purchases == 2 * fold.MAX_DAILY_PURCHASES


def test_only_the_latest_days_with_purchases_count():
    days = fold.MAX_PURCHASE_DAYS + 30
    partial = merge_all(FOLDER.fold(S1, [ev(-day * DAY, PURCHASE)]) for day in range(days))
    latest = [(NOW - day * DAY) // DAY for day in range(fold.MAX_PURCHASE_DAYS)]
    assert sorted(partial.purchase_days) == sorted(latest)
    assert profile_from_partial(partial, updated_at=NOW).purchases == fold.MAX_PURCHASE_DAYS
    assert clamps(partial).purchases == 30 and partial.purchases == days


# --- carts ------------------------------------------------------------------------------------

def test_a_cart_line_and_the_cart_are_bounded():
    cents = fold.MAX_CART_VALUE * 100
    # a line's value, given or from the catalog (price x quantity), is cut before it enters the cart
    p = profile_from_partial(FOLDER.fold(S1, [ev(0, CART_ADD, product="tripod", quantity=10_000),     # 400,000
                                              ev(1, CART_REMOVE, product="tripod")]), updated_at=NOW)
    assert (p.cart_value, p.cart_items) == ((cents - 4000) / 100, fold.MAX_CART_ITEMS)    # not 399,960 and 9,999
    many = FOLDER.fold(S1, [ev(n, CART_ADD, cents=cents - 1, quantity=100) for n in range(50)])
    p = profile_from_partial(many, updated_at=NOW)
    assert (p.cart_value, p.cart_items) == (fold.MAX_CART_VALUE, fold.MAX_CART_ITEMS)
    assert clamps(many) == Clamps(0, 1)
    assert clamps(FOLDER.fold(S1, [ev(0, CART_ADD, cents=cents, quantity=fold.MAX_CART_ITEMS)])) == Clamps(0, 0)


# --- floods, generated ------------------------------------------------------------------------

forged_line_st = st.builds(
    lambda purchases, adds, value, quantity, day, spread: line(
        *(bought(MIDNIGHT + day * DAY + (n if spread else 0), value) for n in range(purchases)),
        *({"type": "cart_add", "value": value, "quantity": quantity, "timestamp": MIDNIGHT + day * DAY}
          for _ in range(adds))),
    purchases=st.integers(0, 60), adds=st.integers(0, 10), quantity=st.integers(0, 10_000), day=st.integers(0, 3),
    value=st.sampled_from([0.5, 999.0, 99_999.0, 999_999.0]), spread=st.booleans())


@settings(max_examples=200, deadline=None)
@given(flood=st.lists(forged_line_st, min_size=1, max_size=40))
def test_a_forged_flood_cannot_push_a_profile_past_the_bounds(flood):
    profile, clamped = profile_of(*flood)
    lines_per_day: dict[int, int] = {}
    purchases = 0
    for forged in flood:
        bought_here = [e for e in forged["events"] if e["type"] == "purchase"]
        purchases += len(bought_here)
        for e in bought_here[:fold.MAX_LINE_PURCHASES]:
            lines_per_day[e["timestamp"] // DAY] = lines_per_day.get(e["timestamp"] // DAY, 0) + 1
    assert profile.purchases == sum(min(n, fold.MAX_DAILY_PURCHASES) for n in lines_per_day.values())
    assert profile.purchases + clamped.purchases == purchases
    assert profile.cart_value <= fold.MAX_CART_VALUE and profile.cart_items <= fold.MAX_CART_ITEMS


def shopper_line(purchase: bool, adds: int, day: int) -> dict:
    return line(*([bought(MIDNIGHT + day * DAY, 249.0)] if purchase else []),
                *({"type": "cart_add", "value": 249.0, "quantity": 2, "timestamp": MIDNIGHT + day * DAY - 5}
                  for _ in range(adds)), user="shopper")


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 400)), max_size=30,
                      unique_by=lambda drawn: drawn[2]))      # a purchase a day at most, over more than a year
def test_a_shopper_within_the_bounds_keeps_every_purchase(lines):
    lines = [shopper_line(*drawn) for drawn in lines]
    profile, clamped = profile_of(*lines)
    assert profile.purchases == sum(e["type"] == "purchase" for l in lines for e in l["events"])
    assert clamped == Clamps(0, 0)


# --- the algebra, with the per-day counts -------------------------------------------------------

days_events_st = st.builds(      # UNCOUNTED only where batch_from_json puts it: on purchases
    lambda ts, kind, quantity, cents: Event(ts, kind, "", "", UNCOUNTED if quantity < 0 and kind == PURCHASE
                                            else abs(quantity), cents),
    st.integers(0, 6 * DAY), st.sampled_from([PURCHASE, PURCHASE, CART_ADD, PAGE_VIEW]), st.sampled_from([1, 2, -1]),
    st.integers(-1, 500))
partials_st = st.builds(lambda events, session: FOLDER.fold(session, events),
                        st.lists(days_events_st | events_st, max_size=20), st.integers(0, 3))


@pytest.fixture(params=[None, (2, 2)], ids=["bounds", "tiny-bounds"])
def day_bounds(request):
    if request.param is None:
        yield
        return
    daily, days = request.param
    with mock.patch.object(fold, "MAX_DAILY_PURCHASES", daily), mock.patch.object(fold, "MAX_PURCHASE_DAYS", days):
        yield


def test_merge_stays_exact_commutative_and_associative_with_purchase_days(day_bounds):
    @settings(max_examples=300, deadline=None)
    @given(a=partials_st, b=partials_st, c=partials_st)
    def check(a, b, c):
        assert merge(a, b).purchase_days == merge(b, a).purchase_days
        left, right = merge(merge(a, b), c), merge(a, merge(b, c))
        assert (left.purchases, left.purchase_days) == (right.purchases, right.purchase_days)
        assert clamps(left).purchases == clamps(right).purchases
        assert len(left.purchase_days) <= fold.MAX_PURCHASE_DAYS
        assert all(0 < n <= fold.MAX_DAILY_PURCHASES for n in left.purchase_days.values())
    check()


def test_folding_a_list_over_days_equals_merging_the_folds_of_its_pieces(day_bounds):
    @settings(max_examples=300, deadline=None)
    @given(events=st.lists(days_events_st, max_size=40), cuts=st.lists(st.integers(0, 100), max_size=4))
    def check(events, cuts):
        whole = FOLDER.fold(S1, events)
        assert whole == merge_all(FOLDER.fold(S1, piece) for piece in pieces(sorted(events), cuts))
        counted: dict[int, int] = {}
        for event in events:
            if event.kind == PURCHASE and event.quantity != UNCOUNTED:
                counted[event.timestamp // DAY] = counted.get(event.timestamp // DAY, 0) + 1
        latest = sorted(counted)[-fold.MAX_PURCHASE_DAYS:]
        assert whole.purchase_days == {day: min(counted[day], fold.MAX_DAILY_PURCHASES) for day in latest}
    check()
