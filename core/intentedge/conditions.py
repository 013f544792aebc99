"""GrowthBook targeting conditions, compiled once into plain closures.

A condition is a JSON object in GrowthBook's MongoDB-like language. Keys are dot paths
into the attribute dict, or the logical operators `$and`, `$or`, `$nor` and `$not`;
values are literals (equality) or operator objects (`$gt`, `$in`, `$regex`, `$vgt`,
`$elemMatch`, ..., see `VALUE_OPERATORS`):

    {"session.pages": {"$gte": 3},
     "$or": [{"request.utm.source": "google"}, {"cart.value": {"$gt": 150}}]}

    compile_condition(condition, saved_groups)   once, when the bundle loads: a matcher,
                                                 matcher(attributes) -> bool, per request
    eval_condition(attributes, condition)        compile and call, for tests and one-offs
    validate_condition(condition, saved_groups)  one-line problems, at authoring time

Compiling walks the condition once: paths are split, regexes compiled, `$in` lists
turned into sets, constant parts folded. Evaluating walks only the attributes.
Saved groups (`$inGroup`, `$notInGroup`) are bound at compile time: compile again when
they change.

Semantics are those of GrowthBook's reference SDK (JavaScript, `mongrule.ts`), checked
against its conformance cases, JavaScript coercions of scalar values included:

- A missing attribute reads as null, and in `$lt`/`$gt`/... null counts as 0: a visitor
  without `age` matches `{"age": {"$lt": 10}}`.
- A literal string matches the attribute as a JavaScript string (`{"plan": "3"}` matches
  3, `{"x": "null"}` a missing `x`); a literal number matches it as a number (`{"n": 0}`
  matches a missing `n`, "0" and false); true/false match its truthiness, never null.
- `$lt`/`$gt`/... compare two strings as strings and anything else as numbers ("8" > 5).
- `$eq`, `$ne`, `$in`, `$nin`, groups: strict, no coercion (true is not 1). With an array
  attribute, `$in`/`$nin` test the intersection.
- `$elemMatch` skips falsy elements (0, "", false, null), so `{"$eq": 0}` never matches.
- `{"$nor": []}` is false (the reference negates `$or`, and an empty `$or` is true).
- `$veq`/`$vgt`/... compare GrowthBook's padded version strings: a leading "v" and any
  "+build" are dropped, "-" and "." both separate parts, numeric parts are padded, and
  "1.2.3" sorts after its pre-releases ("1.2.3-rc.1").

Deliberate differences from the reference:

- `$regex`/`$regexi` use Python's `re` syntax (the common subset agrees with JavaScript).
- An operand of the wrong shape (what `validate_condition` reports: `$in` without an
  array, `$gt` with an object, `$exists` with a string, ...) makes its operator false;
  the reference sometimes coerces such operands.
- Strings order by code point, not UTF-16 code unit (differs only for characters above
  U+FFFF against U+E000-U+FFFF); literal objects compare regardless of key order.

Evaluation never raises: unknown operators and malformed operands are false, and values
that do not convert (to a number: NaN) compare false. Negation applies to that false, as
in GrowthBook (`{"$not": {"x": {"$regx": 1}}}` is true): the CLI validates conditions.
"""

from __future__ import annotations

import operator
import re
from re import _parser as _regex_parser   # re's own parser: the structure of a compiled pattern
from typing import Any, Callable, Mapping

__all__ = [
    "LOGICAL_OPERATORS",
    "MAX_DEPTH",
    "Matcher",
    "VALUE_OPERATORS",
    "compile_condition",
    "eval_condition",
    "validate_condition",
]

Matcher = Callable[[Any], bool]  # matcher(attributes) -> bool
# $regex searches this many characters of a value at most (a visitor chooses the length of a path),
# in a pattern with at most this many repeats of variable length: together they bound the worst case
# (two overlapping repeats, unanchored, on 256 characters: ~20 ms on CPython).
REGEX_SUBJECT_LIMIT = 256
MAX_VARIABLE_REPEATS = 2

