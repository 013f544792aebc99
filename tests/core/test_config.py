"""compile_bundle: validation reports every problem by item and reason; Bundle.choose picks per slot."""

from __future__ import annotations

import copy

import pytest

from intentedge import Bundle, Choice, ConfigError, ContentType, Fragment, Operation, Problem, Rule, Slot
from intentedge import compile_bundle


def valid_config() -> dict:
    return {
        "slots": {
            "hero": {"fallback": "hero-default"},
            "sidebar": {},  # no fallback: the origin's content stays unless a rule matches
        },
        "fragments": {
            "hero-default": {"html": "<h2>Welcome</h2>"},
            "camera-guide": {"html": "<a href='/guide'>Guide</a>", "op": "replace"},
            "pro-tip": {"text": "Tip: <b> is escaped", "op": "append"},
        },
        "rules": [
            {"id": "guide-on-pro", "slot": "hero", "fragment": "camera-guide", "path_prefix": "/products/pro/"},
            {"id": "tip-on-products", "slot": "sidebar", "fragment": "pro-tip", "path_prefix": "/products/"},
            {"id": "tip-on-pro", "slot": "hero", "fragment": "pro-tip", "path_prefix": "/products/"},
        ],
    }


def problems(data, *, strict: bool = True) -> list[tuple[str, str]]:
    """(item, reason) of every problem compile_bundle reports; fails if it compiles."""
    with pytest.raises(ConfigError) as caught:
        compile_bundle(data, source="test.toml", strict=strict)
    return [(p.item, p.reason) for p in caught.value.problems]


def with_(**changes) -> dict:
    config = valid_config()
    config.update(changes)
    return config


# -- a valid config ---------------------------------------------------------------------------


def test_valid_config_compiles_to_slots_fragments_and_rules():
    bundle = compile_bundle(valid_config(), source="test.toml")

    default = Fragment("hero-default", "<h2>Welcome</h2>", ContentType.HTML, Operation.INNER)
    guide = Fragment("camera-guide", "<a href='/guide'>Guide</a>", ContentType.HTML, Operation.REPLACE)
    tip = Fragment("pro-tip", "Tip: <b> is escaped", ContentType.TEXT, Operation.APPEND)
    assert bundle == Bundle({
        "hero": Slot("hero", default, (
            Rule("guide-on-pro", "hero", guide, "/products/pro/"),
            Rule("tip-on-pro", "hero", tip, "/products/"),
        )),
        "sidebar": Slot("sidebar", None, (Rule("tip-on-products", "sidebar", tip, "/products/"),)),
    })
    assert tip.is_html is False and guide.is_html is True


def test_compile_does_not_mutate_its_input():
    config = valid_config()
    before = copy.deepcopy(config)
    compile_bundle(config, source="test.toml")
    assert config == before


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="empty"),
        pytest.param({"slots": {}, "fragments": {}, "rules": []}, id="empty-sections"),
        pytest.param({"fragments": {"f": {"text": ""}}}, id="unused-fragment"),
        # rules are optional: a slot can be fallback-only
        pytest.param({"slots": {"s": {"fallback": "f"}}, "fragments": {"f": {"html": "x"}}}, id="fallback-only"),
    ],
)
def test_minimal_configs_compile(data):
    assert isinstance(compile_bundle(data, source="t"), Bundle)


@pytest.mark.parametrize("op", [op.value for op in Operation])
def test_every_operation_is_accepted(op):
    bundle = compile_bundle({"slots": {"s": {"fallback": "f"}}, "fragments": {"f": {"html": "x", "op": op}}},
                            source="t")
    assert bundle.slots["s"].fallback.operation is Operation(op)


@pytest.mark.parametrize(
    "name",
    ["a", "A", "0", "hero_2", "side-bar", "x" * 64],
    ids=["one-letter", "upper", "digit", "underscore", "dash", "64-chars"],
)
def test_safe_slot_names_are_accepted(name):
    assert name in compile_bundle({"slots": {name: {}}}, source="t").slots


