"""Fuzz target of the config bundle the edge reads from KV (intentedge.contract.bundles): bundles.bundle."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st
from intentedge.contract import schema
from intentedge.contract.bundles import bundle_from_bytes
from intentedge.contract.config import Bundle, compile_bundle
from intentedge.errors import ConfigError, Problem, SchemaError
from intentedge.scoring import VECTORS

from fuzz.targets.conditions import any_conditions, attribute_scalars, regex_soup, regexes, value_conditions
from fuzz.targets.fragments import template_texts
from fuzz.targets.registry import target
from fuzz.targets.schema import MSGPACKS, decoded_with, envelope, msgpack_implementation
from fuzz.targets.strategies import corrupted, maps, msgpack_values, numbers, scalars, sometimes

ids = st.sampled_from(["r1", "r2", "f1", "f2", "promo"]) | st.text(max_size=6)
slot_names = st.sampled_from(["hero", "main"]) | st.text(max_size=4)
_OPERATIONS = ["inner", "append", "prepend", "before", "after", "replace", "outer"]
iso_times = st.one_of(
    st.datetimes(timezones=st.none() | st.integers(-23 * 60 + 1, 23 * 60 - 1).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))).map(dt.datetime.isoformat),
    st.dates().map(dt.date.isoformat),
    st.text(max_size=12),
)
timezones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Nope/Zone", "", "../../etc/passwd",
                             "UTC\x00"])
schedules = maps({"start": sometimes(numbers | iso_times), "end": sometimes(numbers | iso_times),
                  "timezone": sometimes(timezones)})
fragment_specs = maps({"html": sometimes(template_texts), "text": sometimes(template_texts),
                       "op": sometimes(st.sampled_from(_OPERATIONS))})
rule_specs = maps({
    "id": sometimes(ids), "slot": sometimes(slot_names), "slots": sometimes(st.lists(slot_names, max_size=3)),
    "fragment": sometimes(ids), "priority": sometimes(numbers), "score": sometimes(numbers),
    "group": sometimes(ids), "when": sometimes(any_conditions),
    "path_prefix": sometimes(st.sampled_from(["/", "/shop", "shop"])), "schedule": sometimes(schedules),
    "cap": sometimes(maps({"session": sometimes(numbers), "visitor": sometimes(numbers)})),
    "holdout": sometimes(numbers), "params": sometimes(st.dictionaries(st.text(max_size=6), scalars, max_size=3)),
})
page_specs = maps({
    "pattern": sometimes(regexes | regex_soup), "stage": sometimes(st.sampled_from(["browse", "cart", "x"])),
    "category": sometimes(st.text(max_size=8)), "cart_add": sometimes(st.text(max_size=8)),
    "purchase": sometimes(st.booleans()), "trial": sometimes(st.booleans()),
})
cache_policies = maps({name: sometimes(numbers) for name in ("fresh", "swr", "sie", "negative")})
vector_tables = st.dictionaries(st.sampled_from(VECTORS) | st.text(max_size=4), numbers, max_size=3)
config_payloads = maps({
    "slots": sometimes(st.dictionaries(slot_names, sometimes(maps({"fallback": sometimes(ids)})), max_size=3)),
    "fragments": sometimes(st.dictionaries(ids, sometimes(fragment_specs), max_size=3)),
    "rules": sometimes(st.lists(sometimes(rule_specs), max_size=3)),
    "engine": sometimes(maps({"max_active": sometimes(numbers)})),
    "scoring": sometimes(maps({
        "weights": sometimes(vector_tables), "saturation": sometimes(vector_tables),
        "tiers": sometimes(st.dictionaries(st.text(max_size=6), numbers, max_size=3)),
        "half_life_days": sometimes(numbers)})),
    "signals": sometimes(maps({
        "stages": sometimes(st.lists(st.sampled_from(["browse", "cart"]) | st.text(max_size=6), max_size=4)),
        "search_params": sometimes(st.lists(st.text(max_size=4), max_size=3)),
        "pages": sometimes(st.lists(sometimes(page_specs), max_size=3)),
        "login_cookie": sometimes(st.sampled_from(["sid", "a b", ""]) | st.text(max_size=8))})),
    "products": sometimes(st.dictionaries(
        st.text(max_size=6), sometimes(st.dictionaries(st.text(max_size=6), scalars, max_size=3)), max_size=3)),
    "saved_groups": sometimes(st.dictionaries(st.text(max_size=6), st.lists(scalars, max_size=4), max_size=3)),
    "cache": sometimes(maps({"config": sometimes(cache_policies), "profiles": sometimes(cache_policies)})),
    "consent": sometimes(maps({"cookie": sometimes(st.sampled_from(["consent", "a b", ""])),
                               "value": sometimes(st.sampled_from(["yes", ""]))})),
})


# A config the CLI would publish: every reference resolves, so rules compile, and what corrupted()
# then breaks is seen one problem at a time.
_ROOT_PATHS = ["request.path", "request.utm.source", "session.pages", "cart.value", "country", "tier",
               "profile.known", "score", "request.query.q"]
_GOOD_TEMPLATES = ["<b>{city}</b>", "Page {session.pages}", "{params.discount:.0f}% off", "plain text",
                   "<p>Free shipping over {cart.value:,.2f}</p>", '<a href="/c/{city}">go</a>', "{country:>4}"]
well_formed_conditions = st.recursive(
    st.builds(lambda path, value: {path: value}, st.sampled_from(_ROOT_PATHS), attribute_scalars | value_conditions),
    lambda inner: st.one_of(
        st.builds(lambda op, parts: {op: parts}, st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, max_size=3)),
        st.builds(lambda part: {"$not": part}, inner),
        st.lists(inner, max_size=3).map(lambda parts: {k: v for part in parts for k, v in part.items()}),
    ),
    max_leaves=5,
)


@st.composite
def valid_rules(draw, index: int, fragment_ids: list[str]) -> dict:
    rule = {"id": f"r{index}", "fragment": draw(st.sampled_from(fragment_ids)),
            "when": draw(well_formed_conditions), "params": {"discount": draw(st.integers(0, 90))}}
    rule.update(draw(st.sampled_from([{"slot": "hero"}, {"slot": "main"}, {"slots": ["hero", "main"]}])))
    rule.update(draw(st.fixed_dictionaries({}, optional={
        "priority": st.integers(-10, 10), "score": st.floats(0, 100), "group": st.sampled_from(["g1", "g2"]),
        "path_prefix": st.sampled_from(["/", "/shop"]), "holdout": st.floats(0, 100),
        "cap": st.fixed_dictionaries({}, optional={"session": st.integers(1, 5), "visitor": st.integers(1, 9)}),
        "schedule": st.fixed_dictionaries({"start": st.integers(0, 2**31) | iso_times,
                                           "end": st.integers(2**31, 2**32) | iso_times,
                                           "timezone": st.sampled_from(["UTC", "Europe/Paris"])}),
    })))
    return rule


@st.composite
def valid_configs(draw) -> dict:
    fragment_ids = ["f1", "f2", "f3"]
    fragments = {fid: {draw(st.sampled_from(["html", "text"])): draw(st.sampled_from(_GOOD_TEMPLATES)),
                       "op": draw(st.sampled_from(_OPERATIONS[:-1]))} for fid in fragment_ids}
    fragments["f1"] = {"html": "<b>Welcome</b>"}   # the fallback: no {params...}
    config = {
        "fragments": fragments,
        "slots": {"hero": {"fallback": "f1"}, "main": {}},
        "rules": [draw(valid_rules(index, fragment_ids)) for index in range(draw(st.integers(0, 4)))],
        "saved_groups": {"vip": draw(st.lists(st.text(max_size=4) | st.integers(0, 9), max_size=3))},
    }
    config.update(draw(st.fixed_dictionaries({}, optional={
        "engine": st.fixed_dictionaries({"max_active": st.integers(1, 5)}),
        "scoring": st.fixed_dictionaries({"weights": st.dictionaries(st.sampled_from(VECTORS), st.floats(0, 10)),
                                          "half_life_days": st.floats(0.5, 60)}),
        "signals": st.fixed_dictionaries({
            "stages": st.just(["browse", "product", "cart"]),
            "pages": st.lists(st.fixed_dictionaries({"pattern": regexes | st.just("^/p/(?P<product>[^/]+)")},
                                                    optional={"stage": st.sampled_from(["product", "cart"]),
                                                              "cart_add": st.just("price")}), max_size=2)}),
        "products": st.dictionaries(st.sampled_from(["p1", "p2"]), st.fixed_dictionaries({"price": st.floats(0, 1e4)})),
        "cache": st.fixed_dictionaries({"config": st.fixed_dictionaries({"fresh": st.integers(0, 60)})}),
        "consent": st.just({"cookie": "consent", "value": "yes"}),
    })))
    return config


@target("bundles.bundle", payload=st.one_of(corrupted(valid_configs()), corrupted(valid_configs()), config_payloads,
                                            msgpack_values), minor=st.integers(0, 5),
        implementation=st.sampled_from(sorted(MSGPACKS)))
def bundles_bundle(payload: Any, minor: int, implementation: str) -> None:
    """A sound config envelope read at the edge: a Bundle (what is broken listed in its problems), or
    ConfigError if the payload is not a map; the CLI's strict compile of it: a Bundle or ConfigError."""
    data = envelope(schema.CONFIG, payload, minor=minor)
    readable = not isinstance(decoded_with("c", schema.CONFIG, data), SchemaError)   # int map keys are not
    with msgpack_implementation(implementation):
        try:
            bundle = bundle_from_bytes(data, source="fuzz")
        except SchemaError:
            assert not readable, "one msgpack reads what the other refuses"
            return
        except ConfigError:   # not a config at all
            assert not isinstance(payload, dict)
            return
    assert isinstance(bundle, Bundle) and all(isinstance(p, Problem) for p in bundle.problems)
    try:
        compile_bundle(schema.decode(schema.CONFIG, data).payload, source="fuzz", strict=True)
    except ConfigError as error:
        assert error.problems