LOGICAL_OPERATORS = ("$and", "$or", "$nor", "$not")
VALUE_OPERATORS = (
    "$eq", "$ne", "$lt", "$lte", "$gt", "$gte",
    "$exists", "$type",
    "$in", "$nin", "$ini", "$nini", "$all", "$alli", "$size", "$elemMatch",
    "$inGroup", "$notInGroup",
    "$regex", "$regexi",
    "$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte",
    "$not",
)
MAX_DEPTH = 32  # nesting of conditions and operator objects; deeper is malformed

_ARRAY = (list, tuple)
_NAN = float("nan")
_INF = float("inf")
_RELATIONAL = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
_VERSION = {
    "$veq": operator.eq, "$vne": operator.ne,
    "$vlt": operator.lt, "$vlte": operator.le, "$vgt": operator.gt, "$vgte": operator.ge,
}
_MEMBERSHIP = {"$in": (False, False), "$nin": (False, True), "$ini": (True, False), "$nini": (True, True)}
_TYPE_NAMES = ("string", "number", "boolean", "object", "array", "null")
# JavaScript's String.prototype.trim set, used when a string converts to a number.
_JS_SPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\Z")
_NON_DECIMAL = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)\Z")
_LINE_BREAKS = "\n\r\u2028\u2029"


# -- public API -------------------------------------------------------------------------------


def compile_condition(condition: Any, saved_groups: Mapping[str, Any] | None = None, *,
                      guarded: bool = True) -> Matcher:
    """Compile `condition` once into `matcher(attributes) -> bool`.

    Never raises, neither here nor when the matcher runs: an unknown operator or a
    malformed operand compiles to false (a condition that is not an object: always false),
    and attribute values no JSON document could hold (cycles, foreign objects) give false.
    `guarded=False` leaves out the guard for that last case, for a caller that catches
    exceptions around many matchers at once (the rules loop): one call less per rule.
    """
    matcher = _Compiler(saved_groups).condition(condition, "", 0)
    if matcher is _never or matcher is _always or not guarded:
        return matcher

    def matches(attributes: Any) -> bool:
        try:
            return matcher(attributes)
        except Exception:  # RecursionError on cyclic values, foreign objects' comparisons
            return False

    return matches


def eval_condition(
    attributes: Any, condition: Any, saved_groups: Mapping[str, Any] | None = None
) -> bool:
    """Evaluate `condition` against `attributes`, compiling it on the way (use compile_condition for repeats)."""
    return compile_condition(condition, saved_groups)(attributes)


def validate_condition(condition: Any, saved_groups: Mapping[str, Any] | None = None) -> list[str]:
    """Every problem in `condition`, one line each, prefixed with its location.

    The location is the path through the condition: attribute paths and operators joined
    by ".", list positions in brackets (`$or[1].geo.country.$in`). With `saved_groups`,
    group ids are checked too. An empty list means the condition is well-formed.
    """
    problems: list[str] = []
    _Compiler(saved_groups, problems).condition(condition, "", 0)
    return problems


# -- compiling --------------------------------------------------------------------------------


def _always(_value: Any) -> bool:
    return True


def _never(_value: Any) -> bool:
    return False


