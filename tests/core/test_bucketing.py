"""GrowthBook bucketing: the reference's conformance cases, and what a visitor's bucket must never depend on."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge.bucketing import (
    choose_variation,
    get_bucket_ranges,
    get_equal_weights,
    hash_value,
    in_namespace,
    in_range,
)

from .conformance import conformance


def flat(ranges) -> list[float]:
    return [bound for bucket_range in ranges for bound in bucket_range]


# -- the reference's cases ----------------------------------------------------------------------


@pytest.mark.parametrize("case", conformance("hash", named=False))
def test_hash_conformance(case):
    seed, value, version, expected = case
    assert hash_value(seed, value, version) == expected


@pytest.mark.parametrize("case", conformance("getBucketRange"))
def test_get_bucket_ranges_conformance(case):
    (num_variations, coverage, weights), expected = case
    ranges = get_bucket_ranges(num_variations, coverage, weights)
    assert len(ranges) == len(expected)
    assert flat(ranges) == pytest.approx(flat(expected))  # 0.2 + 0.2 * 0.3 is not exactly 0.26


@pytest.mark.parametrize("case", conformance("chooseVariation"))
def test_choose_variation_conformance(case):
    n, ranges, expected = case
    assert choose_variation(n, ranges) == expected


@pytest.mark.parametrize("case", conformance("getEqualWeights", named=False))
def test_get_equal_weights_conformance(case):
    num_variations, expected = case
    assert get_equal_weights(num_variations) == pytest.approx(expected)


@pytest.mark.parametrize("case", conformance("inNamespace"))
def test_in_namespace_conformance(case):
    visitor_id, namespace, expected = case
    assert in_namespace(visitor_id, tuple(namespace)) is expected


# -- beyond the cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "value", "version", "expected"),
    [
        # values from GrowthBook's JavaScript SDK, which hashes UTF-16 code units (charCodeAt):
        ("seed", "\U0001F600", 2, 0.4346),  # one character, two code units
        ("seed", "\U0001F600", 1, 0.429),
        ("\u00fcn\u00ef", "c\u00f6d\u00e9", 2, 0.8584),
        ("", "\u65e5\u672c", 1, 0.396),
        ("exp", "visitor-42", 2, 0.6159),
    ],
)
def test_hash_agrees_with_javascript_beyond_ascii(seed, value, version, expected):
    assert hash_value(seed, value, version) == expected


@pytest.mark.parametrize("version", [0, 3, -1, True, None, "2"])
def test_an_unknown_hash_version_has_no_hash(version):
    # True == 1 in Python, but JavaScript's `version === 1` is false for it
    assert hash_value("seed", "visitor", version) is None


@settings(max_examples=200, deadline=None)
@given(seed=st.text(max_size=12), value=st.text(max_size=24))
def test_hashes_fall_in_the_unit_interval_on_a_fixed_grid(seed, value):
    v1 = hash_value(seed, value, 1)
    v2 = hash_value(seed, value, 2)
    assert 0 <= v1 < 1 and round(v1 * 1000) / 1000 == v1
    assert 0 <= v2 < 1 and round(v2 * 10000) / 10000 == v2
    assert hash_value(seed, value, 2) == v2  # nothing but the arguments counts


@pytest.mark.parametrize(
    ("n", "bucket_range", "expected"),
    [(0.0, (0.0, 0.5), True), (0.5, (0.0, 0.5), False), (0.25, (0.25, 0.25), False), (0.99, (0.5, 1.0), True)],
)
def test_in_range_includes_the_start_and_excludes_the_end(n, bucket_range, expected):
    assert in_range(n, bucket_range) is expected


def test_bucket_ranges_repair_bad_input_like_the_reference():
    assert get_bucket_ranges(2) == [(0.0, 0.5), (0.5, 1.0)]  # coverage defaults to 1
    assert get_bucket_ranges(2, None) == [(0.0, 0.5), (0.5, 1.0)]
    assert get_bucket_ranges(2, float("nan")) == [(0.0, 0.0), (0.5, 0.5)]  # NaN covers nothing
    assert get_bucket_ranges(0, 1, []) == []
    assert get_bucket_ranges(2, 1, (0.25, 0.75)) == [(0.0, 0.25), (0.25, 1.0)]  # any sequence of weights


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.floats(0, 1), min_size=1, max_size=5),
    coverage=st.floats(-1, 2),
    n=st.floats(0, 1, exclude_max=True),
)
def test_ranges_never_overlap_and_choose_variation_agrees_with_in_range(weights, coverage, n):
    ranges = get_bucket_ranges(len(weights), coverage, weights)
    assert len(ranges) == len(weights)
    assert all(start <= end for start, end in ranges)
    assert all(a[1] <= b[0] + 1e-12 for a, b in zip(ranges, ranges[1:]))
    chosen = choose_variation(n, ranges)
    assert chosen == next((i for i, r in enumerate(ranges) if in_range(n, r)), -1)
