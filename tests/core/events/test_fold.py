"""Folding events into profiles: parsing batches, what a fold counts, and the algebra of merge
(associative, commutative, folding a list = merging the folds of its pieces)."""

from __future__ import annotations

import math
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge import compile_bundle
from intentedge.events import fold
from intentedge.contract import schema
from intentedge.events.fold import (CART_ADD, CART_REMOVE, CTA_CLICK, EMPTY, PAGE_VIEW, PURCHASE, SEARCH, TRIAL_START,
                             Event, EventError, Folder, Partial, batch_from_json, merge, merge_all,
                             profile_from_partial, session_tag)
from intentedge.profile import Profile, profile_from_payload, profile_to_payload
from intentedge.session import DWELL_CAP_SECONDS

from tests.core.builders import NOW

CONFIG = {
    "signals": {
        "stages": ["browse", "product", "cart", "checkout", "purchase"],
        "pages": [
            {"pattern": "^/products/(?P<product>[a-z0-9-]+)/", "stage": "product"},
            {"pattern": "^/shop/(?P<category>[a-z]+)/", "stage": "product"},
            {"pattern": "^/guides/", "category": "guides"},
            {"pattern": "^/cart/", "stage": "cart"},
            {"pattern": "^/checkout/done/", "stage": "purchase", "purchase": True},
            {"pattern": "^/checkout/", "stage": "checkout"},
            {"pattern": "^/trial/", "trial": True},
        ],
    },
    "products": {"alpha-pro": {"price": 249.5, "category": "cameras"}, "tripod": {"price": 40}},
}
BUNDLE = compile_bundle(CONFIG, source="test")
FOLDER = Folder(BUNDLE.signals, BUNDLE.products)
STAGE = {name: index for index, name in enumerate(BUNDLE.signals.stages)}
S1, S2 = session_tag("session-1"), session_tag("session-2")


def ev(ts, kind, url="", product="", quantity=1, cents=-1) -> Event:
    return Event(NOW + ts, kind, url, product, quantity, cents)


def profile(*sessions: list[Event]) -> Profile:
    """The profile of sessions given as event lists (session i gets tag i)."""
    partials = [FOLDER.fold(index, events) for index, events in enumerate(sessions)]
    return profile_from_partial(merge_all(partials), updated_at=NOW)


# --- batch_from_json -------------------------------------------------------------------------

def batch(*events, **fields) -> dict:
    return {"userId": "u-1", "sessionId": "s-1", "events": list(events), **fields}


def test_batch_from_json_normalizes_events_and_lists_unknown_types():
    parsed = batch_from_json(batch(
        {"type": "page_view", "url": "/products/alpha-pro/", "timestamp": NOW},
        {"type": "cart_add", "productId": "alpha-pro", "quantity": 2, "value": 499.0, "timestamp": NOW + 1.9},
        {"type": "search", "query": "tripod", "timestamp": "2026-09-21T14:13:20Z"},
        {"type": "scroll", "depth": float("nan")},       # unknown: skipped, never inspected
        {"type": "purchase", "timestamp": "2026-09-21T16:13:20+02:00", "url": None, "value": 1},
    ))
    assert parsed.visitor_id == "u-1" and parsed.session_id == "s-1"
    assert parsed.events == [
        (NOW, PAGE_VIEW, "/products/alpha-pro/", "", 1, -1),
        (NOW + 1, CART_ADD, "", "alpha-pro", 2, 49900),       # float seconds floor, value in cents
        (NOW, SEARCH, "", "", 1, -1),                          # the query is checked, never kept
        (NOW, PURCHASE, "", "", 1, 100),
    ]
    assert parsed.unknown == ["scroll"]


@pytest.mark.parametrize("text, seconds", [
    ("2026-09-21T14:13:20Z", NOW),
    ("2026-09-21T14:13:20.999+00:00", NOW),              # fractions floor
    ("2026-09-21T14:13:20", NOW),                        # no offset: UTC
    ("2026-09-21T16:13:20+02:00", NOW),
    ("2026-09-21", NOW - 14 * 3600 - 13 * 60 - 20),      # a date is its midnight
])
def test_iso_timestamps(text, seconds):
    assert batch_from_json(batch({"type": "page_view", "timestamp": text})).events[0][0] == seconds