class _Compiler:
    """One pass over a condition: builds the closures and, when asked, collects problems."""

    def __init__(self, saved_groups: Mapping[str, Any] | None, problems: list[str] | None = None):
        self.check_groups = saved_groups is not None
        self.saved_groups = saved_groups if isinstance(saved_groups, Mapping) else {}
        self.problems = problems

    def report(self, where: str, message: str) -> None:
        if self.problems is not None:
            location = (where if where.isprintable() else _to_json(where)) if where else "(top level)"
            self.problems.append(f"{location}: {message}")

    def condition(self, condition: Any, where: str, depth: int) -> Matcher:
        """A condition object: every entry must hold."""
        if depth > MAX_DEPTH:
            self.report(where, f"nested more than {MAX_DEPTH} levels deep")
            return _never
        if not isinstance(condition, dict):
            self.report(where, f"expects a condition object, got {_describe(condition)}")
            return _never
        matchers = []
        for key, operand in condition.items():
            at = f"{where}.{key}" if where else str(key)
            if not isinstance(key, str):
                self.report(where, f"key {_describe(key)} is not a string")
                matchers.append(_never)
            elif key in ("$and", "$or", "$nor"):
                matchers.append(self.combination(key, operand, at, depth))
            elif key == "$not":
                if isinstance(operand, dict):
                    matchers.append(_negate(self.condition(operand, at, depth + 1)))
                else:
                    self.report(at, f"expects a condition object, got {_describe(operand)}")
                    matchers.append(_never)
            else:
                if key in VALUE_OPERATORS:
                    self.report(at, f'"{key}" is read as an attribute name here; '
                                f'operators go inside {{"<attribute>": {{"{key}": ...}}}}')
                matchers.append(_at_path(key, self.value(operand, at, depth + 1)))
        return _all_of(matchers)

    def combination(self, key: str, operand: Any, where: str, depth: int) -> Matcher:
        if not isinstance(operand, _ARRAY):
            self.report(where, f"expects an array of conditions, got {_describe(operand)}")
            return _never
        parts = [self.condition(c, f"{where}[{i}]", depth + 1) for i, c in enumerate(operand)]
        if key == "$and":
            return _all_of(parts)
        either = _any_of(parts) if parts else _always  # an empty $or is true, so $nor [] is false
        return either if key == "$or" else _negate(either)

    def value(self, condition: Any, where: str, depth: int, fold: bool = False) -> Matcher:
        """A condition on one value: a literal (equality) or an operator object (all must hold)."""
        if depth > MAX_DEPTH:
            self.report(where, f"nested more than {MAX_DEPTH} levels deep")
            return _never
        if isinstance(condition, str):
            return _string_equals(condition, fold)
        if isinstance(condition, bool):
            return _truthiness_is(condition)
        if isinstance(condition, (int, float)):
            return _number_equals(condition)
        if condition is None:
            return _is_none
        if isinstance(condition, dict) and _is_operator_object(condition):
            return _all_of([self.operator(op, operand, where, depth) for op, operand in condition.items()])
        if isinstance(condition, dict):
            operators = [k for k in condition if isinstance(k, str) and k[:1] == "$"]
            if operators:
                others = [k for k in condition if k not in operators]
                self.report(where, f"mixes operators ({_quoted(operators)}) with plain keys "
                            f"({_quoted(others)}), so it is compared as a literal object")
            return _json_equals(condition)
        if isinstance(condition, _ARRAY):
            return _json_equals(condition)
        self.report(where, f"expects a JSON value, got {_describe(condition)}")
        return _never

    def operator(self, op: str, operand: Any, parent: str, depth: int) -> Matcher:
        """One operator of an operator object, applied to the value at the path."""
        where = f"{parent}.{op}"
        if op in ("$eq", "$ne"):
            if not _is_scalar(operand):
                return self.malformed(where, operand, "a string, number, boolean or null (to compare "
                                      f"an array or object, write it without {op})")
            equals = _strictly_equals(operand)
            return equals if op == "$eq" else _negate(equals)
        if op in _RELATIONAL:
            if not _is_number(operand) and not isinstance(operand, str):
                return self.malformed(where, operand, "a number or a string")
            return _relational(_RELATIONAL[op], operand)
        if op in _VERSION:
            if not _is_number(operand) and not isinstance(operand, str):
                return self.malformed(where, operand, "a version string")
            return _version_compare(_VERSION[op], operand)
        if op == "$exists":
            if not isinstance(operand, bool):
                return self.malformed(where, operand, "true or false")
            return _is_not_none if operand else _is_none
        if op in _MEMBERSHIP:
            fold, negated = _MEMBERSHIP[op]
            if not isinstance(operand, _ARRAY) or not all(_is_scalar(item) for item in operand):
                return self.malformed(where, operand, "an array of strings, numbers, booleans or nulls")
            test = _intersects(operand, fold)
            return _negate(test) if negated else test
        if op in ("$inGroup", "$notInGroup"):
            if not isinstance(operand, str):
                return self.malformed(where, operand, "a saved group id")
            if self.check_groups and operand not in self.saved_groups:
                self.report(where, f"unknown saved group {_quoted([operand])}")
            members = self.saved_groups.get(operand)
            test = _intersects([m for m in members if _is_scalar(m)] if isinstance(members, _ARRAY) else [])
            return test if op == "$inGroup" else _negate(test)
        if op == "$not":
            return _negate(self.value(operand, where, depth + 1))
        if op == "$size":
            if not _is_number(operand) and not (isinstance(operand, dict) and _is_operator_object(operand)):
                return self.malformed(where, operand, "a number or an operator object")
            return _size_matches(self.value(operand, where, depth + 1))
        if op == "$elemMatch":
            if not isinstance(operand, dict):
                return self.malformed(where, operand, "a condition object")
            if _is_operator_object(operand):
                return _elem_matches(self.value(operand, where, depth + 1))
            return _elem_matches(self.condition(operand, where, depth + 1))
        if op in ("$all", "$alli"):
            if not isinstance(operand, _ARRAY):
                return self.malformed(where, operand, "an array")
            fold = op == "$alli"
            return _contains_all([self.value(item, f"{where}[{i}]", depth + 1, fold)
                                  for i, item in enumerate(operand)])
        if op in ("$regex", "$regexi"):
            if not isinstance(operand, str):
                return self.malformed(where, operand, "a regular expression string")
            try:
                pattern = re.compile(operand, re.IGNORECASE if op == "$regexi" else 0)
            except (re.error, OverflowError, RecursionError) as error:  # a{9999999999}, 2000 nested groups
                detail = str(error) if str(error).isprintable() else _to_json(str(error))  # "(?<\n": one line
                self.report(where, f"invalid regular expression {_quoted([operand])}: {detail}")
                return _never
            if _backtracks(pattern):
                self.report(where, f"regular expression {_quoted([operand])} can backtrack catastrophically "
                                   "(a quantifier or '|' inside a repeated group, or more than two repeats of "
                                   "variable length): a crafted URL could stall the Worker")
                return _never
            return _searches(pattern)
        if op == "$type":
            if not isinstance(operand, str) or operand not in _TYPE_NAMES:
                return self.malformed(where, operand, f"one of {_quoted(_TYPE_NAMES)}")
            return _type_is(operand)
        if op in LOGICAL_OPERATORS:
            self.report(where, f"{op} combines conditions and is not valid inside an operator object")
            return _never
        self.report(parent, f"unknown operator {_quoted([op])}{_suggestion(op)}")
        return _never

    def malformed(self, where: str, operand: Any, expected: str) -> Matcher:
        self.report(where, f"expects {expected}, got {_describe(operand)}")
        return _never