@pytest.mark.parametrize(
    "fid",
    ["a", "9lives", "v1.2:promo_x-y", "a" * 128],
    ids=["one-letter", "leading-digit", "punctuation", "128-chars"],
)
def test_valid_fragment_and_rule_ids_are_accepted(fid):
    data = {
        "slots": {"s": {}},
        "fragments": {fid: {"html": "x"}},
        "rules": [{"id": fid, "slot": "s", "fragment": fid, "path_prefix": "/"}],
    }
    assert compile_bundle(data, source="t").slots["s"].rules[0].id == fid


# -- problems ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        pytest.param([], [("config", "must be a table, found an array")], id="config-array"),
        pytest.param("slots", [("config", "must be a table, found a string")], id="config-string"),
        pytest.param(None, [("config", "must be a table, found NoneType")], id="config-nil"),
        pytest.param(with_(slots=[]), [("slots", "must be a table, found an array")], id="slots-array"),
        pytest.param(with_(fragments="x"), [("fragments", "must be a table, found a string")],
                     id="fragments-string"),
        pytest.param({"rules": {}}, [("rules", "must be an array of tables, found a table")], id="rules-table"),
        pytest.param({"rules": 3}, [("rules", "must be an array of tables, found int")], id="rules-int"),
    ],
)
def test_sections_of_the_wrong_type(data, expected):
    found = problems(data)
    # Emptied sections make rules/fallbacks dangle; only the section problem is asserted here.
    assert [p for p in found if p[0] in ("config", "slots", "fragments", "rules")] == expected


@pytest.mark.parametrize(
    "name, reason",
    [
        pytest.param("", "name must be 1-64 letters", id="empty"),
        pytest.param("x" * 65, "name must be 1-64 letters", id="65-chars"),
        # every one of these would break out of data-personalized-region="<name>"
        pytest.param('a"]', "name must be 1-64 letters", id="double-quote"),
        pytest.param("a'b", "name must be 1-64 letters", id="single-quote"),
        pytest.param("a b", "name must be 1-64 letters", id="space"),
        pytest.param("a]b", "name must be 1-64 letters", id="bracket"),
        pytest.param("a\\b", "name must be 1-64 letters", id="backslash"),
        pytest.param("hero\n", "name must be 1-64 letters", id="trailing-newline"),
        pytest.param("héro", "name must be 1-64 letters", id="non-ascii"),
        pytest.param("a.b", "name must be 1-64 letters", id="dot"),
    ],
)
def test_unsafe_slot_names_are_rejected(name, reason):
    [(item, found)] = problems({"slots": {name: {}}})
    assert item == f"slot {name!r}"
    assert found.startswith(reason)


def test_unsafe_slot_name_problem_explains_why():
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"slots": {"a b": {}}}, source="t")
    assert caught.value.problems[0].hint == 'it is matched as data-personalized-region="<name>"'


@pytest.mark.parametrize(
    "fid",
    ["", "-lead", ".lead", "_lead", "a b", "a/b", "a" * 129, "promo\n"],
    ids=["empty", "leading-dash", "leading-dot", "leading-underscore", "space", "slash", "129-chars",
         "trailing-newline"],
)
def test_bad_fragment_ids_are_rejected(fid):
    assert problems({"fragments": {fid: {"html": "x"}}}) == [
        (f"fragment {fid!r}", "id must start with a letter or digit and use only letters, digits, _ . : -"),
    ]