BIG = 10**30
LONG = "x" * 2049


@pytest.mark.parametrize("obj, reason", [
    pytest.param([], "shape", id="not-an-object"),
    pytest.param({"userId": "u", "sessionId": "s"}, "shape", id="no-events"),
    pytest.param(batch(events={"a": 1}), "shape", id="events-not-array"),
    pytest.param(batch(events=[{"type": "x"}] * 10_001), "shape", id="too-many-events"),
    pytest.param(batch(userId=12), "id", id="numeric-user"),
    pytest.param(batch(userId=""), "id", id="empty-user"),
    pytest.param(batch(userId="u" * 257), "id", id="long-user"),
    pytest.param(batch(userId="a\nb"), "id", id="control-character"),
    pytest.param(batch(userId="\ud800"), "id", id="lone-surrogate"),
    pytest.param(batch(sessionId=None), "id", id="null-session"),
    pytest.param(batch(sessionId=["s"]), "id", id="array-session"),
    pytest.param(batch([1]), "event", id="event-not-object"),
    pytest.param(batch({"type": ["page_view"]}), "event", id="type-not-string"),   # unhashable
    pytest.param(batch({"type": "page_view"}), "timestamp", id="no-timestamp"),
    pytest.param(batch({"type": "page_view", "timestamp": True}), "timestamp", id="bool-timestamp"),
    pytest.param(batch({"type": "page_view", "timestamp": -1}), "timestamp", id="negative"),
    pytest.param(batch({"type": "page_view", "timestamp": NOW * 1000}), "timestamp", id="milliseconds"),
    pytest.param(batch({"type": "page_view", "timestamp": math.nan}), "timestamp", id="nan-timestamp"),
    pytest.param(batch({"type": "page_view", "timestamp": math.inf}), "timestamp", id="inf-timestamp"),
    pytest.param(batch({"type": "page_view", "timestamp": "yesterday"}), "timestamp", id="not-iso"),
    pytest.param(batch({"type": "page_view", "timestamp": "0001-01-01T00:00:00+14:00"}), "timestamp",
                 id="before-epoch"),
    pytest.param(batch({"type": "page_view", "timestamp": {"$date": 1}}), "timestamp", id="object-timestamp"),
    pytest.param(batch({"type": "page_view", "timestamp": NOW, "url": 7}), "string", id="numeric-url"),
    pytest.param(batch({"type": "page_view", "timestamp": NOW, "url": LONG}), "string", id="long-url"),
    pytest.param(batch({"type": "page_view", "timestamp": NOW, "url": "/\udcff"}), "string", id="surrogate-url"),
    pytest.param(batch({"type": "search", "timestamp": NOW, "query": {"q": 1}}), "string", id="object-query"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "productId": 5}), "string", id="numeric-product"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "quantity": 1.0}), "number", id="float-quantity"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "quantity": -1}), "number", id="negative-quantity"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "quantity": BIG}), "number", id="huge-quantity"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "quantity": True}), "number", id="bool-quantity"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "value": math.nan}), "number", id="nan-value"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "value": math.inf}), "number", id="inf-value"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "value": BIG}), "number", id="huge-value"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "value": -5}), "number", id="negative-value"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "value": "12"}), "number", id="string-value"),
    pytest.param(batch({"type": "cart_add", "timestamp": NOW, "value": False}), "number", id="bool-value"),
])
def test_batch_from_json_refuses_malformed_batches(obj, reason):
    with pytest.raises(EventError) as caught:
        batch_from_json(obj)
    assert caught.value.reason == reason


# --- what a fold counts --------------------------------------------------------------------