def _is_operator_object(value: dict) -> bool:
    return bool(value) and all(isinstance(k, str) and k[:1] == "$" for k in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))  # bool is an int


# -- combinators --------------------------------------------------------------------------------


def _all_of(matchers: list[Matcher]) -> Matcher:
    matchers = [m for m in matchers if m is not _always]
    if any(m is _never for m in matchers):
        return _never
    if not matchers:
        return _always
    if len(matchers) == 1:
        return matchers[0]
    if len(matchers) == 2:
        first, second = matchers
        return lambda value: first(value) and second(value)
    every = tuple(matchers)

    def all_of(value: Any) -> bool:
        for matcher in every:
            if not matcher(value):
                return False
        return True

    return all_of


def _any_of(matchers: list[Matcher]) -> Matcher:
    matchers = [m for m in matchers if m is not _never]
    if any(m is _always for m in matchers):
        return _always
    if not matchers:
        return _never
    if len(matchers) == 1:
        return matchers[0]
    alternatives = tuple(matchers)

    def any_of(value: Any) -> bool:
        for matcher in alternatives:
            if matcher(value):
                return True
        return False

    return any_of


def _negate(matcher: Matcher) -> Matcher:
    if matcher is _never:
        return _always
    if matcher is _always:
        return _never
    return lambda value: not matcher(value)