@pytest.mark.parametrize(
    "spec, reason",
    [
        pytest.param({}, "needs exactly one of 'html' or 'text'", id="no-content"),
        pytest.param({"html": "a", "text": "b"}, "needs exactly one of 'html' or 'text'", id="both"),
        pytest.param({"html": 5}, "html must be a string, found int", id="html-int"),
        pytest.param({"text": ["a"]}, "text must be a string, found an array", id="text-array"),
        pytest.param({"html": None}, "html must be a string, found NoneType", id="html-nil"),
        pytest.param({"html": b"<b>"}, "html must be a string, found bytes", id="html-bytes"),
        pytest.param({"html": "x", "op": "inside"}, "unknown op 'inside'", id="unknown-op"),
        pytest.param({"html": "x", "op": "INNER"}, "unknown op 'INNER'", id="op-is-case-sensitive"),
        pytest.param({"html": "x", "op": 1}, "unknown op 1", id="op-int"),
        pytest.param("<b>hi</b>", "must be a table, found a string", id="spec-string"),
        pytest.param(["html"], "must be a table, found an array", id="spec-array"),
    ],
)
def test_bad_fragments_are_rejected(spec, reason):
    assert problems({"fragments": {"promo": spec}}) == [("fragment 'promo'", reason)]


def test_unknown_op_hint_lists_every_operation():
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"fragments": {"f": {"html": "x", "op": "x"}}}, source="t")
    assert caught.value.problems[0].hint == "use one of inner, append, prepend, before, after, replace"


@pytest.mark.parametrize("op", [["inner"], {"v": "inner"}], ids=["op-array", "op-table"])
def test_unhashable_op_is_a_config_error(op):
    assert problems({"fragments": {"promo": {"html": "x", "op": op}}}) == [
        ("fragment 'promo'", f"unknown op {op!r}"),
    ]


@pytest.mark.parametrize(
    "spec, reason",
    [
        pytest.param({"fallback": "nope"}, "fallback 'nope' is not a known fragment", id="unknown-fallback"),
        pytest.param({"fallback": ["hero-default"]}, "fallback ['hero-default'] is not a known fragment",
                     id="fallback-array"),
        pytest.param({"fallback": 3}, "fallback 3 is not a known fragment", id="fallback-int"),
        pytest.param({"fallback": ""}, "fallback '' is not a known fragment", id="fallback-empty"),
        pytest.param("hero-default", "must be a table, found a string", id="spec-string"),
        pytest.param(None, "must be a table, found NoneType", id="spec-nil"),
    ],
)
def test_bad_slots_are_rejected(spec, reason):
    config = valid_config()
    config["slots"]["hero"] = spec
    assert problems(config) == [("slot 'hero'", reason)]


def test_fallback_naming_a_rejected_fragment_is_also_reported():
    config = {"slots": {"s": {"fallback": "f"}}, "fragments": {"f": {"html": 1}}}
    assert problems(config) == [
        ("fragment 'f'", "html must be a string, found int"),
        ("slot 's'", "fallback 'f' is not a known fragment"),
    ]


def rule(**changes) -> dict:
    spec = {"id": "r1", "slot": "hero", "fragment": "camera-guide", "path_prefix": "/"}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not ...}