def test_empty_events_fold_to_the_neutral_partial():
    assert FOLDER.fold(S1, []) is EMPTY
    assert profile_from_partial(EMPTY, updated_at=NOW) == Profile(updated_at=NOW)


def test_counts_stage_and_recency():
    p = profile([ev(0, PAGE_VIEW, "/products/alpha-pro/"), ev(5, SEARCH), ev(9, CTA_CLICK, "/"),
                 ev(12, CART_ADD, product="tripod", cents=4000), ev(3, PAGE_VIEW, "/guides/x/")])
    assert (p.pages, p.interactions, p.searches, p.purchases, p.sessions) == (2, 3, 1, 0, 1)
    assert p.stage == STAGE["cart"]         # cart_add implies "cart"; the furthest stage wins
    assert p.last_seen == NOW + 12 and p.updated_at == NOW
    assert not p.trial


@pytest.mark.parametrize("events, stage, trial", [
    pytest.param([ev(0, PAGE_VIEW, "/checkout/")], "checkout", False, id="page-rule"),
    pytest.param([ev(0, PAGE_VIEW, "https://shop.example/checkout/?step=2#top")], "checkout", False, id="full-url"),
    pytest.param([ev(0, PURCHASE)], "purchase", False, id="purchase-implies-purchase"),
    pytest.param([ev(0, PAGE_VIEW, "/trial/start/")], "browse", True, id="trial-page"),
    # "trial" is not one of these stages: trial_start sets the flag only
    pytest.param([ev(0, TRIAL_START)], "browse", True, id="trial-start"),
    pytest.param([ev(0, PAGE_VIEW, "/nowhere/")], "browse", False, id="no-rule"),
])
def test_stages_and_trial(events, stage, trial):
    p = profile(events)
    assert (p.stage, p.trial) == (STAGE[stage], trial)


def test_trial_start_reaches_a_trial_stage_where_there_is_one():
    stages = compile_bundle({"signals": {"stages": ["browse", "trial", "paid"]}}, source="t").signals
    partial = Folder(stages).fold(S1, [ev(0, TRIAL_START), ev(1, CART_ADD)])   # no "cart" stage: nothing
    assert partial.stage == 1 and partial.trial


def test_dwell_is_the_capped_gap_between_page_views_of_one_session():
    first = [ev(0, PAGE_VIEW, "/"), ev(30, PAGE_VIEW, "/"), ev(30 + 5000, PAGE_VIEW, "/"), ev(40, SEARCH)]
    second = [ev(100_000, PAGE_VIEW, "/"), ev(100_010, PAGE_VIEW, "/")]
    # gaps 30, 600 (5000 capped) and 10; the last page of a session has no dwell
    assert profile(first, second).dwell_avg == round((30 + DWELL_CAP_SECONDS + 10) / 3, 1)
    assert profile([ev(0, PAGE_VIEW, "/")]).dwell_avg == 0.0


def test_categories_weigh_page_views_clicks_cart_adds_and_purchases():
    p = profile([
        ev(0, PAGE_VIEW, "/shop/lenses/"), ev(1, PAGE_VIEW, "/shop/lenses/"),    # a category group: 1 each
        ev(2, CTA_CLICK, "/guides/a/"),                                          # a fixed category: 1
        ev(3, PAGE_VIEW, "/products/alpha-pro/"),      # the product group, categorized by the catalog: 1
        ev(4, CART_ADD, product="alpha-pro"),          # the catalog's category: 3
        ev(5, PURCHASE, product="alpha-pro"),          # 5
        ev(6, SEARCH, "/guides/b/"),                   # searches weigh nothing
    ])
    assert p.categories == {"cameras": 9.0, "lenses": 2.0, "guides": 1.0}
    assert list(p.categories) == ["cameras", "lenses", "guides"]     # heaviest first