def _at_path(path: str, matcher: Matcher) -> Matcher:
    """Apply `matcher` to the value at a dot path (None when the path leads nowhere)."""
    parts = tuple(path.split("."))
    if len(parts) == 1:

        def at_key(attributes: Any) -> bool:
            if isinstance(attributes, dict):
                return matcher(attributes.get(path))
            return matcher(_get_path(attributes, parts))

        return at_key
    if len(parts) == 2:
        outer, inner = parts

        def at_pair(attributes: Any) -> bool:
            if isinstance(attributes, dict):
                parent = attributes.get(outer)
                if isinstance(parent, dict):
                    return matcher(parent.get(inner))
            return matcher(_get_path(attributes, parts))

        return at_pair
    return lambda attributes: matcher(_get_path(attributes, parts))


def _get_path(value: Any, parts: tuple[str, ...]) -> Any:
    """The reference's getPath: object keys, and array indices and `length` (it is JavaScript)."""
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, _ARRAY):
            if part == "length":
                value = len(value)
            elif part.isdigit() and part.isascii() and (part == "0" or part[0] != "0") and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        else:
            return None
    return value


# -- leaf matchers ------------------------------------------------------------------------------


def _is_none(value: Any) -> bool:
    return value is None


def _is_not_none(value: Any) -> bool:
    return value is not None


def _string_equals(expected: str, fold: bool) -> Matcher:
    """Literal string: the value as a JavaScript string (String(value)) equals it."""
    if fold:
        lowered = expected.lower()
        return lambda value: _to_string(value).lower() == lowered
    return lambda value: value == expected if isinstance(value, str) else _to_string(value) == expected


def _number_equals(expected: float) -> Matcher:
    """Literal number: the value as a JavaScript number (value * 1) equals it."""
    return lambda value: value == expected if isinstance(value, (int, float)) else _to_number(value) == expected


def _truthiness_is(expected: bool) -> Matcher:
    """Literal true/false: the value is not null and its JavaScript truthiness is `expected`."""
    return lambda value: value is not None and _truthy(value) is expected


def _json_equals(expected: Any) -> Matcher:
    """Literal array or object: equal as JSON documents."""
    return lambda value: _json_equal(value, expected)


def _strictly_equals(expected: Any) -> Matcher:
    """JavaScript ===, for a scalar `expected`."""
    if expected is None:
        return _is_none
    if isinstance(expected, bool):
        return (lambda value: value is True) if expected else (lambda value: value is False)
    if isinstance(expected, str):
        return lambda value: isinstance(value, str) and value == expected
    return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool) and value == expected


def _relational(compare: Callable[[Any, Any], bool], expected: Any) -> Matcher:
    """JavaScript's <, <=, >, >=: two strings compare as strings, anything else as numbers."""
    if isinstance(expected, str):
        expected_number = _string_to_number(expected)

        def compare_to_string(value: Any) -> bool:
            if isinstance(value, str):
                return compare(value, expected)
            if isinstance(value, (list, tuple, dict)):  # arrays and objects convert to strings first
                return compare(_to_string(value), expected)
            return compare(_to_number(value), expected_number)

        return compare_to_string

    def compare_to_number(value: Any) -> bool:
        if isinstance(value, (int, float)):  # true and false count as 1 and 0
            return compare(value, expected)
        return compare(_to_number(value), expected)

    return compare_to_number


def _version_compare(compare: Callable[[str, str], bool], expected: Any) -> Matcher:
    padded = _padded_version(expected)
    return lambda value: compare(_padded_version(value), padded)


