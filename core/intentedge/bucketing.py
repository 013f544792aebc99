"""GrowthBook's deterministic bucketing: a visitor's hash, bucket ranges, the variation.

    n = hash_value(seed, visitor_id, 2)           # a float in [0, 1), or None
    ranges = get_bucket_ranges(2, 0.5, [0.5, 0.5])  # [(0, 0.25), (0.5, 0.75)]
    choose_variation(n, ranges)                   # 0, 1, or -1: not in the experiment

Every function is pure, so a visitor lands in the same bucket in the CLI (CPython) and
at the edge (Pyodide), and in GrowthBook's own SDKs: they pass its conformance cases.

Hash versions are a contract. Version 1 is GrowthBook's original (biased) hash, version
2 its current one. Never change what an existing version computes, not even to fix it:
that would silently move visitors between buckets, holdouts and experiments. A new
scheme is a new version number, and data written with the old one keeps its old number.
"""

from __future__ import annotations

from typing import Sequence

__all__ = [
    "BucketRange",
    "choose_variation",
    "get_bucket_ranges",
    "get_equal_weights",
    "hash_value",
    "in_namespace",
    "in_range",
]

BucketRange = tuple[float, float]  # [start, end): start inclusive, end exclusive

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def hash_value(seed: str, value: str, version: int) -> float | None:
    """The position of `value` in [0, 1) for `seed`, or None for an unknown `version`.

    Version 1: fnv1a32(value + seed) % 1000 / 1000 (three digits; biased, kept for old data).
    Version 2: fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000 (four digits).
    """
    if isinstance(version, bool):
        return None
    if version == 2:
        return _fnv1a32(str(_fnv1a32(seed + value))) % 10000 / 10000
    if version == 1:
        return _fnv1a32(value + seed) % 1000 / 1000
    return None


def get_equal_weights(num_variations: int) -> list[float]:
    """`num_variations` equal weights summing to 1 (none for fewer than one variation)."""
    if num_variations < 1:
        return []
    return [1 / num_variations] * num_variations


def get_bucket_ranges(
    num_variations: int, coverage: float | None = 1, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """One [start, end) range per variation: weight-sized slots of [0, 1), each filled to `coverage`.

    As GrowthBook does, invalid input is repaired rather than refused: coverage is clamped
    to [0, 1] (None is 1, NaN is 0), and weights that are missing, of the wrong length or
    not summing to 1 (within 0.01) become equal weights. Refusing bad weights is the job
    of the config validator, before they get here.
    """
    if coverage is None:
        coverage = 1
    if not coverage >= 0:  # negative or NaN
        coverage = 0
    elif coverage > 1:
        coverage = 1
    if weights is None or len(weights) != num_variations:
        weights = get_equal_weights(num_variations)
    total = 0.0
    for weight in weights:  # left to right, as JavaScript's reduce: sum() rounds differently since 3.12
        total += weight
    if total < 0.99 or total > 1.01:
        weights = get_equal_weights(num_variations)
    ranges = []
    cumulative = 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def in_range(n: float, bucket_range: Sequence[float]) -> bool:
    """`n` is in [start, end)."""
    return bucket_range[0] <= n < bucket_range[1]


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """The index of the first range holding `n`, or -1 (outside the coverage)."""
    for index, bucket_range in enumerate(ranges):
        if bucket_range[0] <= n < bucket_range[1]:
            return index
    return -1


def in_namespace(value: str, namespace: tuple[str, float, float]) -> bool:
    """GrowthBook namespaces: `value` (a visitor id) hashes into [start, end) of namespace `id`."""
    namespace_id, start, end = namespace
    n = hash_value("__" + namespace_id, value, 1)
    return n is not None and start <= n < end


def _fnv1a32(text: str) -> int:
    """32-bit FNV-1a over UTF-16 code units, as JavaScript's charCodeAt sees the string."""
    h = _FNV_OFFSET
    for unit in _utf16_units(text):
        h = ((h ^ unit) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def _utf16_units(text: str) -> bytes | list[int]:
    if text.isascii():
        return text.encode("ascii")  # iterates as ints, one per character
    data = text.encode("utf-16-le", "surrogatepass")  # a character above U+FFFF is two units
    return [data[i] | data[i + 1] << 8 for i in range(0, len(data), 2)]