@pytest.mark.parametrize(
    "spec, expected",
    [
        pytest.param(rule(id=...), ("rules[3]", "needs an 'id'"), id="no-id"),
        pytest.param(rule(id=""), ("rule ''", "needs an 'id'"), id="empty-id"),
        pytest.param(rule(id="-x"), ("rule '-x'", "needs an 'id'"), id="bad-id"),
        # a non-string id is named by position, not by its repr
        pytest.param(rule(id=7), ("rules[3]", "needs an 'id'"), id="int-id"),
        pytest.param(rule(id=["r1"]), ("rules[3]", "needs an 'id'"), id="array-id"),
        pytest.param(rule(id="guide-on-pro"), ("rule 'guide-on-pro'", "id is used by an earlier rule"),
                     id="duplicate-id"),
        pytest.param(rule(slot="footer"), ("rule 'r1'", "slot 'footer' is not declared"), id="undeclared-slot"),
        pytest.param(rule(slot=...), ("rule 'r1'", "slot None is not declared"), id="no-slot"),
        pytest.param(rule(slot=["hero"]), ("rule 'r1'", "slot ['hero'] is not declared"), id="array-slot"),
        pytest.param(rule(slot={"hero": 1}), ("rule 'r1'", "slot {'hero': 1} is not declared"), id="table-slot"),
        pytest.param(rule(fragment="nope"), ("rule 'r1'", "fragment 'nope' is not a known fragment"),
                     id="unknown-fragment"),
        pytest.param(rule(fragment=...), ("rule 'r1'", "fragment None is not a known fragment"),
                     id="no-fragment"),
        pytest.param(rule(fragment=["camera-guide"]),
                     ("rule 'r1'", "fragment ['camera-guide'] is not a known fragment"), id="array-fragment"),
        pytest.param(rule(path_prefix=...), ("rule 'r1'", "path_prefix must be a path starting with '/', found None"),
                     id="no-prefix"),
        pytest.param(rule(path_prefix="products/"),
                     ("rule 'r1'", "path_prefix must be a path starting with '/', found 'products/'"),
                     id="relative-prefix"),
        pytest.param(rule(path_prefix=""), ("rule 'r1'", "path_prefix must be a path starting with '/', found ''"),
                     id="empty-prefix"),
        pytest.param(rule(path_prefix=["/"]),
                     ("rule 'r1'", "path_prefix must be a path starting with '/', found ['/']"), id="array-prefix"),
        pytest.param("r1", ("rules[3]", "must be a table, found a string"), id="rule-string"),
        pytest.param([], ("rules[3]", "must be a table, found an array"), id="rule-array"),
    ],
)
def test_bad_rules_are_rejected(spec, expected):
    config = valid_config()
    config["rules"].append(spec)  # after three valid rules: index 3
    [(item, reason)] = problems(config)
    assert item == expected[0]
    assert reason.startswith(expected[1])


def test_rule_with_unknown_fragment_and_bad_prefix_reports_both():
    config = valid_config()
    config["rules"] = [rule(fragment="nope", path_prefix="x")]
    assert problems(config) == [
        ("rule 'r1'", "fragment 'nope' is not a known fragment"),
        ("rule 'r1'", "path_prefix must be a path starting with '/', found 'x'"),
    ]


def test_rule_for_a_rejected_slot_still_fails_the_config():
    config = {"slots": {"a b": {}}, "fragments": {"f": {"html": "x"}},
              "rules": [{"id": "r", "slot": "a b", "fragment": "f", "path_prefix": "/"}]}
    assert problems(config) == [("slot 'a b'", "name must be 1-64 letters, digits, '_' or '-'")]


def test_every_problem_is_reported_not_just_the_first():
    config = {
        "slots": {"hero": {"fallback": "missing"}, "bad slot": {}},
        "fragments": {"f": {}, "g": {"html": "x", "op": "sideways"}},
        "rules": [
            {"id": "r1", "slot": "nowhere", "fragment": "f", "path_prefix": "/"},
            {"id": "r1", "slot": "hero", "fragment": "f", "path_prefix": "/"},
            "junk",
        ],
    }
    assert problems(config) == [
        ("fragment 'f'", "needs exactly one of 'html' or 'text'"),
        ("fragment 'g'", "unknown op 'sideways'"),
        ("rule 'r1'", "slot 'nowhere' is not declared"),
        ("rule 'r1'", "id is used by an earlier rule"),
        ("rules[2]", "must be a table, found a string"),
        ("slot 'hero'", "fallback 'missing' is not a known fragment"),
        ("slot 'bad slot'", "name must be 1-64 letters, digits, '_' or '-'"),
    ]