def test_cart_runs_over_sessions_and_a_purchase_empties_it():
    p = profile([ev(0, CART_ADD, product="alpha-pro", quantity=2),          # catalog price x quantity
                 ev(1, CART_ADD, product="tripod", cents=3500)],            # the line's value wins
                [ev(50, CART_REMOVE, product="tripod", cents=3500)])
    assert (p.cart_value, p.cart_items) == (499.0, 2)
    p = profile([ev(0, CART_ADD, cents=1000), ev(1, PURCHASE), ev(2, CART_ADD, cents=250, quantity=3)])
    assert (p.cart_value, p.cart_items, p.purchases) == (2.5, 3, 1)


def test_cart_never_goes_below_zero():
    p = profile([ev(0, CART_ADD, cents=1000), ev(1, CART_REMOVE, cents=5000, quantity=4), ev(2, CART_ADD, cents=300)])
    assert (p.cart_value, p.cart_items) == (3.0, 1)


def test_within_one_second_the_cart_is_filled_before_it_is_bought():
    p = profile([ev(0, PURCHASE), ev(0, CART_ADD, cents=1000)])
    assert (p.cart_value, p.cart_items, p.purchases) == (0.0, 0, 1)


def test_sessions_past_the_bound_are_estimated_from_a_sample():
    partial = merge_all(FOLDER.fold(session_tag(f"s-{i}"), [ev(i * 3600, PAGE_VIEW, "/"),
                                                            ev(i * 3600 + 20, PAGE_VIEW, "/")])
                        for i in range(2000))
    assert len(partial.sessions) == fold.MAX_SESSIONS and partial.sessions_saturated
    p = profile_from_partial(partial, updated_at=NOW)
    assert 2000 * 0.5 < p.sessions < 2000 * 1.5       # k-minimum-values with k = 32: about 18 % error
    assert (p.pages, p.dwell_avg) == (4000, 20.0)       # pages are exact; dwell averages the sample


