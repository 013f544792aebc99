"""GrowthBook conditions: the reference's conformance cases, compile once, validation messages, never raising."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge import conditions
from intentedge.conditions import (
    LOGICAL_OPERATORS,
    MAX_DEPTH,
    VALUE_OPERATORS,
    compile_condition,
    eval_condition,
    validate_condition,
)

from .conformance import conformance


# -- the reference's cases ----------------------------------------------------------------------


@pytest.mark.parametrize("case", conformance("evalCondition"))
def test_eval_condition_conformance(case):
    condition, attributes, expected, *saved_groups = case
    assert eval_condition(attributes, condition, *saved_groups) is expected


# The only conformance conditions that are malformed on purpose (saved groups not passed).
MALFORMED_CASES = {
    "$in - not array", "$nin - not array", "$ini - not array", "$nini - not array",
    "unknown operator - pass", "$regex invalid - pass", "$regex invalid - fail",
}


@pytest.mark.parametrize("case", conformance("evalCondition"))
def test_validate_condition_accepts_every_well_formed_conformance_condition(case, request):
    name = request.node.callspec.id
    assert bool(validate_condition(case[0])) is (name in MALFORMED_CASES)


# -- beyond the cases: the reference's JavaScript semantics, kept on purpose ----------------------

SEMANTICS = [
    # missing attributes read as null; in a number context null is 0
    ({"n": 0}, {}, True),
    ({"n": {"$lt": 1}}, {}, True),
    ({"x": "null"}, {}, True),  # the literal string is compared with String(null)
    ({"x": None}, {"x": None}, True),
    ({"x": {"$exists": False}}, {"x": None}, True),
    # literals coerce the attribute like JavaScript: String(value), value * 1, truthiness
    ({"plan": "3"}, {"plan": 3}, True),
    ({"plan": 3}, {"plan": "3"}, True),
    ({"x": "1e+21"}, {"x": 1e21}, True),  # JavaScript's number formatting
    ({"x": "1"}, {"x": 1.0}, True),
    ({"flag": True}, {"flag": "yes"}, True),
    ({"flag": True}, {"flag": []}, True),  # an empty array is truthy in JavaScript
    ({"flag": False}, {"flag": 0}, True),
    ({"flag": False}, {}, False),  # never null
    # operators are strict: no coercion, true is not 1
    ({"n": {"$eq": 1}}, {"n": True}, False),
    ({"n": {"$eq": 1}}, {"n": 1.0}, True),
    ({"n": {"$eq": "1"}}, {"n": 1}, False),
    ({"n": {"$in": [1]}}, {"n": True}, False),
    ({"n": {"$in": [True]}}, {"n": 1}, False),
    ({"n": {"$in": [None]}}, {}, True),
    ({"n": {"$nin": []}}, {"n": 1}, True),
    # relational: two strings compare as strings, anything else as numbers
    ({"price": {"$lt": 10}}, {"price": "9.5"}, True),
    ({"price": {"$lt": "10"}}, {"price": "9.5"}, False),  # "9.5" > "10" as strings
    ({"n": {"$gt": "abc"}}, {"n": 5}, False),  # "abc" is NaN
    ({"n": {"$gte": 1}}, {"n": True}, True),
    ({"s": {"$gt": "a"}}, {"s": ["b"]}, True),  # an array converts to the string "b"
    # regexes test String(value)
    ({"x": {"$regex": "^1$"}}, {"x": 1.0}, True),
    ({"x": {"$regex": "^a,b$"}}, {"x": ["a", "b"]}, True),
    ({"x": {"$regexi": "^ABC$"}}, {"x": "abc"}, True),
    # paths follow getPath: object keys, array indices and `length`
    ({"tags.length": 2}, {"tags": ["a", "b"]}, True),
    ({"tags.1": "b"}, {"tags": ["a", "b"]}, True),
    ({"tags.01": "b"}, {"tags": ["a", "b"]}, False),  # not a canonical index
    ({"a.b.c": 1}, {"a": {"b": {"c": 1}}}, True),
    ({"a.b.c": 1}, {"a": "abc"}, False),
    # literal arrays and objects compare as JSON; {} is a literal, not an empty operator object
    ({"x": {}}, {"x": {}}, True),
    ({"x": {}}, {"x": {"a": 1}}, False),
    ({"x": [1, 2]}, {"x": (1, 2)}, True),  # tuples are arrays, in attributes and in conditions
    ({"x": {"$in": ("a", "b")}, "$or": ({"y": 1},)}, {"x": "b", "y": 1}, True),
    ({"x": [1]}, {"x": [True]}, False),
    ({"x": {"a": 1, "b": 2}}, {"x": {"b": 2, "a": 1}}, True),  # JavaScript would see key order
    # quirks of the reference
    ({"xs": {"$elemMatch": {"$eq": 0}}}, {"xs": [0]}, False),  # falsy elements are skipped
    ({"$nor": []}, {}, False),  # $nor is "not $or", and an empty $or is true
    ({"$or": []}, {}, True),
    ({"$not": {"x": {"$regx": 1}}}, {}, True),  # the unknown operator is false, then negated
    ({"v": {"$vgt": 1.5}}, {"v": "1.10"}, True),  # versions, not decimals
    ({"v": {"$vlt": "1.0.0"}}, {"v": "1.0.0-rc.1"}, True),
    ({"x": {"$type": "number"}}, {"x": True}, False),
    ({"x": {"$size": {"$gte": 1}}}, {"x": "abc"}, False),  # strings have no $size
]


@pytest.mark.parametrize(("condition", "attributes", "expected"), SEMANTICS, ids=lambda v: json.dumps(v))
def test_semantics_follow_the_reference(condition, attributes, expected):
    assert compile_condition(condition)(attributes) is expected


# -- compile once ---------------------------------------------------------------------------------


def test_the_matcher_never_reads_the_condition_again():
    condition = {"a.b": {"$gt": 1, "$in": [2, 3]}, "$or": [{"c": {"$regex": "^x"}}, {"d": True}]}
    matcher = compile_condition(condition)
    condition.clear()  # compiled: nothing left to walk
    assert matcher({"a": {"b": 2}, "c": "xyz"}) is True
    assert matcher({"a": {"b": 1}, "c": "xyz"}) is False


def test_a_regex_is_compiled_once(monkeypatch):
    calls = []
    original = re.compile
    monkeypatch.setattr(conditions.re, "compile", lambda *args: calls.append(args) or original(*args))
    matcher = compile_condition({"ua": {"$regex": "Mobile"}})
    results = [matcher({"ua": f"Mobile {i}"}) for i in range(100)]
    assert results == [True] * 100
    assert len(calls) == 1


def test_an_invalid_regex_compiles_to_false_and_is_reported():
    condition = {"name": {"$regex": "/???***[)"}}
    matcher = compile_condition(condition)
    assert [matcher(a) for a in ({"name": "hello"}, {"name": "/???***[)"}, {})] == [False, False, False]
    assert validate_condition(condition) == [
        'name.$regex: invalid regular expression "/???***[)": multiple repeat at position 3'
    ]


def test_saved_groups_are_bound_when_compiling():
    groups = {"beta": ["u1"]}
    matcher = compile_condition({"id": {"$inGroup": "beta"}}, groups)
    groups["beta"].append("u2")
    assert matcher({"id": "u1"}) is True
    assert matcher({"id": "u2"}) is False  # compile again when the groups change


def test_a_condition_that_is_not_an_object_never_matches():
    for condition in (None, [], "x", 1):
        assert compile_condition(condition)({}) is False


# -- never raising --------------------------------------------------------------------------------


class Hostile:
    """An attribute value no JSON document could hold: every conversion raises."""

    def __str__(self):
        raise ValueError("no")

    __repr__ = __str__

    def __eq__(self, other):
        raise ValueError("no")

    __hash__ = None


def test_values_no_json_document_holds_give_false_not_errors():
    cyclic: list = []
    cyclic.append(cyclic)
    assert compile_condition({"x": {"$regex": "a"}})({"x": cyclic}) is False  # String(x) recurses forever
    assert compile_condition({"x": {"$regex": "a"}})({"x": Hostile()}) is False
    assert compile_condition({"x": "a"})({"x": Hostile()}) is False
    assert compile_condition({"x": {"$in": ["a"]}})({"x": Hostile()}) is False


def test_deep_nesting_is_reported_and_compiles_without_recursing():
    condition: dict = {"x": 1}
    for _ in range(1000):
        condition = {"$not": condition}
    assert compile_condition(condition)({"x": 1}) in (True, False)
    assert validate_condition(condition) == [
        "$not" + ".$not" * MAX_DEPTH + f": nested more than {MAX_DEPTH} levels deep"
    ]


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=6)
    | st.sampled_from(["1.2.3", "v2.0.0-rc.1", "0x1f", " 12 ", "^a", "(", "string", "array"])
)
KEYS = st.sampled_from(VALUE_OPERATORS + LOGICAL_OPERATORS + ("$foo", "a", "a.b", "b.0", "b.length", "")) | st.text(max_size=4)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=12
)
CONDITIONS = st.dictionaries(KEYS, JSON_VALUES, max_size=4) | JSON_VALUES
ATTRIBUTES = st.dictionaries(st.sampled_from(["a", "b", ""]) | st.text(max_size=3), JSON_VALUES, max_size=4)
GROUPS = st.none() | st.dictionaries(st.sampled_from(["g", "a", "1"]), JSON_VALUES, max_size=2)


@settings(max_examples=300, deadline=None)
@given(condition=CONDITIONS, attributes=ATTRIBUTES, saved_groups=GROUPS)
def test_compiling_and_evaluating_never_raise(condition, attributes, saved_groups):
    matcher = compile_condition(condition, saved_groups)
    result = matcher(attributes)
    assert result is True or result is False
    assert eval_condition(attributes, condition, saved_groups) is result


@settings(max_examples=300, deadline=None)
@given(condition=CONDITIONS, saved_groups=GROUPS)
def test_validation_never_raises_and_says_one_line_per_problem(condition, saved_groups):
    problems = validate_condition(condition, saved_groups)
    assert all(isinstance(p, str) and p and len(p.splitlines()) == 1 for p in problems)


# -- validation messages ----------------------------------------------------------------------

MESSAGES = [
    ({"name": {"$foo": 1}}, ['name: unknown operator "$foo"']),
    ({"name": {"$regx": "a"}}, ['name: unknown operator "$regx"; did you mean "$regex"?']),
    ({"name": {"$regex": "(a"}},
     ['name.$regex: invalid regular expression "(a": missing ), unterminated subpattern at position 0']),
    ({"name": {"$regex": "(?<id>x)"}},  # JavaScript's named groups are not Python's
     ['name.$regex: invalid regular expression "(?<id>x)": unknown extension ?<i at position 1']),
    ({"name": {"$regex": "a\n("}},  # the pattern is quoted as JSON, so the message stays one line
     ['name.$regex: invalid regular expression "a\\n(": missing ), unterminated subpattern at position 2 (line 2, column 1)']),
    ({"name": {"$regex": "(?<\n)"}},  # and so is re's message when it quotes a line break (found by fuzz/)
     ['name.$regex: invalid regular expression "(?<\\n)": "unknown extension ?<\\n at position 1 (line 1, column 2)"']),
    ({"name": {"$regexi": 5}}, ["name.$regexi: expects a regular expression string, got number 5"]),
    ({"num": {"$in": 1}}, ["num.$in: expects an array of strings, numbers, booleans or nulls, got number 1"]),
    ({"num": {"$nin": [[1]]}}, ["num.$nin: expects an array of strings, numbers, booleans or nulls, got array"]),
    ({"tags": {"$all": "a"}}, ['tags.$all: expects an array, got string "a"']),
    ({"$and": {"a": 1}}, ["$and: expects an array of conditions, got object"]),
    ({"$or": [{"a": 1}, "b"]}, ['$or[1]: expects a condition object, got string "b"']),
    ({"$nor": None}, ["$nor: expects an array of conditions, got null"]),
    ({"$not": "x"}, ['$not: expects a condition object, got string "x"']),
    ({"tags": {"$elemMatch": [1]}}, ["tags.$elemMatch: expects a condition object, got array"]),
    ({"a": {"$exists": "yes"}}, ['a.$exists: expects true or false, got string "yes"']),
    ({"a": {"$type": "int"}},
     ['a.$type: expects one of "string", "number", "boolean", "object", "array", "null", got string "int"']),
    ({"a": {"$eq": [1]}},
     ["a.$eq: expects a string, number, boolean or null (to compare an array or object, write it without $eq), got array"]),
    ({"a": {"$gt": {"b": 1}}}, ["a.$gt: expects a number or a string, got object"]),
    ({"a": {"$vgt": True}}, ["a.$vgt: expects a version string, got boolean true"]),
    ({"a": {"$size": "2"}}, ['a.$size: expects a number or an operator object, got string "2"']),
    ({"a": {"$inGroup": 7}}, ["a.$inGroup: expects a saved group id, got number 7"]),
    ({"a": {"$or": [{"b": 1}]}}, ["a.$or: $or combines conditions and is not valid inside an operator object"]),
    ({"$in": [1]}, ['$in: "$in" is read as an attribute name here; operators go inside {"<attribute>": {"$in": ...}}']),
    ({"a": {"$gt": 1, "b": 2}}, ['a: mixes operators ("$gt") with plain keys ("b"), so it is compared as a literal object']),
    ([{"a": 1}], ["(top level): expects a condition object, got array"]),
    ({"a\nb": {"$foo": 1}}, ['"a\\nb": unknown operator "$foo"']),  # a location that is not printable is quoted
    # the location runs through combinators, paths and operators
    ({"$and": [{"$or": [{"geo.country": {"$not": {"$in": "US"}}}]}]},
     ['$and[0].$or[0].geo.country.$not.$in: expects an array of strings, numbers, booleans or nulls, got string "US"']),
    ({"tags": {"$all": [{"$regex": "("}]}},
     ['tags.$all[0].$regex: invalid regular expression "(": missing ), unterminated subpattern at position 0']),
    # every problem, not just the first
    ({"a": {"$foo": 1, "$in": 2}, "$or": 3},
     ['a: unknown operator "$foo"', "a.$in: expects an array of strings, numbers, booleans or nulls, got number 2",
      "$or: expects an array of conditions, got number 3"]),
]


@pytest.mark.parametrize(("condition", "expected"), MESSAGES, ids=lambda v: json.dumps(v))
def test_validate_condition_messages(condition, expected):
    assert validate_condition(condition) == expected


def test_saved_group_ids_are_checked_when_the_groups_are_given():
    condition = {"id": {"$inGroup": "vips"}, "$or": [{"id": {"$notInGroup": "beta"}}]}
    assert validate_condition(condition) == []
    assert validate_condition(condition, {"beta": []}) == ['id.$inGroup: unknown saved group "vips"']


def test_well_formed_conditions_have_no_problems():
    condition = {
        "request.utm.source": {"$in": ["google", "bing"]},
        "session.pages": {"$gte": 3, "$lt": 50},
        "$or": [{"cart.value": {"$gt": 150}}, {"profile.segments": {"$elemMatch": {"$eq": "loyal"}}}],
        "$nor": [{"request.device": "bot"}],
        "$not": {"request.path": {"$regex": "^/checkout"}},
        "app.version": {"$vgte": "2.1.0"},
        "$groups": {"$all": ["a"]},  # a "$" key at the top is an attribute name, as in the reference
    }
    assert validate_condition(condition) == []


@pytest.mark.parametrize("pattern", ["(a+)+$", "(\\w+\\s?)+$", "(?:a|ab)*c", "(?:a{1,3})+", "^(([a-z])+.)+[A-Z]([a-z])+$",
                                     "(?:\\s\\s?)*$"])   # an optional part counts too (found by fuzz/)
def test_a_regex_that_can_backtrack_catastrophically_is_refused(pattern):
    problems = validate_condition({"request.path": {"$regex": pattern}})
    assert len(problems) == 1 and "can backtrack catastrophically" in problems[0]
    assert compile_condition({"request.path": {"$regex": pattern}})({"request": {"path": "a" * 40 + "!"}}) is False


@pytest.mark.parametrize("pattern", ["^/products/", "[a-z]+/[0-9]*$", "(?:ab)+", "(a|b)*x", "(?:a{2})*$", "^/(en|de)/"])
def test_linear_regexes_are_accepted(pattern):
    assert validate_condition({"request.path": {"$regex": pattern}}) == []


def test_regex_searches_the_first_256_characters_only():
    matches = compile_condition({"request.path": {"$regex": "needle"}})
    assert matches({"request": {"path": "x" * 250 + "needle"}})
    assert not matches({"request": {"path": "x" * 256 + "needle"}})


@pytest.mark.parametrize("pattern", ["\\w*\\w*\\w*$", "[a-z]*[a-z0-9]*[a-z]*x", ".*a.*b.*c", "^/([a-z]+)/([a-z]+)/([0-9]+)$"])
def test_more_than_two_repeats_of_variable_length_are_refused(pattern):
    """Each multiplies the worst case by the input's length (the last is safe, but the check is simple)."""
    assert "can backtrack catastrophically" in validate_condition({"request.path": {"$regex": pattern}})[0]