def test_config_error_message_names_source_and_first_three_problems():
    config = {"fragments": {f"f{i}": {} for i in range(5)}}
    with pytest.raises(ConfigError) as caught:
        compile_bundle(config, source="site.toml")
    error = caught.value
    assert error.source == "site.toml"
    assert len(error.problems) == 5
    assert str(error) == (
        "site.toml: "
        "fragment 'f0': needs exactly one of 'html' or 'text' (hint: 'html' is inserted as markup, 'text' is escaped); "
        "fragment 'f1': needs exactly one of 'html' or 'text' (hint: 'html' is inserted as markup, 'text' is escaped); "
        "fragment 'f2': needs exactly one of 'html' or 'text' (hint: 'html' is inserted as markup, 'text' is escaped)"
        " (and 2 more)"
    )


def test_problem_str_with_and_without_hint():
    assert str(Problem("rule 'x'", "bad")) == "rule 'x': bad"
    assert str(Problem("rule 'x'", "bad", "fix it")) == "rule 'x': bad (hint: fix it)"


# -- strict and lenient -----------------------------------------------------------------------


def with_unknown_keys() -> dict:
    config = valid_config()
    config["experiments"] = {}
    config["slots"]["hero"]["max_items"] = 3
    config["fragments"]["pro-tip"]["ttl"] = 60
    config["rules"][0]["priority"] = 10
    return config


def test_strict_mode_rejects_unknown_keys_at_every_level():
    assert problems(with_unknown_keys()) == [
        ("config", "unknown key 'experiments'"),
        ("fragment 'pro-tip'", "unknown key 'ttl'"),
        ("rule 'guide-on-pro'", "unknown key 'priority'"),
        ("slot 'hero'", "unknown key 'max_items'"),
    ]


def test_unknown_key_hint_lists_the_known_keys():
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"fragments": {"f": {"html": "x", "opp": "inner"}}}, source="t")
    [problem] = caught.value.problems
    assert problem.reason == "unknown key 'opp'"
    assert problem.hint == "known keys: html, op, text"


def test_lenient_mode_ignores_unknown_keys():
    assert compile_bundle(with_unknown_keys(), source="kv", strict=False) == compile_bundle(valid_config(),
                                                                                           source="t")


def test_lenient_mode_still_rejects_real_problems():
    config = with_unknown_keys()
    config["rules"][1]["path_prefix"] = "nope"
    assert problems(config, strict=False) == [
        ("rule 'tip-on-products'", "path_prefix must be a path starting with '/', found 'nope'"),
    ]


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
@pytest.mark.parametrize(
    "data, item",
    [
        pytest.param({"slots": {"s": {"fallback": {"f": 1}}}}, "slot 's'", id="fallback-table"),
        pytest.param({"slots": {"s": []}}, "slot 's'", id="slot-array"),
        pytest.param({"fragments": {"f": {"html": {"x": 1}}}}, "fragment 'f'", id="html-table"),
        pytest.param({"fragments": {"f": {"text": ["x"]}}}, "fragment 'f'", id="text-array"),
        pytest.param({"slots": {"s": {}}, "rules": [{"id": {"r": 1}, "slot": "s"}]}, "rules[0]", id="id-table"),
        pytest.param({"slots": {"s": {}}, "rules": [{"id": "r", "slot": ["s"], "fragment": "f"}]}, "rule 'r'",
                     id="rule-slot-array"),
        pytest.param({"slots": {"s": {}}, "rules": [{"id": "r", "slot": "s", "fragment": {"f": 1}}]}, "rule 'r'",
                     id="rule-fragment-table"),
        pytest.param({"rules": [None]}, "rules[0]", id="rule-nil"),
        # a TOML array of pairs instead of a table
        pytest.param({"slots": {"s": {}}, "rules": [[("id", "r")]]}, "rules[0]", id="rule-pairs"),
    ],
)
def test_wrong_types_are_config_errors_never_type_errors(data, item, strict):
    found = problems(data, strict=strict)
    assert found and {i for i, _ in found} == {item}


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
@pytest.mark.parametrize(
    "data",
    [
        # msgpack's strict_map_key lets bytes keys through decode, so these can arrive from KV
        pytest.param({"slots": {b"hero": {}}}, id="bytes-slot-name"),
        pytest.param({"fragments": {b"f": {"html": "x"}}}, id="bytes-fragment-id"),
        pytest.param({"slots": {1: {}}}, id="int-slot-name"),
        pytest.param({"fragments": {1: {"html": "x"}}}, id="int-fragment-id"),
    ],
)
def test_non_string_names_are_config_errors(data, strict):
    assert problems(data, strict=strict)