def _intersects(items: list[Any], fold: bool = False) -> Matcher:
    """The value is one of `items` (scalars; JavaScript's includes); an array value: any of its elements."""
    if not fold and all(isinstance(item, str) for item in items):
        strings = frozenset(items)

        def in_strings(value: Any) -> bool:
            if isinstance(value, str):
                return value in strings
            if isinstance(value, _ARRAY):
                return any(isinstance(element, str) and element in strings for element in value)
            return False

        return in_strings

    strings = frozenset(item.lower() if fold else item for item in items if isinstance(item, str))
    numbers = frozenset(item for item in items if _is_number(item) and item == item)
    has_nan = any(_is_number(item) and item != item for item in items)
    others = frozenset(item for item in items if item is None or isinstance(item, bool))

    def member(value: Any) -> bool:
        if isinstance(value, str):
            return (value.lower() if fold else value) in strings
        if value is None or isinstance(value, bool):
            return value in others
        if isinstance(value, (int, float)):
            return value in numbers or (has_nan and value != value)
        return False

    def is_in(value: Any) -> bool:
        if isinstance(value, _ARRAY):
            return any(member(element) for element in value)
        return member(value)

    return is_in


def _size_matches(matcher: Matcher) -> Matcher:
    return lambda value: isinstance(value, _ARRAY) and matcher(len(value))


def _elem_matches(matcher: Matcher) -> Matcher:
    def elem_matches(value: Any) -> bool:
        if not isinstance(value, _ARRAY):
            return False
        for element in value:
            if _truthy(element) and matcher(element):  # the reference skips falsy elements
                return True
        return False

    return elem_matches


def _contains_all(matchers: list[Matcher]) -> Matcher:
    def contains_all(value: Any) -> bool:
        if not isinstance(value, _ARRAY):
            return False
        return all(any(matcher(element) for element in value) for matcher in matchers)

    return contains_all


def _searches(pattern: re.Pattern[str]) -> Matcher:
    search = pattern.search
    return lambda value: search((value if isinstance(value, str) else _to_string(value))[:REGEX_SUBJECT_LIMIT]) is not None


def _backtracks(pattern: re.Pattern[str]) -> bool:
    """Whether the pattern can take far more than linear time on a crafted input. Python's re
    backtracks: a repeated part that can match the same text in more than one way (a quantifier,
    or an alternation, inside a repeated group: `(a+)+$`) is exponential, and each repeat of
    variable length multiplies the work by the input's length (`\\w*\\w*\\w*$` is cubic, and
    searching adds one more factor): more than two are refused."""
    parsed = _regex_parser.parse(pattern.pattern, pattern.flags)
    return _nested_repeat(parsed, inside=False) or _variable_repeats(parsed) > MAX_VARIABLE_REPEATS


def _variable_repeats(items) -> int:
    count = 0
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            count += (arg[0] != arg[1]) + _variable_repeats(arg[2])
        elif name == "BRANCH":
            count += max((_variable_repeats(branch) for branch in arg[1]), default=0)
        elif name in ("SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"):
            count += _variable_repeats(arg[-1])
    return count


def _nested_repeat(items, inside: bool) -> bool:
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            repeats = high > 1
            # inside a repeat, a count that can vary (a+, a{1,3}, a?) splits the same text many ways
            if (inside and low != high) or _nested_repeat(sub, inside or repeats):
                return True
        elif name == "BRANCH":
            if inside or any(_nested_repeat(branch, inside) for branch in arg[1]):
                return True
        elif name in ("SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"):
            if _nested_repeat(arg[-1], inside):
                return True
    return False


def _type_is(expected: str) -> Matcher:
    return lambda value: _type_of(value) == expected


# -- JavaScript values ------------------------------------------------------------------------


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _ARRAY):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _truthy(value: Any) -> bool:
    """JavaScript truthiness: arrays and objects are truthy, even empty; NaN is not."""
    if value is None:
        return False
    if isinstance(value, (str, bool)):
        return bool(value)
    if isinstance(value, (int, float)):
        return value == value and value != 0
    return True


