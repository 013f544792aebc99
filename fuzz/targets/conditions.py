"""Fuzz targets of GrowthBook targeting conditions (intentedge.conditions): conditions.evaluate and
conditions.regex_time, the second under a time budget (time_limit)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from hypothesis import strategies as st
from intentedge import conditions

from fuzz.targets.registry import target
from fuzz.targets.strategies import mostly, msgpack_values

class TooSlow(Exception):
    """An evaluation ran past its time budget: the fuzzer's verdict, not an error intentedge raises."""


class _Expired(BaseException):
    """Raised by the timer inside the code under test: not an Exception, so no `except Exception`
    there (the guarded matcher has one) can swallow it."""


@contextmanager
def time_limit(seconds: float, what: Callable[[], str]):
    """Interrupt the block after `seconds` with TooSlow (re's matching loop checks for signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise TooSlow(f"{what()} took more than {seconds} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_ATTRIBUTE_KEYS = ["a", "b", "x", "0", "1", "length", "request", "path", "tags"]
attribute_paths = st.lists(st.sampled_from(_ATTRIBUTE_KEYS), min_size=1, max_size=3).map(".".join)
# Attribute strings stay short, so a catastrophic $regex costs milliseconds here rather than
# hours: conditions.regex_time looks for those on purpose, with long adversarial input.
short_text = st.text(st.sampled_from("aAb1 .-+v\n") | st.characters(codec="utf-8"), max_size=12)
attribute_scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | short_text
                     | st.sampled_from(["", "0", "1", "null", "true", "1.2.3", "v2.0.0-rc.1", "Infinity", "0x1f",
                                        " 12 ", "[object Object]"]))
attribute_values = st.recursive(
    attribute_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_ATTRIBUTE_KEYS), inner, max_size=4),
    max_leaves=12,
)
attribute_maps = st.dictionaries(st.sampled_from(_ATTRIBUTE_KEYS), attribute_values, max_size=5)

_REGEX_ATOMS = ["a", "b", "1", ".", "\\w", "\\d", "\\s", "[ab]", "[^b]", "a|b", "a|a", "aa|a", "\\b"]
_QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{2,}", "*?", "+?"]
regex_bodies = st.recursive(
    st.sampled_from(_REGEX_ATOMS),
    lambda inner: st.one_of(
        st.builds("(?:{}){}".format, inner, st.sampled_from(_QUANTIFIERS)),
        st.builds("({}){}".format, inner, st.sampled_from(_QUANTIFIERS)),
        st.lists(inner, min_size=2, max_size=3).map("".join),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: "(" + "|".join(parts) + ")"),
    ),
    max_leaves=6,
)
regexes = st.builds("{}{}{}".format, st.sampled_from(["", "^"]), regex_bodies, st.sampled_from(["", "$"]))
# Broken syntax too: validate_condition reports each problem on one line.
_REGEX_SYNTAX = ["(", ")", "(?", "(?<", "(?P<", "(?P=", "[", "]", "{", "}", "\\", "*", "+", "?", "|", "^", "$",
                 "\n", "\u2028", "a", "{4294967296}", "(?i)", "\\p", "(?#"]
regex_soup = (st.lists(st.sampled_from(_REGEX_SYNTAX) | st.characters(codec="utf-8"), max_size=8).map("".join)
              | st.integers(0, 1500).map(lambda n: "(" * n + ")" * n))

SAVED_GROUPS = {"vip": ["a", 1, None, True, 2.5], "empty": [], "junk": "not a list", "nested": [[1], {"a": 1}]}
_TYPE_NAMES = ["string", "number", "boolean", "object", "array", "null", "int"]
operands = attribute_values


_VERSIONS = st.text(st.sampled_from("v0123456789.-+rcbeta\n"), max_size=12)


def _operator_entries(value_condition: st.SearchStrategy, condition: st.SearchStrategy) -> st.SearchStrategy:
    """(operator, operand) pairs of an operator object, each operand of the shape its operator expects."""
    return st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), attribute_scalars),
        st.tuples(st.sampled_from(["$lt", "$lte", "$gt", "$gte"]), attribute_scalars.filter(_is_comparable)),
        st.tuples(st.sampled_from(["$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"]), _VERSIONS),
        st.tuples(st.just("$exists"), st.booleans()),
        st.tuples(st.sampled_from(["$in", "$nin", "$ini", "$nini"]), st.lists(attribute_scalars, max_size=4)),
        st.tuples(st.sampled_from(["$all", "$alli"]), st.lists(value_condition, max_size=3)),
        st.tuples(st.sampled_from(["$inGroup", "$notInGroup"]), st.sampled_from([*SAVED_GROUPS, "missing"])),
        st.tuples(st.just("$not"), value_condition),
        st.tuples(st.just("$size"), st.integers(-1, 4) | value_condition),
        st.tuples(st.just("$elemMatch"), value_condition | condition),
        st.tuples(st.sampled_from(["$regex", "$regexi"]), regexes),
        st.tuples(st.just("$type"), st.sampled_from(_TYPE_NAMES)),
    )


def _is_comparable(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


# Operators with operands of the wrong shape, and operators that do not exist.
_malformed_entries = st.one_of(
    st.tuples(st.sampled_from(conditions.VALUE_OPERATORS), operands),
    st.tuples(st.sampled_from(["$regex", "$regexi"]), regex_soup),
    st.tuples(st.sampled_from(["$and", "$or", "$regx", "$", "$foo", "eq"]), operands),
)


def _condition_entries(value_condition: st.SearchStrategy, condition: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(attribute_paths, value_condition),
        st.tuples(attribute_paths, value_condition),
        st.tuples(st.sampled_from(["$and", "$or", "$nor"]), st.lists(condition, max_size=3)),
        st.tuples(st.just("$not"), condition),
    )


# Odd keys: operators where paths go, values where a list of conditions goes, keys msgpack allows.
_odd_condition_entries = st.one_of(
    st.tuples(st.sampled_from(conditions.VALUE_OPERATORS), operands),
    st.tuples(st.sampled_from(["$and", "$or", "$nor", "$not"]), operands),
    st.tuples(st.binary(max_size=2) | st.integers(-2**63, 2**64 - 1), operands),
)


value_conditions = st.deferred(lambda: operands | st.lists(
    mostly(_operator_entries(value_conditions, condition_objects), _malformed_entries, odds=16),
    min_size=1, max_size=3).map(dict))
condition_objects = st.deferred(lambda: st.lists(
    mostly(_condition_entries(value_conditions, condition_objects), _odd_condition_entries, odds=16),
    max_size=3).map(dict))
any_conditions = mostly(condition_objects, operands, odds=8)


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max(map(nesting, value), default=0)
    return 0


@target("conditions.evaluate", condition=any_conditions,
        saved_groups=st.none() | st.just(SAVED_GROUPS) | msgpack_values,
        attribute_sets=st.lists(attribute_maps, min_size=1, max_size=3))
def conditions_evaluate(condition: Any, saved_groups: Any, attribute_sets: list[dict]) -> None:
    """Compiling never raises; on JSON attributes a matcher, guarded or not, returns a bool and never raises."""
    guarded = conditions.compile_condition(condition, saved_groups)
    unguarded = conditions.compile_condition(condition, saved_groups, guarded=False)
    problems = conditions.validate_condition(condition, saved_groups)
    assert all(isinstance(p, str) and len(p.splitlines()) == 1 for p in problems), problems
    shallow = isinstance(condition, dict) and nesting(condition) < conditions.MAX_DEPTH
    negated = conditions.compile_condition({"$not": condition}, saved_groups) if shallow else None
    nor = conditions.compile_condition({"$nor": [condition]}, saved_groups) if shallow else None
    for attributes in attribute_sets:
        with time_limit(1.0, lambda: "a condition"):
            result = unguarded(attributes)
        assert result is True or result is False, f"the matcher returned {result!r}"
        assert guarded(attributes) is result
        if shallow:
            assert negated(attributes) is (not result) and nor(attributes) is (not result)


REGEX_BUDGET_SECONDS = 0.1
_RUNS_OF = ["a", "b", "1", "ab", "a1", " ", "aa", "\n"]
# A long run of one thing, then a character that makes the match fail at the end: up to the length
# $regex searches, and past it (conditions.py cuts longer values).
_LIMIT = conditions.REGEX_SUBJECT_LIMIT
adversarial_subjects = st.builds(
    lambda head, run, times, tail: head + run * times + tail,
    short_text, st.sampled_from(_RUNS_OF),
    st.sampled_from([0, 1, 16, 64, 256, 512, _LIMIT // 2 - 1, _LIMIT - 2, _LIMIT]) | st.integers(0, _LIMIT),
    st.sampled_from(["!", "/", "", "\n"]) | short_text,
)


@target("conditions.regex_time", pattern=regexes, subject=adversarial_subjects)
def conditions_regex_time(pattern: str, subject: str) -> None:
    """A $regex condition on a request path answers within 0.1 s, whatever the path.

    The path is the visitor's to choose and the pattern the marketer's: a pattern that
    backtracks catastrophically lets any visitor burn the Worker's CPU."""
    matches = conditions.compile_condition({"request.path": {"$regex": pattern}})
    with time_limit(REGEX_BUDGET_SECONDS, lambda: f"$regex {pattern!r} on a {len(subject)}-character path"):
        matches({"request": {"path": subject}})
