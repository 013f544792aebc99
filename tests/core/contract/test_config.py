"""compile_bundle: validation reports every problem by item and reason, strict rejects, lenient skips;
to_payload turns schedules into epoch seconds. Choosing per slot is decide()'s job: test_decision.py."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from intentedge import Bundle, ConfigError, ContentType, Fragment, Operation, Problem, Rule, Slot
from intentedge import compile_bundle, to_payload
from intentedge.consent import NOBODY, ConsentPolicy
from intentedge.decision import decide
from intentedge.profile import Profile
from intentedge.scoring import DEFAULT_WEIGHTS, ScoringModel, score
from intentedge.events.batch import Limits
from intentedge.signals import Signals

from tests.core.builders import DAY, NOW, context, valid_config


def problems(data, *, strict: bool = True) -> list[tuple[str, str]]:
    """(item, reason) of every problem compile_bundle reports.

    Strict: fails unless compile_bundle raises. Lenient: the problems the compiled bundle lists.
    """
    if not strict:
        return [(p.item, p.reason) for p in compile_bundle(data, source="kv", strict=False).problems]
    with pytest.raises(ConfigError) as caught:
        compile_bundle(data, source="test.toml", strict=strict)
    return [(p.item, p.reason) for p in caught.value.problems]


def with_(**changes) -> dict:
    config = valid_config()
    config.update(changes)
    return config


def always(_attributes) -> bool:
    return True  # Rule equality ignores the compiled condition


def chosen(bundle: Bundle, path: str) -> dict[str, tuple[str, str | None]]:
    decision = decide(bundle, context(path), None, None, now=NOW)
    return {c.slot: (c.fragment.id, c.rule_id) for c in decision.choices}


# -- a valid config ---------------------------------------------------------------------------


def test_valid_config_compiles_to_slots_fragments_and_rules():
    bundle = compile_bundle(valid_config(), source="test.toml")

    default = Fragment("hero-default", "<h2>Welcome</h2>", ContentType.HTML, Operation.INNER)
    guide = Fragment("camera-guide", "<a href='/guide'>Guide</a>", ContentType.HTML, Operation.REPLACE)
    tip = Fragment("pro-tip", "Tip: <b> is escaped", ContentType.TEXT, Operation.APPEND)
    assert bundle.slots == {"hero": Slot("hero", default), "sidebar": Slot("sidebar", None)}
    assert bundle.rules == (
        Rule("guide-on-pro", ("hero",), guide, always, order=0),
        Rule("tip-on-products", ("sidebar",), tip, always, order=1),
        Rule("tip-on-pro", ("hero",), tip, always, order=2),
    )
    assert tip.is_html is False and guide.is_html is True
    assert bundle.problems == ()


def test_sections_left_out_get_their_defaults():
    bundle = compile_bundle(valid_config(), source="t")
    assert (bundle.scoring, bundle.signals, bundle.products, bundle.max_active, bundle.login_cookie) == (
        ScoringModel(), Signals(), {}, 3, None)
    assert bundle.scoring.weights == DEFAULT_WEIGHTS


def test_compile_does_not_mutate_its_input():
    config = valid_config()
    config["rules"][0]["schedule"] = {"start": "2026-01-01T00:00:00", "timezone": "Europe/Paris"}
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
        "rules": [{"id": fid, "slot": "s", "fragment": fid}],
    }
    [compiled] = compile_bundle(data, source="t").rules
    assert (compiled.id, compiled.fragment.id) == (fid, fid)


def test_a_full_rule_compiles_every_field():
    config = valid_config()
    config["fragments"]["offer"] = {"html": "{params.discount} off"}
    config["slots"]["promo"] = {}
    config["rules"] = [{
        "id": "offer", "slots": ["hero", "promo", "hero"], "fragment": "offer", "priority": 7, "score": 2.5,
        "group": "chain", "when": {"tier": "high"}, "schedule": {"start": 100, "end": 200},
        "cap": {"session": 2, "visitor": 5}, "holdout": 25, "params": {"discount": "10 %"},
    }]
    [compiled] = compile_bundle(config, source="t").rules
    assert (compiled.slots, compiled.priority, compiled.score, compiled.group) == (("hero", "promo"), 7, 2.5, "chain")
    assert (compiled.start, compiled.end, compiled.cap_session, compiled.cap_visitor) == (100.0, 200.0, 2, 5)
    assert compiled.holdout == 0.25  # a percentage in the file, a share in the rule
    assert compiled.params == {"discount": "10 %"}
    assert compiled.condition({"tier": "high"}) is True
    assert compiled.condition({"tier": "low"}) is False


def test_rule_defaults():
    [compiled, *_] = compile_bundle(valid_config(), source="t").rules
    assert (compiled.priority, compiled.score, compiled.group) == (0, 0.0, None)
    assert (compiled.start, compiled.end) == (None, None)
    assert (compiled.cap_session, compiled.cap_visitor, compiled.holdout, compiled.params) == (None, None, 0.0, {})


@pytest.mark.parametrize(
    "path, expected",
    [
        pytest.param("/a/", True, id="exact"),
        pytest.param("/a/b", True, id="under"),
        # a plain string prefix: no segment semantics, no trailing-slash normalisation
        pytest.param("/a", False, id="without-slash"),
        pytest.param("/b/a/", False, id="elsewhere"),
        pytest.param("/A/", False, id="case-sensitive"),
    ],
)
def test_path_prefix_is_a_string_prefix_test(path, expected):
    data = {"slots": {"s": {}}, "fragments": {"f": {"text": "x"}},
            "rules": [{"id": "r", "slot": "s", "fragment": "f", "path_prefix": "/a/"}]}
    [compiled] = compile_bundle(data, source="t").rules
    assert compiled.condition({"request": {"path": path}}) is expected


@pytest.mark.parametrize(
    "path, country, expected",
    [
        pytest.param("/guides/x", "US", True, id="both"),
        pytest.param("/guides/x", "FR", False, id="prefix-only"),
        pytest.param("/products/", "US", False, id="condition-only"),
    ],
)
def test_path_prefix_and_when_must_both_hold(path, country, expected):
    data = {"slots": {"s": {}}, "fragments": {"f": {"text": "x"}},
            "rules": [{"id": "r", "slot": "s", "fragment": "f", "path_prefix": "/guides/",
                       "when": {"country": "US"}}]}
    [compiled] = compile_bundle(data, source="t").rules
    assert compiled.condition({"request": {"path": path}, "country": country}) is expected


def test_rule_without_when_or_prefix_always_matches():
    data = {"slots": {"s": {}}, "fragments": {"f": {"text": "x"}}, "rules": [{"id": "r", "slot": "s", "fragment": "f"}]}
    [compiled] = compile_bundle(data, source="t").rules
    assert compiled.condition({"request": {"path": "/anything"}}) is True


def test_saved_groups_are_bound_into_conditions():
    data = {"saved_groups": {"vips": ["v1", "v2"]}, "slots": {"s": {}}, "fragments": {"f": {"text": "x"}},
            "rules": [{"id": "r", "slot": "s", "fragment": "f", "when": {"id": {"$inGroup": "vips"}}}]}
    [compiled] = compile_bundle(data, source="t").rules
    assert [compiled.condition({"id": v}) for v in ("v1", "v3")] == [True, False]


def test_full_sections_compile():
    bundle = compile_bundle({
        "engine": {"max_active": 5},
        "scoring": {"weights": {"depth": 40}, "saturation": {"time": 60}, "tiers": {"hot": 70, "warm": 40},
                    "half_life_days": 7},
        "signals": {"stages": ["look", "buy"], "search_params": ["s"], "login_cookie": "session_id",
                    "pages": [{"pattern": "^/buy/", "stage": "buy", "purchase": True}]},
        "products": {"alpha": {"name": "Alpha", "price": 10}},
    }, source="t")
    assert bundle.max_active == 5
    assert bundle.scoring.weights["depth"] == 40.0 and bundle.scoring.weights["time"] == 25.0
    assert bundle.scoring.saturation["time"] == 60.0
    assert bundle.scoring.tiers == (("hot", 70.0), ("warm", 40.0), ("low", 0.0))  # a floor tier is added
    assert bundle.scoring.half_life_days == 7.0
    assert (bundle.signals.stages, bundle.signals.search_params) == (("look", "buy"), ("s",))
    [page] = bundle.signals.pages
    assert (page.pattern.pattern, page.stage, page.purchase) == ("^/buy/", 1, True)  # stage as an index
    assert bundle.login_cookie == "session_id"
    assert bundle.products == {"alpha": {"name": "Alpha", "price": 10, "id": "alpha"}}


def test_tiers_with_a_zero_threshold_get_no_extra_floor():
    bundle = compile_bundle({"scoring": {"tiers": {"everyone": 0, "keen": 50}}}, source="t")
    assert bundle.scoring.tiers == (("keen", 50.0), ("everyone", 0.0))


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
        pytest.param({"engine": []}, [("engine", "must be a table, found an array")], id="engine-array"),
        pytest.param({"scoring": 1}, [("scoring", "must be a table, found int")], id="scoring-int"),
        pytest.param({"products": "x"}, [("products", "must be a table, found a string")], id="products-string"),
    ],
)
def test_sections_of_the_wrong_type(data, expected):
    found = problems(data)
    # Emptied sections make rules/fallbacks dangle; only the section problem is asserted here.
    assert [p for p in found if p[0] in ("config", "slots", "fragments", "rules", "engine", "scoring",
                                         "products")] == expected


def test_signals_of_the_wrong_type_is_reported_once():
    # [signals] is read once, for both the signals and the login cookie
    assert problems({"signals": "x"}) == [("signals", "must be a table, found a string")]


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
        pytest.param({"html": "Hi {city"}, "template: unclosed '{' at offset 3 (write '{{' for a literal brace)",
                     id="unclosed-brace"),
        pytest.param({"text": "50% }"}, "template: unmatched '}' at offset 4 (write '}}' for a literal brace)",
                     id="unmatched-brace"),
        pytest.param({"html": "{a b}"}, "template: bad parameter {a b} at offset 0: expected {name}, {a.b.c} "
                     "or {name:format}", id="bad-parameter"),
        # a parameter must start at one of the attribute map's roots
        pytest.param({"html": "{visitor.name}"}, "template parameter {visitor...} names nothing",
                     id="unknown-root"),
    ],
)
def test_bad_fragments_are_rejected(spec, reason):
    assert problems({"fragments": {"promo": spec}}) == [("fragment 'promo'", reason)]


def test_unknown_template_root_hint_lists_the_roots():
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"fragments": {"f": {"html": "{nope}"}}}, source="t")
    assert caught.value.problems[0].hint.startswith("parameters start with one of cart, city, contributions,")


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
    "spec, expected",
    [
        pytest.param({"fallback": "nope"}, [("slot 'hero'", "fallback 'nope' is not a known fragment")],
                     id="unknown-fallback"),
        pytest.param({"fallback": ["hero-default"]},
                     [("slot 'hero'", "fallback ['hero-default'] is not a known fragment")], id="fallback-array"),
        pytest.param({"fallback": 3}, [("slot 'hero'", "fallback 3 is not a known fragment")], id="fallback-int"),
        pytest.param({"fallback": ""}, [("slot 'hero'", "fallback '' is not a known fragment")], id="fallback-empty"),
        # the slot is rejected, so the two rules that name it dangle too
        pytest.param("hero-default", [("slot 'hero'", "must be a table, found a string"),
                                      ("rule 'guide-on-pro'", "slot 'hero' is not declared"),
                                      ("rule 'tip-on-pro'", "slot 'hero' is not declared")], id="spec-string"),
        pytest.param(None, [("slot 'hero'", "must be a table, found NoneType"),
                            ("rule 'guide-on-pro'", "slot 'hero' is not declared"),
                            ("rule 'tip-on-pro'", "slot 'hero' is not declared")], id="spec-nil"),
    ],
)
def test_bad_slots_are_rejected(spec, expected):
    config = valid_config()
    config["slots"]["hero"] = spec
    assert problems(config) == expected


def test_fallback_naming_a_rejected_fragment_is_also_reported():
    config = {"slots": {"s": {"fallback": "f"}}, "fragments": {"f": {"html": 1}}}
    assert problems(config) == [
        ("fragment 'f'", "html must be a string, found int"),
        ("slot 's'", "fallback 'f' is not a known fragment"),
    ]


def test_fallback_cannot_use_rule_params():
    config = {"slots": {"s": {"fallback": "f"}}, "fragments": {"f": {"html": "{params.discount} off"}}}
    assert problems(config) == [("slot 's'", "fallback 'f' uses {params...}, which only rules provide")]


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
        pytest.param(rule(slot=...), ("rule 'r1'", "needs exactly one of 'slot' or 'slots'"), id="no-slot"),
        pytest.param(rule(slots=["hero"]), ("rule 'r1'", "needs exactly one of 'slot' or 'slots'"),
                     id="slot-and-slots"),
        # `slot` must hold one name: the problem names the key that was used
        pytest.param(rule(slot=["hero"]), ("rule 'r1'", "slot must be a slot name"), id="array-slot"),
        pytest.param(rule(slot={"hero": 1}), ("rule 'r1'", "slot must be a slot name"), id="table-slot"),
        pytest.param(rule(slot=..., slots=[]), ("rule 'r1'", "slots must be a non-empty array of slot names"),
                     id="empty-slots"),
        pytest.param(rule(slot=..., slots="hero"), ("rule 'r1'", "slots must be a non-empty array of slot names"),
                     id="string-slots"),
        pytest.param(rule(slot=..., slots=["hero", "footer"]), ("rule 'r1'", "slot 'footer' is not declared"),
                     id="one-undeclared-of-slots"),
        pytest.param(rule(fragment="nope"), ("rule 'r1'", "fragment 'nope' is not a known fragment"),
                     id="unknown-fragment"),
        pytest.param(rule(fragment=...), ("rule 'r1'", "fragment None is not a known fragment"),
                     id="no-fragment"),
        pytest.param(rule(fragment=["camera-guide"]),
                     ("rule 'r1'", "fragment ['camera-guide'] is not a known fragment"), id="array-fragment"),
        pytest.param(rule(path_prefix="products/"),
                     ("rule 'r1'", "path_prefix must be a path starting with '/', found 'products/'"),
                     id="relative-prefix"),
        pytest.param(rule(path_prefix=""), ("rule 'r1'", "path_prefix must be a path starting with '/', found ''"),
                     id="empty-prefix"),
        pytest.param(rule(path_prefix=["/"]),
                     ("rule 'r1'", "path_prefix must be a path starting with '/', found ['/']"), id="array-prefix"),
        pytest.param(rule(priority="high"), ("rule 'r1'", "priority must be an integer, found 'high'"),
                     id="priority-string"),
        pytest.param(rule(priority=1.5), ("rule 'r1'", "priority must be an integer, found 1.5"),
                     id="priority-float"),
        # bool is an int subclass in Python, never in TOML
        pytest.param(rule(priority=True), ("rule 'r1'", "priority must be an integer, found True"),
                     id="priority-bool"),
        pytest.param(rule(score="1"), ("rule 'r1'", "score must be a number, found '1'"), id="score-string"),
        pytest.param(rule(score=float("nan")), ("rule 'r1'", "score must be a number, found nan"), id="score-nan"),
        pytest.param(rule(group="-x"), ("rule 'r1'", "group must be an id, found '-x'"), id="group-bad-id"),
        pytest.param(rule(group=5), ("rule 'r1'", "group must be an id, found 5"), id="group-int"),
        pytest.param(rule(when="tier == high"), ("rule 'r1'", "when must be a table (a condition), found a string"),
                     id="when-string"),
        pytest.param(rule(when={"x": {"$in": 3}}),
                     ("rule 'r1'", "when: x.$in: expects an array of strings, numbers, booleans or nulls"),
                     id="when-malformed"),
        pytest.param(rule(when={"x": {"$inGroup": "nope"}}), ("rule 'r1'", 'when: x.$inGroup: unknown saved group'),
                     id="when-unknown-group"),
        pytest.param(rule(schedule="2026"), ("rule 'r1'", "schedule must be a table, found a string"),
                     id="schedule-string"),
        pytest.param(rule(schedule={"start": "2026-01-01T00:00:00"}),
                     ("rule 'r1'", "schedule start: a date-time without an offset needs schedule.timezone"),
                     id="naive-without-timezone"),
        pytest.param(rule(schedule={"start": "2026-01-01T00:00:00", "timezone": "Mars/Olympus"}),
                     ("rule 'r1'", "schedule start: unknown timezone 'Mars/Olympus'"), id="unknown-timezone"),
        pytest.param(rule(schedule={"end": "soon"}), ("rule 'r1'", "schedule end: 'soon' is not an ISO 8601 date-time"),
                     id="not-iso"),
        pytest.param(rule(schedule={"start": [1]}),
                     ("rule 'r1'", "schedule start: expected a date-time, found an array"), id="start-array"),
        # an empty window: end is exclusive
        pytest.param(rule(schedule={"start": 100, "end": 100}), ("rule 'r1'", "schedule ends before it starts"),
                     id="empty-window"),
        pytest.param(rule(cap=3), ("rule 'r1'", "cap must be a table, found int"), id="cap-int"),
        pytest.param(rule(cap={"session": 0}), ("rule 'r1' cap", "session must be at least 1, found 0"),
                     id="cap-zero"),
        pytest.param(rule(cap={"visitor": 1.5}), ("rule 'r1' cap", "visitor must be an integer, found 1.5"),
                     id="cap-float"),
        pytest.param(rule(holdout=150), ("rule 'r1'", "holdout is a percentage of visitors, found 150"),
                     id="holdout-over-100"),
        pytest.param(rule(holdout=-1), ("rule 'r1'", "holdout must be at least 0, found -1"), id="holdout-negative"),
        pytest.param(rule(params="10%"), ("rule 'r1'", "params must be a table of strings, numbers or booleans"),
                     id="params-string"),
        pytest.param(rule(params={"a": {"b": 1}}),
                     ("rule 'r1'", "params must be a table of strings, numbers or booleans"), id="params-nested"),
        pytest.param(rule(fragment="offer"),
                     ("rule 'r1'", "fragment 'offer' uses {params.discount}, which the rule's params lack"),
                     id="params-missing"),
        pytest.param(rule(fragment="offer", params={"discout": "5 %"}),
                     ("rule 'r1'", "fragment 'offer' uses {params.discount}, which the rule's params lack"),
                     id="params-misspelt"),
        pytest.param("r1", ("rules[3]", "must be a table, found a string"), id="rule-string"),
        pytest.param([], ("rules[3]", "must be a table, found an array"), id="rule-array"),
    ],
)
def test_bad_rules_are_rejected(spec, expected):
    config = valid_config()
    config["fragments"]["offer"] = {"html": "{params.discount} off"}
    config["rules"].append(spec)  # after three valid rules: index 3
    [(item, reason)] = problems(config)
    assert item == expected[0]
    assert reason.startswith(expected[1])


@pytest.mark.parametrize(
    "schedule, start, end",
    [
        pytest.param({"start": 1_790_000_000, "end": 1_790_003_600.5}, 1_790_000_000.0, 1_790_003_600.5, id="epoch"),
        pytest.param({"start": "2026-01-01T00:00:00+01:00"}, 1_767_222_000.0, None, id="iso-with-offset"),
        pytest.param({"start": "2026-01-01T00:00:00", "timezone": "Europe/Paris"}, 1_767_222_000.0, None,
                     id="naive-in-timezone"),
        # TOML parses an offset date-time to an aware datetime
        pytest.param({"end": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}, None, 1_767_225_600.0,
                     id="toml-datetime"),
        # a bare date is midnight in the schedule's timezone
        pytest.param({"start": dt.date(2026, 1, 1), "timezone": "UTC"}, 1_767_225_600.0, None, id="toml-date"),
    ],
)
def test_schedules_compile_to_epoch_seconds(schedule, start, end):
    data = {"slots": {"s": {}}, "fragments": {"f": {"text": "x"}},
            "rules": [{"id": "r", "slot": "s", "fragment": "f", "schedule": schedule}]}
    [compiled] = compile_bundle(data, source="t").rules
    assert (compiled.start, compiled.end) == (start, end)


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
    assert problems(config) == [
        ("slot 'a b'", "name must be 1-64 letters, digits, '_' or '-'"),
        ("rule 'r'", "slot 'a b' is not declared"),
    ]


def test_every_problem_is_reported_not_just_the_first():
    config = {
        "slots": {"hero": {"fallback": "missing"}, "bad slot": {}},
        "fragments": {"f": {}, "g": {"html": "x", "op": "sideways"}},
        "rules": [
            {"id": "r1", "slot": "nowhere", "fragment": "f", "path_prefix": "/"},
            {"id": "r1", "slot": "hero", "fragment": "f", "path_prefix": "/"},
            "junk",
        ],
        "scoring": {"weights": {"depht": 10}},
        "engine": {"max_active": 0},
    }
    expected = [
        ("fragment 'f'", "needs exactly one of 'html' or 'text'"),
        ("fragment 'g'", "unknown op 'sideways'"),
        ("slot 'hero'", "fallback 'missing' is not a known fragment"),
        ("slot 'bad slot'", "name must be 1-64 letters, digits, '_' or '-'"),
        ("rule 'r1'", "slot 'nowhere' is not declared"),
        ("rule 'r1'", "fragment 'f' is not a known fragment"),  # f itself was rejected above
        ("rule 'r1'", "id is used by an earlier rule"),
        ("rules[2]", "must be a table, found a string"),
        ("scoring", "weights: unknown vector 'depht'"),
        ("engine", "max_active must be at least 1, found 0"),
    ]
    assert problems(config) == expected
    assert problems(config, strict=False) == expected  # lenient lists the same problems instead of raising


@pytest.mark.parametrize(
    "section, expected",
    [
        pytest.param({"engine": {"max_active": 0}}, ("engine", "max_active must be at least 1, found 0"),
                     id="max-active-zero"),
        pytest.param({"scoring": {"weights": {"depht": 1}}}, ("scoring", "weights: unknown vector 'depht'"),
                     id="unknown-vector"),
        pytest.param({"scoring": {"weights": {"depth": -1}}},
                     ("scoring", "weights.depth must be a non-negative number"), id="negative-weight"),
        pytest.param({"scoring": {"weights": [20]}}, ("scoring", "weights must be a table, found an array"),
                     id="weights-array"),
        # a zero saturation would divide by zero
        pytest.param({"scoring": {"saturation": {"time": 0}}}, ("scoring", "saturation.time must be a positive number"),
                     id="zero-saturation"),
        pytest.param({"scoring": {"tiers": {}}},
                     ("scoring", "tiers must map tier names to thresholds between 0 and 100"), id="no-tiers"),
        pytest.param({"scoring": {"tiers": {"x": 101}}},
                     ("scoring", "tiers must map tier names to thresholds between 0 and 100"), id="tier-over-100"),
        pytest.param({"scoring": {"tiers": {"x": True}}},
                     ("scoring", "tiers must map tier names to thresholds between 0 and 100"), id="tier-bool"),
        pytest.param({"scoring": {"half_life_days": -1}}, ("scoring", "half_life_days must be at least 0, found -1"),
                     id="negative-half-life"),
        pytest.param({"signals": {"stages": ["only"]}},
                     ("signals", "stages must be an array of at least two distinct names"), id="one-stage"),
        pytest.param({"signals": {"stages": ["a", "a"]}},
                     ("signals", "stages must be an array of at least two distinct names"), id="duplicate-stages"),
        pytest.param({"signals": {"search_params": "q"}},
                     ("signals", "search_params must be an array of query parameter names"), id="search-string"),
        pytest.param({"signals": {"pages": {}}}, ("signals", "pages must be an array of tables, found a table"),
                     id="pages-table"),
        pytest.param({"signals": {"pages": ["x"]}}, ("signals.pages[0]", "must be a table, found a string"),
                     id="page-string"),
        pytest.param({"signals": {"pages": [{"pattern": "("}]}},
                     ("signals.pages[0]", "pattern is not a regular expression: missing )"), id="bad-regex"),
        pytest.param({"signals": {"pages": [{"stage": "cart"}]}},
                     ("signals.pages[0]", "pattern is not a regular expression"), id="no-pattern"),
        pytest.param({"signals": {"pages": [{"pattern": "x", "stage": "nope"}]}},
                     ("signals.pages[0]", "stage 'nope' is not one of the signals' stages"), id="unknown-stage"),
        pytest.param({"signals": {"pages": [{"pattern": "x", "cart_add": 1}]}},
                     ("signals.pages[0]", "cart_add must be a string"), id="cart-add-int"),
        pytest.param({"signals": {"pages": [{"pattern": "x", "trial": "yes"}]}},
                     ("signals.pages[0]", "trial must be true or false"), id="trial-string"),
        # must be usable as a cookie name in a Cookie header
        pytest.param({"signals": {"login_cookie": "a b"}},
                     ("signals", "login_cookie must be a cookie name, found 'a b'"), id="login-cookie-space"),
        pytest.param({"products": {"p": {"name": ["x"]}}},
                     ("product 'p'", "must be a table of strings, numbers or booleans"), id="product-nested"),
        pytest.param({"saved_groups": {"g": "x"}}, ("saved_groups", "must be a table of arrays"), id="group-string"),
    ],
)
def test_bad_engine_scoring_signals_and_products_are_rejected(section, expected):
    [(item, reason)] = problems(section)
    assert item == expected[0]
    assert reason.startswith(expected[1])


def test_stage_hint_lists_the_stages():
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"signals": {"stages": ["a", "b"], "pages": [{"pattern": "x", "stage": "c"}]}}, source="t")
    assert caught.value.problems[0].hint == "stages: a, b"


def test_a_zero_half_life_is_rejected():
    # half_life_days = 0 would mean "never decays" (decay 1.0), not "counts for nothing"
    config = {"scoring": {"half_life_days": 0}}
    assert problems(config) == [("scoring", "half_life_days must be positive")]
    with pytest.raises(ConfigError) as caught:
        compile_bundle(config, source="t")
    assert caught.value.problems[0].hint == "profiles lose half their weight per half-life"


def test_a_zero_half_life_does_not_make_old_profiles_count_in_full():
    # a lenient compile reports it and keeps the default half-life
    bundle = compile_bundle({"scoring": {"half_life_days": 0}}, source="kv", strict=False)
    assert [(p.item, p.reason) for p in bundle.problems] == [("scoring", "half_life_days must be positive")]
    assert bundle.scoring.half_life_days == ScoringModel().half_life_days
    year_old = Profile(sessions=1, pages=8, last_seen=NOW - 365 * DAY)
    assert score(bundle.scoring, None, year_old, NOW, 5).contributions["depth"] < 1


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
    config["rules"][0]["weight"] = 10
    return config


def test_strict_mode_rejects_unknown_keys_at_every_level():
    assert problems(with_unknown_keys()) == [
        ("config", "unknown key 'experiments'"),
        ("fragment 'pro-tip'", "unknown key 'ttl'"),
        ("slot 'hero'", "unknown key 'max_items'"),
        ("rule 'guide-on-pro'", "unknown key 'weight'"),
    ]


def test_strict_mode_rejects_unknown_keys_in_nested_tables():
    config = valid_config()
    config["rules"][0].update(schedule={"start": 1, "tz": "UTC"}, cap={"page": 1})
    config.update(engine={"max_rules": 2}, scoring={"weight": {}},
                  signals={"page": [], "pages": [{"pattern": "x", "price": "p"}]})
    assert problems(config) == [
        ("rule 'guide-on-pro' schedule", "unknown key 'tz'"),
        ("rule 'guide-on-pro' cap", "unknown key 'page'"),
        ("scoring", "unknown key 'weight'"),
        ("signals", "unknown key 'page'"),
        ("signals.pages[0]", "unknown key 'price'"),
        ("engine", "unknown key 'max_rules'"),
    ]


def test_unknown_key_hint_lists_the_known_keys():
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"fragments": {"f": {"html": "x", "opp": "inner"}}}, source="t")
    [problem] = caught.value.problems
    assert problem.reason == "unknown key 'opp'"
    assert problem.hint == "known keys: html, op, text"


def test_lenient_mode_ignores_unknown_keys():
    lenient = compile_bundle(with_unknown_keys(), source="kv", strict=False)
    assert lenient == compile_bundle(valid_config(), source="t")
    assert lenient.problems == ()


def test_lenient_mode_still_refuses_data_that_is_not_a_config():
    with pytest.raises(ConfigError, match=r"^kv: config: must be a table, found an array$"):
        compile_bundle([], source="kv", strict=False)


def test_lenient_mode_skips_a_broken_rule_and_keeps_the_rest():
    config = with_unknown_keys()
    config["rules"][1]["path_prefix"] = "nope"
    bundle = compile_bundle(config, source="kv", strict=False)

    assert bundle.problems == (
        Problem("rule 'tip-on-products'", "path_prefix must be a path starting with '/', found 'nope'"),
    )
    assert [r.id for r in bundle.rules] == ["guide-on-pro", "tip-on-pro"]
    # the sidebar's only rule is gone; the hero's rules still choose
    assert chosen(bundle, "/products/pro/x") == {"hero": ("camera-guide", "guide-on-pro")}
    assert chosen(bundle, "/products/lens") == {"hero": ("pro-tip", "tip-on-pro")}


def test_lenient_mode_skips_a_broken_fragment_and_the_rules_using_it():
    config = valid_config()
    config["fragments"]["camera-guide"]["html"] = 5
    bundle = compile_bundle(config, source="kv", strict=False)

    assert [(p.item, p.reason) for p in bundle.problems] == [
        ("fragment 'camera-guide'", "html must be a string, found int"),
        ("rule 'guide-on-pro'", "fragment 'camera-guide' is not a known fragment"),
    ]
    assert [r.id for r in bundle.rules] == ["tip-on-products", "tip-on-pro"]
    assert chosen(bundle, "/products/pro/x") == {"hero": ("pro-tip", "tip-on-pro"),
                                                 "sidebar": ("pro-tip", "tip-on-products")}


def test_lenient_mode_skips_a_broken_slot_and_the_rules_for_it():
    config = valid_config()
    config["slots"]["sidebar"] = ["not", "a", "table"]
    bundle = compile_bundle(config, source="kv", strict=False)

    assert [(p.item, p.reason) for p in bundle.problems] == [
        ("slot 'sidebar'", "must be a table, found an array"),
        ("rule 'tip-on-products'", "slot 'sidebar' is not declared"),
    ]
    assert list(bundle.slots) == ["hero"]
    assert chosen(bundle, "/products/x") == {"hero": ("pro-tip", "tip-on-pro")}


def test_lenient_mode_keeps_a_slot_whose_fallback_is_broken_without_a_fallback():
    config = valid_config()
    config["slots"]["hero"]["fallback"] = "gone"
    bundle = compile_bundle(config, source="kv", strict=False)

    assert [(p.item, p.reason) for p in bundle.problems] == [("slot 'hero'", "fallback 'gone' is not a known fragment")]
    assert bundle.slots["hero"] == Slot("hero", None)
    assert chosen(bundle, "/") == {}  # the origin's own content stays
    assert chosen(bundle, "/products/pro/") == {"hero": ("camera-guide", "guide-on-pro"),
                                                "sidebar": ("pro-tip", "tip-on-products")}


def test_lenient_mode_falls_back_to_defaults_for_broken_sections():
    bundle = compile_bundle({"engine": {"max_active": "many"}, "scoring": {"tiers": {"x": 200}},
                             "signals": {"stages": "browse"}}, source="kv", strict=False)
    assert (bundle.max_active, bundle.scoring, bundle.signals) == (3, ScoringModel(), Signals())
    assert [p.item for p in bundle.problems] == ["scoring", "signals", "engine"]


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
        pytest.param({"slots": {"s": {}}, "fragments": {"f": {"html": "x"}},
                      "rules": [{"id": "r", "slot": "s", "fragment": "f", "when": [1]}]}, "rule 'r'", id="when-array"),
        pytest.param({"slots": {"s": {}}, "fragments": {"f": {"html": "x"}},
                      "rules": [{"id": "r", "slot": "s", "fragment": "f", "cap": {"session": "2"}}]}, "rule 'r' cap",
                     id="cap-string"),
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
    if not strict:
        bundle = compile_bundle(data, source="kv", strict=False)
        assert bundle.slots == {} and bundle.rules == ()


# -- to_payload -------------------------------------------------------------------------------


def scheduled(schedule: dict) -> dict:
    config = valid_config()
    config["rules"][0]["schedule"] = schedule
    return config


@pytest.mark.parametrize(
    "schedule, expected",
    [
        pytest.param({"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00", "timezone": "Europe/Paris"},
                     {"start": 1_767_222_000, "end": 1_767_308_400}, id="naive-in-timezone"),
        pytest.param({"start": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}, {"start": 1_767_225_600},
                     id="toml-datetime"),
        # fractions of a second are dropped: the edge works in whole seconds
        pytest.param({"end": 1_790_000_000.9}, {"end": 1_790_000_000}, id="epoch-float"),
    ],
)
def test_to_payload_turns_schedules_into_epoch_seconds(schedule, expected):
    payload = to_payload(scheduled(schedule))
    assert payload["rules"][0]["schedule"] == expected
    assert payload["rules"][1:] == valid_config()["rules"][1:]


def test_to_payload_compiles_to_the_same_schedule_without_a_timezone_database():
    config = scheduled({"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00", "timezone": "Europe/Paris"})
    from_file = compile_bundle(config, source="t").rules[0]
    from_kv = compile_bundle(to_payload(config), source="kv").rules[0]
    assert (from_kv.start, from_kv.end) == (from_file.start, from_file.end) == (1_767_222_000.0, 1_767_308_400.0)


def test_to_payload_does_not_mutate_its_input():
    config = scheduled({"start": "2026-01-01T00:00:00", "timezone": "UTC"})
    before = copy.deepcopy(config)
    to_payload(config)
    assert config == before


@pytest.mark.parametrize("config", [valid_config(), {}, {"rules": []}], ids=["no-schedules", "empty", "no-rules"])
def test_to_payload_without_schedules_is_the_config(config):
    assert to_payload(config) == config


# -- [consent] --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "consent, expected",
    [
        pytest.param({"cookie": "cc_consent"}, ConsentPolicy("cc_consent"), id="cookie"),
        pytest.param({"cookie": "OptanonAlertBoxClosed"}, ConsentPolicy("OptanonAlertBoxClosed"), id="mixed-case"),
        pytest.param({"cookie": "cc_consent", "value": "yes"}, ConsentPolicy("cc_consent", "yes"), id="cookie-and-value"),
        pytest.param({"cookie": "a!#$%&'*+.^_`|~-9"}, ConsentPolicy("a!#$%&'*+.^_`|~-9"), id="every-token-character"),
        pytest.param({"cookie": "c" * 64}, ConsentPolicy("c" * 64), id="longest-name"),
        pytest.param({}, ConsentPolicy(), id="empty-table"),
    ],
)
def test_consent_compiles(consent, expected):
    assert compile_bundle({"consent": consent}, source="t").consent == expected
    assert compile_bundle({"consent": consent}, source="kv", strict=False).consent == expected


def test_without_consent_section_consent_is_assumed():
    assert compile_bundle(valid_config(), source="t").consent == ConsentPolicy()
    assert compile_bundle(valid_config(), source="kv", strict=False).consent == ConsentPolicy()


BAD_VALUE = "value must be a non-empty string, and needs 'cookie'"


@pytest.mark.parametrize(
    "consent, reason",
    [
        pytest.param({"cookie": "a b"}, "cookie must be a cookie name, found 'a b'", id="space"),
        pytest.param({"cookie": "a;b"}, "cookie must be a cookie name, found 'a;b'", id="semicolon"),
        pytest.param({"cookie": "a=b"}, "cookie must be a cookie name, found 'a=b'", id="equals"),
        pytest.param({"cookie": "a,b"}, "cookie must be a cookie name, found 'a,b'", id="comma"),
        pytest.param({"cookie": "caf\u00e9"}, "cookie must be a cookie name, found 'caf\u00e9'", id="non-ascii"),
        pytest.param({"cookie": "a\n"}, "cookie must be a cookie name, found 'a\\n'", id="trailing-newline"),
        pytest.param({"cookie": ""}, "cookie must be a cookie name, found ''", id="empty-name"),
        pytest.param({"cookie": "c" * 65}, f"cookie must be a cookie name, found '{'c' * 65}'", id="too-long"),
        pytest.param({"cookie": 1}, "cookie must be a cookie name, found 1", id="number"),
        pytest.param({"cookie": True}, "cookie must be a cookie name, found True", id="boolean"),
        pytest.param({"cookie": ["cc"]}, "cookie must be a cookie name, found ['cc']", id="array"),
        pytest.param({"value": "yes"}, BAD_VALUE, id="value-without-cookie"),
        pytest.param({"cookie": "cc", "value": ""}, BAD_VALUE, id="empty-value"),
        pytest.param({"cookie": "cc", "value": 1}, BAD_VALUE, id="number-value"),
        pytest.param({"cookie": "cc", "value": True}, BAD_VALUE, id="boolean-value"),
        pytest.param({"cookie": "cc", "value": ["yes"]}, BAD_VALUE, id="array-value"),
    ],
)
def test_a_broken_consent_table_is_rejected_and_fails_closed_at_the_edge(consent, reason):
    assert problems({"consent": consent}) == [("consent", reason)]
    lenient = compile_bundle({**valid_config(), "consent": consent}, source="kv", strict=False)
    assert lenient.consent == NOBODY           # nobody recognised, rather than everybody
    assert [(p.item, p.reason) for p in lenient.problems] == [("consent", reason)]
    assert lenient.rules == compile_bundle(valid_config(), source="t").rules   # the rest works


def test_unknown_consent_keys_are_typos_in_strict_mode_only():
    consent = {"cookie": "cc", "cookies": "cc2"}
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"consent": consent}, source="t")
    [problem] = caught.value.problems
    assert (problem.item, problem.reason, problem.hint) == ("consent", "unknown key 'cookies'",
                                                            "known keys: cookie, value")
    # a newer minor's key at the edge: ignored, the known keys still apply
    lenient = compile_bundle({"consent": consent}, source="kv", strict=False)
    assert (lenient.consent, lenient.problems) == (ConsentPolicy("cc"), ())


def test_consent_of_the_wrong_type_is_rejected():
    assert problems({"consent": "required"}) == [("consent", "must be a table, found a string")]


@pytest.mark.parametrize("consent", [pytest.param("required", id="string"), pytest.param(["cc"], id="array")])
def test_consent_of_the_wrong_type_fails_closed_at_the_edge(consent):
    assert compile_bundle({"consent": consent}, source="kv", strict=False).consent == NOBODY


# -- found by fuzz/ ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", [
    pytest.param("a{4294967296}", id="repeat-overflow"),        # re raises OverflowError
    pytest.param("(" * 1500 + ")" * 1500, id="deep-groups"),   # and RecursionError
])
def test_a_page_pattern_re_cannot_compile_is_a_problem_not_an_error(pattern):
    config = {"signals": {"pages": [{"pattern": pattern}]}}
    [(item, reason)] = problems(config)
    assert (item, reason.split(":")[0]) == ("signals.pages[0]", "pattern is not a regular expression")
    assert compile_bundle(config, source="config/abc", strict=False).signals.pages == ()


def test_an_infinite_cache_time_is_a_problem_not_an_error():
    from intentedge.contract.config import DEFAULT_CONFIG_CACHE

    config = {"cache": {"config": {"fresh": float("inf")}}}   # msgpack carries infinities; TOML has inf too
    assert problems(config) == [
        ("cache.config", "CachePolicy.fresh must be a finite number of seconds >= 0, found inf")]
    edge = compile_bundle(config, source="config/abc", strict=False)
    assert edge.config_cache.fresh == DEFAULT_CONFIG_CACHE.fresh


# --- the [events] table --------------------------------------------------------------------

def test_events_are_off_unless_configured():
    assert compile_bundle({}, source="t").events is None
    events = compile_bundle({"events": {"path": "/t/e", "beacon": False, "max_events": 5, "rate_per_minute": 60}},
                            source="t").events
    assert events == Limits(path="/t/e", beacon=False, max_events=5, rate_per_minute=60)


def test_the_client_and_isolate_limits_default_to_at_least_the_narrower_one():
    events = compile_bundle({"events": {"rate_per_minute": 5_000}}, source="t").events
    assert (events.client_rate_per_minute, events.isolate_rate_per_minute) == (5_000, 60_000)
    events = compile_bundle({"events": {"client_rate_per_minute": 300, "isolate_rate_per_minute": 900}},
                            source="t").events
    assert (events.rate_per_minute, events.client_rate_per_minute, events.isolate_rate_per_minute) == (120, 300, 900)


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
    ({"client_rate_per_minute": 60}, "rate_per_minute (120) <= client_rate_per_minute (60)"),
    ({"isolate_rate_per_minute": 500}, "client_rate_per_minute (1200) <= isolate_rate_per_minute (500)"),
    ({"client_rate_per_minute": "many"}, "client_rate_per_minute must be an integer"),
    ({"isolate_rate_per_minute": 0}, "isolate_rate_per_minute must be at least 1"),
])
def test_a_bad_events_table_names_the_problem(spec, message):
    with pytest.raises(ConfigError) as caught:
        compile_bundle({"events": spec}, source="site.toml")
    assert message in str(caught.value)