def _to_string(value: Any) -> str:
    """JavaScript's String(value)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number_to_string(value)
    if isinstance(value, _ARRAY):
        return ",".join("" if element is None else _to_string(element) for element in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _to_number(value: Any) -> float:
    """JavaScript's Number(value); NaN for what does not convert (compares false with anything)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return 0
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, _ARRAY):
        return _string_to_number(_to_string(value))
    return _NAN


def _string_to_number(text: str) -> float:
    """JavaScript's Number(text): trimmed, "" is 0, decimal, Infinity or 0x/0o/0b, else NaN."""
    text = text.strip(_JS_SPACE)
    if not text:
        return 0
    if _DECIMAL.match(text):
        return float(text)
    if _NON_DECIMAL.match(text):
        try:
            return float(int(text, 0))
        except OverflowError:
            return _INF
    return _NAN


def _number_to_string(number: float) -> str:
    """JavaScript's Number.prototype.toString(): "1" for 1.0, "1e+21", "1e-7", "NaN", "Infinity"."""
    if isinstance(number, int):
        if -(2**53) <= number <= 2**53:
            return str(number)
        try:
            number = float(number)
        except OverflowError:
            return "Infinity" if number > 0 else "-Infinity"
    if number != number:
        return "NaN"
    if number == 0:
        return "0"
    if number < 0:
        return "-" + _number_to_string(-number)
    if number == _INF:
        return "Infinity"
    # repr gives the shortest round-tripping digits, as JavaScript does; only the layout differs.
    mantissa, _, exponent = repr(number).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # number = 0.<digits> * 10**point
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    digits = significant.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return f"{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    power = point - 1
    sign = "+" if power >= 0 else "-"
    head = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{sign}{abs(power)}"


def _json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON documents (the reference compares JSON.stringify outputs): strict types, deep."""
    if isinstance(a, float) and (a != a or a in (_INF, -_INF)):
        a = None  # JSON.stringify writes NaN and Infinity as null
    if isinstance(b, float) and (b != b or b in (_INF, -_INF)):
        b = None
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    if isinstance(a, _ARRAY):
        return isinstance(b, _ARRAY) and len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (isinstance(b, dict) and len(a) == len(b)
                and all(key in b and _json_equal(item, b[key]) for key, item in a.items()))
    return False


def _padded_version(value: Any) -> str:
    """GrowthBook's paddedVersionString: "v1.2.3-rc.1+b7" -> "    1-    2-    3-rc-    1"."""
    if not isinstance(value, str):
        value = _number_to_string(value) if _is_number(value) else "0"
    elif not value:
        value = "0"
    if value[0] == "v":
        value = value[1:]
    build = value.find("+")
    if build >= 0:
        # JavaScript's /\+.*$/: "." stops at line breaks, so the "+" must follow the last one.
        last_break = max(value.rfind(c) for c in _LINE_BREAKS)
        if last_break > build:
            build = value.find("+", last_break + 1)
        if build >= 0:
            value = value[:build]
    parts = value.replace("-", ".").split(".")
    if len(parts) == 3:
        parts.append("~")  # "~" sorts after letters and digits: 1.0.0 > 1.0.0-beta
    return "-".join([p.rjust(5) if p.isdigit() and p.isascii() else p for p in parts])


# -- messages -----------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    kind = _type_of(value)
    if kind == "unknown":
        return f"a Python {type(value).__name__}"
    if kind in ("null", "array", "object"):
        return kind
    text = _to_json(value)
    return f"{kind} {text[:37] + '...' if len(text) > 40 else text}"


def _quoted(values: Any) -> str:
    texts = (_to_json(v) for v in values)
    return ", ".join(t if len(t) <= 60 else t[:57] + "..." for t in texts)


def _to_json(value: Any) -> str:
    import json

    return json.dumps(value, default=repr)  # ASCII, so never a line break


def _suggestion(op: str) -> str:
    import difflib

    close = difflib.get_close_matches(op, VALUE_OPERATORS + LOGICAL_OPERATORS, n=1, cutoff=0.6)
    return f"; did you mean {_quoted(close)}?" if close else ""