# -- Bundle.choose ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return compile_bundle(valid_config(), source="test.toml")


def chosen(bundle: Bundle, path: str) -> dict[str, tuple[str, str | None]]:
    return {c.slot: (c.fragment.id, c.rule_id) for c in bundle.choose(path)}


@pytest.mark.parametrize(
    "path, expected",
    [
        pytest.param("/", {"hero": ("hero-default", None)}, id="home-fallback-only"),
        pytest.param("/about", {"hero": ("hero-default", None)}, id="no-rule-matches"),
        pytest.param("/products/", {"hero": ("pro-tip", "tip-on-pro"), "sidebar": ("pro-tip", "tip-on-products")},
                     id="prefix-exact"),
        pytest.param("/products/lens", {"hero": ("pro-tip", "tip-on-pro"),
                                        "sidebar": ("pro-tip", "tip-on-products")}, id="under-prefix"),
        # both hero rules match; the first listed wins even though the second is also a match
        pytest.param("/products/pro/x1", {"hero": ("camera-guide", "guide-on-pro"),
                                          "sidebar": ("pro-tip", "tip-on-products")}, id="first-match-wins"),
        # a plain string prefix: no segment semantics, no trailing-slash normalisation
        pytest.param("/products", {"hero": ("hero-default", None)}, id="prefix-without-slash"),
        pytest.param("/Products/", {"hero": ("hero-default", None)}, id="case-sensitive"),
        pytest.param("", {"hero": ("hero-default", None)}, id="empty-path"),
    ],
)
def test_choose(bundle, path, expected):
    assert chosen(bundle, path) == expected


def test_choose_returns_choices_in_slot_order_with_fragments():
    config = valid_config()
    choices = compile_bundle(config, source="t").choose("/products/pro/")
    assert [c.slot for c in choices] == ["hero", "sidebar"]
    assert choices[0] == Choice(
        "hero",
        Fragment("camera-guide", "<a href='/guide'>Guide</a>", ContentType.HTML, Operation.REPLACE),
        "guide-on-pro",
    )


def test_rule_order_decides_not_prefix_length():
    config = valid_config()
    config["rules"] = [
        {"id": "broad", "slot": "hero", "fragment": "pro-tip", "path_prefix": "/"},
        {"id": "narrow", "slot": "hero", "fragment": "camera-guide", "path_prefix": "/products/pro/"},
    ]
    assert chosen(compile_bundle(config, source="t"), "/products/pro/x") == {"hero": ("pro-tip", "broad")}


def test_slot_without_fallback_or_matching_rule_yields_no_choice():
    bundle = compile_bundle({"slots": {"s": {}}, "fragments": {"f": {"html": "x"}},
                             "rules": [{"id": "r", "slot": "s", "fragment": "f", "path_prefix": "/deals"}]},
                            source="t")
    assert bundle.choose("/home") == []
    assert bundle.choose("/deals/today") == [Choice("s", Fragment("f", "x", ContentType.HTML), "r")]


def test_empty_bundle_chooses_nothing():
    assert Bundle().choose("/") == []


def test_rule_matches_is_a_prefix_test():
    r = Rule("r", "s", Fragment("f", "x", ContentType.TEXT), "/a/")
    assert [r.matches(p) for p in ("/a/", "/a/b", "/a", "/b/a/")] == [True, True, False, False]
