"""The isolate's metadata cache: fresh -> stale -> miss, negative entries, stale-if-error (and the
back-off after a failure), single-flight refreshes (abandoned ones too), LRU by count and by bytes,
oversized entries. Time is injected: every `now` is an offset from NOW."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge.caching.metadata import (
    DEFAULT_POLICY,
    NEGATIVE_ENTRY_SIZE,
    CachePolicy,
    Lookup,
    MetadataCache,
    State,
)

from tests.core.builders import DAY, NOW

POLICY = CachePolicy(fresh=60, swr=600, sie=3600, negative=30)
PROFILE = {"visits": 3}


def cache(**options) -> MetadataCache:
    return MetadataCache(policy=POLICY, **options)


def stored(key: str = "profile/a", value=PROFILE, *, at: float = NOW, size: int = 100, **options) -> MetadataCache:
    c = cache(**options)
    assert c.store(key, value, at, size=size)
    return c


# --- policy ---------------------------------------------------------------------------------------

def test_default_policy():
    assert DEFAULT_POLICY == CachePolicy(fresh=60, swr=600, sie=DAY, negative=60)


def test_policy_overrides_through_replace():
    assert dataclasses.replace(DEFAULT_POLICY, fresh=5).fresh == 5
    with pytest.raises(ValueError, match=r"CachePolicy.swr must be a finite number of seconds >= 0, found -1"):
        dataclasses.replace(DEFAULT_POLICY, swr=-1)


@pytest.mark.parametrize(
    "field, value",
    [
        pytest.param("fresh", -1, id="negative"),
        pytest.param("swr", float("nan"), id="nan"),  # NaN compares false with everything: refuse it
        pytest.param("sie", float("inf"), id="infinite"),
        pytest.param("negative", "30", id="string"),
        pytest.param("fresh", True, id="bool"),  # an int subclass, but never meant as seconds
        pytest.param("fresh", None, id="none"),
    ],
)
def test_policy_refuses_bad_seconds(field, value):
    with pytest.raises(ValueError, match=rf"CachePolicy\.{field} must be a finite number of seconds >= 0, "
                                          rf"found {value!r}"):
        CachePolicy(**{field: value})


def test_policy_accepts_zero_and_floats():
    assert CachePolicy(fresh=0, swr=0.5, sie=0, negative=0).swr == 0.5


@pytest.mark.parametrize(
    "options, message",
    [
        pytest.param({"max_entries": 0}, "max_entries must be an int >= 1, found 0", id="no-entries"),
        pytest.param({"max_bytes": 1.5}, "max_bytes must be an int >= 1, found 1.5", id="float-bytes"),
        pytest.param({"refresh_timeout": -1}, "refresh_timeout must be a finite number of seconds >= 0, found -1",
                     id="negative-timeout"),
        pytest.param({"retry_after": float("inf")}, "retry_after must be a finite number of seconds >= 0, found inf",
                     id="infinite-retry"),
        pytest.param({"policy": {"fresh": 1}}, "policy must be a CachePolicy, found dict", id="policy-dict"),
    ],
)
def test_cache_refuses_bad_options(options, message):
    with pytest.raises(ValueError) as caught:
        MetadataCache(**options)
    assert str(caught.value) == message


# --- fresh -> stale -> miss -----------------------------------------------------------------------

def test_empty_cache_misses():
    assert cache().lookup("profile/a", NOW) == Lookup(State.MISS, None, False)


@pytest.mark.parametrize(
    "offset, state",
    [
        pytest.param(0, State.FRESH, id="just-stored"),
        pytest.param(59.999, State.FRESH, id="end-of-fresh"),
        pytest.param(60, State.STALE, id="fresh-boundary-is-stale"),  # fresh while age < fresh
        pytest.param(659.999, State.STALE, id="end-of-swr"),
        pytest.param(660, State.MISS, id="swr-boundary-is-miss"),
        pytest.param(5000, State.MISS, id="long-gone"),
        pytest.param(-5, State.FRESH, id="clock-behind"),  # a clock that steps back keeps it fresh
    ],
)
def test_state_by_age(offset, state):
    hit = stored().lookup("profile/a", NOW + offset)
    assert hit.state is state
    assert hit.value == (None if state is State.MISS else PROFILE)
    assert hit.absent is False


def test_fresh_hit_allocates_nothing():
    c = stored()
    assert c.lookup("profile/a", NOW) is c.lookup("profile/a", NOW + 1)


def test_store_refreshes_a_stale_entry():
    c = stored()
    assert c.lookup("profile/a", NOW + 100).state is State.STALE
    c.store("profile/a", {"visits": 4}, NOW + 100, size=100)
    assert c.lookup("profile/a", NOW + 150) == Lookup(State.FRESH, {"visits": 4}, False)


def test_store_uses_the_given_policy_over_the_default():
    c = cache()
    c.store("config/current", "ptr", NOW, size=10, policy=CachePolicy(fresh=5, swr=0, sie=0, negative=0))
    assert c.lookup("config/current", NOW + 4).state is State.FRESH
    assert c.lookup("config/current", NOW + 5).state is State.MISS


def test_zero_windows_mean_always_miss():
    c = cache()
    c.store("k", 1, NOW, size=1, policy=CachePolicy(fresh=0, swr=0, sie=0, negative=0))
    assert c.lookup("k", NOW).state is State.MISS


def test_entry_past_every_window_is_dropped_on_lookup():
    c = stored()
    assert c.lookup("profile/a", NOW + 660).state is State.MISS
    assert "profile/a" in c  # still usable on error until fresh + sie
    assert c.lookup("profile/a", NOW + 60 + 3600).state is State.MISS
    assert "profile/a" not in c and c.bytes_used == 0


# --- negative entries -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "offset, state",
    [
        pytest.param(0, State.FRESH, id="just-stored"),
        pytest.param(29.9, State.FRESH, id="end-of-negative"),
        pytest.param(30, State.STALE, id="negative-expired-then-swr"),
        pytest.param(630, State.MISS, id="past-swr"),
    ],
)
def test_negative_entry_by_age(offset, state):
    c = cache()
    assert c.store_missing("profile/new", NOW)
    hit = c.lookup("profile/new", NOW + offset)
    assert hit.state is state
    if state is not State.MISS:
        assert hit == Lookup(state, None, True)


def test_negative_entry_is_replaced_by_a_value():
    c = cache()
    c.store_missing("profile/new", NOW)
    c.store("profile/new", PROFILE, NOW + 10, size=100)
    assert c.lookup("profile/new", NOW + 11) == Lookup(State.FRESH, PROFILE, False)


def test_value_is_replaced_by_a_negative_entry():
    c = stored()
    c.store_missing("profile/a", NOW + 10)
    assert c.lookup("profile/a", NOW + 11) == Lookup(State.FRESH, None, True)
    assert c.bytes_used == NEGATIVE_ENTRY_SIZE


def test_stored_none_is_not_absent():
    c = cache()
    c.store("k", None, NOW, size=0)
    assert c.lookup("k", NOW) == Lookup(State.FRESH, None, False)


# --- stale-if-error -------------------------------------------------------------------------------

def test_failed_without_entry_is_a_miss():
    assert cache().failed("profile/a", NOW).state is State.MISS


@pytest.mark.parametrize(
    "offset, state",
    [
        pytest.param(10, State.FRESH, id="still-fresh"),  # another request stored it meanwhile
        pytest.param(100, State.STALE, id="inside-swr"),
        pytest.param(1000, State.STALE, id="past-swr-inside-sie"),
        pytest.param(3659.9, State.STALE, id="end-of-sie"),  # sie counts from the end of freshness
        pytest.param(3660, State.MISS, id="sie-boundary"),
        pytest.param(DAY, State.MISS, id="long-past-sie"),
    ],
)
def test_failed_by_age(offset, state):
    c = stored()
    hit = c.failed("profile/a", NOW + offset)
    assert hit.state is state
    assert hit.value == (None if state is State.MISS else PROFILE)


def test_failed_outside_sie_drops_the_entry():
    c = stored()
    c.failed("profile/a", NOW + 3660)
    assert "profile/a" not in c and c.bytes_used == 0


def test_after_failure_the_entry_is_served_stale_until_sie_ends():
    c = stored()
    assert c.lookup("profile/a", NOW + 1000).state is State.MISS  # past swr: a blocking read...
    assert c.failed("profile/a", NOW + 1000).state is State.STALE  # ...failed
    # from now on requests are not blocked on a failing KV: serve stale, refresh in the background
    assert c.lookup("profile/a", NOW + 1001) == Lookup(State.STALE, PROFILE, False)
    assert c.lookup("profile/a", NOW + 3659).state is State.STALE
    assert c.lookup("profile/a", NOW + 3660).state is State.MISS


def test_sie_shorter_than_swr_still_covers_the_swr_window():
    # the value is served during swr anyway, so a failed refresh there cannot make it unusable
    c = cache()
    c.store("k", 1, NOW, size=1, policy=CachePolicy(fresh=60, swr=600, sie=10, negative=0))
    assert c.failed("k", NOW + 500).state is State.STALE
    assert c.failed("k", NOW + 660).state is State.MISS


def test_negative_entry_is_usable_on_error():
    c = cache()
    c.store_missing("profile/new", NOW)
    assert c.failed("profile/new", NOW + 1000) == Lookup(State.STALE, None, True)


def test_failure_backs_off_background_refreshes():
    c = stored(retry_after=10)
    assert c.begin_refresh("profile/a", NOW + 100)
    c.failed("profile/a", NOW + 100)
    c.end_refresh("profile/a")
    assert not c.begin_refresh("profile/a", NOW + 109.9)
    assert c.begin_refresh("profile/a", NOW + 110)


def test_successful_store_ends_the_back_off():
    c = stored(retry_after=10)
    c.failed("profile/a", NOW + 100)
    c.store("profile/a", PROFILE, NOW + 101, size=100)
    assert c.begin_refresh("profile/a", NOW + 102)


# --- single-flight --------------------------------------------------------------------------------

def test_one_refresh_per_key_at_a_time():
    c = stored()
    assert c.begin_refresh("profile/a", NOW + 100)
    assert not c.begin_refresh("profile/a", NOW + 101)
    assert c.begin_refresh("profile/b", NOW + 101)  # other keys are independent
    c.end_refresh("profile/a")
    assert c.begin_refresh("profile/a", NOW + 102)


def test_abandoned_refresh_times_out():
    c = stored(refresh_timeout=10)
    assert c.begin_refresh("profile/a", NOW)
    assert not c.begin_refresh("profile/a", NOW + 9.9)
    assert c.begin_refresh("profile/a", NOW + 10)  # the first one never called end_refresh
    assert not c.begin_refresh("profile/a", NOW + 11)  # the takeover is in flight itself


def test_refresh_of_an_unknown_key_and_double_end():
    c = cache()
    assert c.begin_refresh("profile/zzz", NOW)
    c.end_refresh("profile/zzz")
    c.end_refresh("profile/zzz")  # ending twice (or never begun) is harmless
    assert c.begin_refresh("profile/zzz", NOW)


def test_abandoned_markers_are_forgotten_when_many():
    c = cache(max_entries=3, refresh_timeout=10)
    for i in range(3):
        assert c.begin_refresh(f"k{i}", NOW)
    assert c.begin_refresh("k3", NOW + 20)  # the three abandoned markers are swept
    assert c._refreshing == {"k3": NOW + 20}


def test_discard_forgets_value_and_refresh():
    c = stored()
    c.begin_refresh("profile/a", NOW)
    c.discard("profile/a")
    assert c.lookup("profile/a", NOW).state is State.MISS and c.bytes_used == 0
    assert c.begin_refresh("profile/a", NOW)


# --- bounded memory -------------------------------------------------------------------------------

def test_lru_by_count():
    c = cache(max_entries=2)
    c.store("a", 1, NOW, size=1)
    c.store("b", 2, NOW, size=1)
    c.lookup("a", NOW + 1)  # a is now the most recently used
    c.store("c", 3, NOW + 2, size=1)
    assert "b" not in c and "a" in c and "c" in c


def test_stale_lookup_and_failed_also_count_as_use():
    c = cache(max_entries=2)
    c.store("a", 1, NOW, size=1)
    c.store("b", 2, NOW, size=1)
    c.lookup("a", NOW + 100)  # stale, still a use
    c.store("c", 3, NOW + 100, size=1)
    assert list(c._entries) == ["a", "c"]
    c.failed("a", NOW + 1000)
    c.store("d", 4, NOW + 1000, size=1)
    assert list(c._entries) == ["a", "d"]


def test_lru_by_bytes():
    c = cache(max_bytes=100)
    c.store("a", 1, NOW, size=40)
    c.store("b", 2, NOW, size=40)
    c.store("c", 3, NOW, size=40)
    assert "a" not in c and len(c) == 2 and c.bytes_used == 80
    c.store("d", 4, NOW, size=100)  # exactly the budget: fits, everything else goes
    assert list(c._entries) == ["d"] and c.bytes_used == 100


def test_oversized_entry_is_not_stored_and_drops_the_old_value():
    c = cache(max_bytes=100)
    c.store("a", 1, NOW, size=10)
    c.store("b", "old", NOW, size=10)
    assert not c.store("b", "new", NOW + 1, size=101)
    assert "b" not in c  # the old value is no longer the current one
    assert "a" in c and c.bytes_used == 10


def test_replacing_an_entry_recounts_its_bytes():
    c = cache(max_bytes=100)
    c.store("a", 1, NOW, size=60)
    c.store("a", 2, NOW, size=30)
    c.store("b", 3, NOW, size=70)
    assert c.bytes_used == 100 and len(c) == 2


@pytest.mark.parametrize("size", [-1, 1.5, True, None], ids=["negative", "float", "bool", "none"])
def test_store_refuses_bad_sizes(size):
    with pytest.raises(ValueError, match="size must be an int >= 0"):
        cache().store("k", 1, NOW, size=size)


KEYS = st.sampled_from([f"k{i}" for i in range(8)])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("store"), KEYS, st.integers(0, 150)),
        st.tuples(st.just("missing"), KEYS, st.just(0)),
        st.tuples(st.just("lookup"), KEYS, st.just(0)),
        st.tuples(st.just("failed"), KEYS, st.just(0)),
        st.tuples(st.just("wait"), KEYS, st.integers(0, 2000)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(OPERATIONS)
def test_bounds_hold_under_any_operations(operations):
    c = cache(max_entries=4, max_bytes=200)
    now = NOW
    for op, key, n in operations:
        if op == "store":
            assert c.store(key, n, now, size=n) is (n <= 200)
        elif op == "missing":
            c.store_missing(key, now)
        elif op == "lookup":
            c.lookup(key, now)
        elif op == "failed":
            c.failed(key, now)
        else:
            now += n
        assert len(c) <= 4
        assert c.bytes_used == sum(entry.size for entry in c._entries.values()) <= 200