def test_categories_past_the_bound_keep_a_sample_and_show_the_heaviest():
    names = [f"cat{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(100)]
    partial = FOLDER.fold(S1, [ev(i, PAGE_VIEW, f"/shop/{name}/") for i, name in enumerate(names)])
    assert len(partial.categories) == fold.MAX_CATEGORIES
    assert len(profile_from_partial(partial, updated_at=NOW).categories) == fold.TOP_CATEGORIES


def test_the_profile_fits_its_envelope():
    p = profile([ev(0, PAGE_VIEW, "/shop/lenses/"), ev(9, CART_ADD, product="alpha-pro"), ev(12, TRIAL_START)])
    data = schema.encode(schema.PROFILE, profile_to_payload(p), written_at=NOW, producer="test")
    assert profile_from_payload(schema.decode(schema.PROFILE, data).payload) == p


def test_page_lookups_are_cached_and_bounded():
    folder = Folder(BUNDLE.signals)
    with mock.patch.object(fold, "_PAGE_CACHE", 3):
        for n in range(10):
            assert folder.page(f"/cart/{n}") == (STAGE["cart"], "", False)
        assert len(folder._pages) <= 3
    assert folder.page("http://[broken") == (0, "", False)     # urlsplit refuses it: no rule applies


# --- the algebra ---------------------------------------------------------------------------

URLS = ["", "/", "/products/alpha-pro/", "/shop/lenses/", "/shop/bags/", "/guides/a/", "/cart/", "/checkout/done/",
        "/trial/x"]
SESSIONS = [session_tag(f"s{i}") for i in range(4)]

events_st = st.builds(
    Event,
    timestamp=st.integers(0, 2_000),              # narrow: ties, gaps under and over the dwell cap
    kind=st.integers(0, 6),
    url=st.sampled_from(URLS),
    product=st.sampled_from(["", "alpha-pro", "tripod", "unknown"]),
    quantity=st.integers(0, 3),
    cents=st.integers(-1, 500),
)
visits_st = st.lists(st.tuples(st.sampled_from(SESSIONS), events_st), max_size=25)   # (session, event)


def fold_visits(visits) -> Partial:
    """Fold (session, event) pairs: one fold per session, merged."""
    by_session: dict[int, list] = {}
    for session, event in visits:
        by_session.setdefault(session, []).append(event)
    return merge_all(FOLDER.fold(session, events) for session, events in by_session.items())


def pieces(visits, cuts) -> list:
    """The pieces of `visits` cut at the given indices."""
    bounds = [0, *sorted(c % (len(visits) + 1) for c in cuts), len(visits)]
    return [visits[a:b] for a, b in zip(bounds, bounds[1:])]


partials_st = st.builds(fold_visits, visits_st)
cuts_st = st.lists(st.integers(0, 100), max_size=4)


def exact_except_order(p: Partial) -> tuple:
    """What merge keeps exactly even when partials overlap in time: all but dwell and the cart."""
    return (p.pages, p.interactions, p.searches, p.purchases, p.stage, p.trial, p.last_seen, p.sessions_saturated,
            p.categories, {tag: (s.first, s.last, s.gaps) for tag, s in p.sessions.items()}, p.purchase_days)


@pytest.fixture(params=[None, 2], ids=["bounds", "tiny-bounds"])
def bounds(request):
    """Run a property with the real bounds, and with bounds of 2 so that sampling (and the daily bound
    on purchases) happens all the time."""
    if request.param is None:
        yield
        return
    with mock.patch.object(fold, "MAX_SESSIONS", 2), mock.patch.object(fold, "MAX_CATEGORIES", 2), \
            mock.patch.object(fold, "MAX_DAILY_PURCHASES", 2):
        yield


def test_merge_is_commutative(bounds):
    @settings(max_examples=200, deadline=None)
    @given(a=partials_st, b=partials_st)
    def check(a, b):
        assert merge(a, b) == merge(b, a)
    check()


@settings(max_examples=200, deadline=None)
@given(a=partials_st)
def test_empty_is_neutral(a):
    assert merge(a, EMPTY) == merge(EMPTY, a) == a == merge(a, Partial())


def test_merge_is_associative_for_partials_of_disjoint_time_ranges(bounds):
    @settings(max_examples=200, deadline=None)
    @given(visits=visits_st, cuts=st.lists(st.integers(0, 100), min_size=2, max_size=2))
    def check(visits, cuts):
        a, b, c = (fold_visits(piece) for piece in pieces(sorted(visits, key=lambda v: v[1]), cuts))
        assert merge(merge(a, b), c) == merge(a, merge(b, c))
    check()


def test_merge_is_associative_on_all_but_dwell_and_cart_for_any_partials(bounds):
    @settings(max_examples=200, deadline=None)
    @given(a=partials_st, b=partials_st, c=partials_st)
    def check(a, b, c):
        left, right = merge(merge(a, b), c), merge(a, merge(b, c))
        assert exact_except_order(left) == exact_except_order(right)
        for tag, segment in left.sessions.items():      # an overlap joins with 0 s: off by a capped gap at most
            assert abs(segment.dwell - right.sessions[tag].dwell) <= 2 * DWELL_CAP_SECONDS
    check()


def test_folding_a_list_equals_merging_the_folds_of_its_pieces(bounds):
    @settings(max_examples=300, deadline=None)
    @given(events=st.lists(events_st, max_size=30), cuts=cuts_st)
    def check(events, cuts):
        whole = FOLDER.fold(S1, events)
        assert whole == FOLDER.fold(S1, reversed(events))                   # a fold sorts its events
        ordered = sorted(events)
        assert whole == merge_all(FOLDER.fold(S1, piece) for piece in pieces(ordered, cuts))
    check()


def test_folding_sessions_equals_merging_the_folds_of_their_pieces(bounds):
    @settings(max_examples=300, deadline=None)
    @given(visits=visits_st, cuts=cuts_st)
    def check(visits, cuts):
        # one visitor's sessions one after another (the cart runs across them in time order)
        visits = sorted(((s, e._replace(timestamp=e.timestamp + 10_000 * SESSIONS.index(s))) for s, e in visits),
                        key=lambda v: v[1])
        assert fold_visits(visits) == merge_all(fold_visits(piece) for piece in pieces(visits, cuts))
    check()
