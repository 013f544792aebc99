"""The config bundle: slots, fragments, rules, scoring, page signals and a product catalog,
validated and compiled in one pass.

The same `compile_bundle` runs in the CLI (strict: any problem rejects the config,
unknown keys are typos) and at the edge (lenient: unknown keys of a newer minor are
ignored, and a broken rule, fragment or slot is skipped and listed in
`Bundle.problems` while the rest works). Both see plain data: the TOML file as
parsed, or the payload of the config envelope read from KV. `to_payload` turns a
validated file into that payload (schedules become epoch seconds, so the edge needs
no timezone database). docs/configuration.md documents every key.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable
from zoneinfo import ZoneInfo

from intentedge.conditions import compile_condition, validate_condition
from intentedge.consent import NOBODY, ConsentPolicy
from intentedge.errors import ConfigError, Problem
from intentedge.events.batch import Limits as EventLimits
from intentedge.fragments import ContentType, Fragment, Operation, TemplateError
from intentedge.markup import markup_problems
from intentedge.caching.metadata import CachePolicy
from intentedge.rules import CompiledRules, Rule
from intentedge.scoring import DEFAULT_SATURATION, DEFAULT_WEIGHTS, VECTORS, ScoringModel
from intentedge.signals import DEFAULT_STAGES, PageRule, Signals

BEACON_BATCH = 50               # events per request, events/beacon.py
MAX_EVENTS_LIMIT = 500
MAX_BYTES_LIMIT = 65_536        # sendBeacon's quota
_EVENTS_PATH = re.compile(r"/[A-Za-z0-9/_.~-]{1,127}\Z")
_SLOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
_KEYS = {
    "config": {"slots", "fragments", "rules", "engine", "scoring", "signals", "products", "saved_groups", "cache",
               "consent", "events"},
    "consent": {"cookie", "value"},
    "events": {"path", "beacon", "max_events", "max_bytes", "rate_per_minute", "client_rate_per_minute",
               "isolate_rate_per_minute"},
    "cache": {"config", "profiles"},
    "cache_policy": {"fresh", "swr", "sie", "negative"},
    "slot": {"fallback"},
    "fragment": {"html", "text", "op"},
    "rule": {"id", "slot", "slots", "fragment", "priority", "score", "group", "when", "path_prefix", "schedule",
             "cap", "holdout", "params"},
    "schedule": {"start", "end", "timezone"},
    "cap": {"session", "visitor"},
    "engine": {"max_active"},
    "scoring": {"weights", "saturation", "tiers", "half_life_days"},
    "signals": {"stages", "search_params", "pages", "login_cookie"},
    "page": {"pattern", "stage", "category", "cart_add", "purchase", "trial"},
}
_OPERATION_VALUES = {op.value for op in Operation}
_OPERATIONS = ", ".join(op.value for op in Operation)
# The roots of the attribute map that conditions and template parameters can name.
ATTRIBUTE_ROOTS = {"request", "session", "profile", "cart", "product", "score", "tier", "contributions",
                   "logged_in", "city", "region", "country", "params"}
DEFAULT_MAX_ACTIVE = 3
# The config pointer: a publish shows within ~30 s (plus KV's own edge cache, cacheTtl=60).
DEFAULT_CONFIG_CACHE = CachePolicy(fresh=30, swr=600, sie=86_400, negative=5)
# Profiles: written by batch jobs; a visitor without one is remembered as such for a minute.
DEFAULT_PROFILE_CACHE = CachePolicy(fresh=60, swr=600, sie=3_600, negative=60)


@dataclass(frozen=True)
class Slot:
    name: str
    fallback: Fragment | None


@dataclass(frozen=True)
class Bundle:
    slots: dict[str, Slot] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    scoring: ScoringModel = field(default_factory=ScoringModel)
    signals: Signals = field(default_factory=Signals)
    products: dict[str, dict] = field(default_factory=dict)
    max_active: int = DEFAULT_MAX_ACTIVE
    login_cookie: str | None = None
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)
    events: EventLimits | None = None     # None: no events endpoint, no beacon
    config_cache: CachePolicy = DEFAULT_CONFIG_CACHE
    profile_cache: CachePolicy = DEFAULT_PROFILE_CACHE
    problems: tuple[Problem, ...] = ()    # lenient compile: what was skipped

    @cached_property
    def evaluator(self) -> CompiledRules:
        return CompiledRules(self.rules)


def compile_bundle(data: Any, *, source: str, strict: bool = True) -> Bundle:
    """Validate plain config data and compile it.

    Strict: raise ConfigError listing every problem. Lenient: skip what is broken and
    list it in `Bundle.problems`; raise only if the data is not a config at all.
    """
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("config", f"must be a table, found {_kind(data)}")])
    c = _Compiler(strict)
    c.unknown_keys(data, "config", "config")
    signals = c.table(data, "signals")
    cache = c.table(data, "cache")
    c.unknown_keys(cache, "cache", "cache")
    saved_groups = c.saved_groups(data.get("saved_groups", {}))
    fragments = c.fragments(c.table(data, "fragments"))
    slots = c.slots(c.table(data, "slots"), fragments)
    rules = c.rules(data.get("rules", []), slots, fragments, saved_groups)
    bundle = Bundle(
        slots=slots,
        rules=rules,
        scoring=c.scoring(c.table(data, "scoring")),
        signals=c.signals(signals),
        products=c.products(c.table(data, "products")),
        max_active=c.max_active(c.table(data, "engine")),
        login_cookie=c.login_cookie(signals),
        consent=c.consent(data.get("consent", {})),
        events=c.events(data.get("events")),
        config_cache=c.cache_policy(cache, "config", DEFAULT_CONFIG_CACHE),
        profile_cache=c.cache_policy(cache, "profiles", DEFAULT_PROFILE_CACHE),
        problems=tuple(c.problems),
    )
    if strict and c.problems:
        raise ConfigError(source, c.problems)
    return bundle


def to_payload(data: dict) -> dict:
    """A validated config as the edge reads it: schedules as epoch seconds, nothing msgpack cannot hold."""
    payload = dict(data)
    rules = []
    for rule in data.get("rules", []):
        rule = dict(rule)
        if "schedule" in rule:
            schedule = rule["schedule"]
            zone = schedule.get("timezone")
            rule["schedule"] = {key: int(_instant(schedule[key], zone)) for key in ("start", "end") if key in schedule}
        rules.append(rule)
    if rules:
        payload["rules"] = rules
    return payload


class _Compiler:
    def __init__(self, strict: bool):
        self.strict = strict
        self.problems: list[Problem] = []

    def problem(self, item: str, reason: str, hint: str = "") -> None:
        self.problems.append(Problem(item, reason, hint))

    def table(self, data: dict, key: str) -> dict:
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        self.problem(key, f"must be a table, found {_kind(value)}")
        return {}

    def unknown_keys(self, spec: dict, kind: str, item: str) -> None:
        if not self.strict:
            return
        known = _KEYS[kind]
        for key in spec:
            if key not in known:
                self.problem(item, f"unknown key {key!r}", f"known keys: {', '.join(sorted(known))}")

    # --- fragments and slots ---------------------------------------------------------------

    def fragments(self, specs: dict) -> dict[str, Fragment]:
        fragments = {}
        for fid, spec in specs.items():
            item = f"fragment {fid!r}"
            if not (isinstance(fid, str) and _ID.match(fid)):
                self.problem(item, "id must start with a letter or digit and use only letters, digits, _ . : -")
                continue
            if not isinstance(spec, dict):
                self.problem(item, f"must be a table, found {_kind(spec)}")
                continue
            self.unknown_keys(spec, "fragment", item)
            kinds = [ct for ct in ContentType if ct.value in spec]
            if len(kinds) != 1:
                self.problem(item, "needs exactly one of 'html' or 'text'", "'html' is inserted as markup, 'text' is escaped")
                continue
            content = spec[kinds[0].value]
            if not isinstance(content, str):
                self.problem(item, f"{kinds[0].value} must be a string, found {_kind(content)}")
                continue
            op = spec.get("op", Operation.INNER.value)
            if not isinstance(op, str) or op not in _OPERATION_VALUES:
                self.problem(item, f"unknown op {op!r}", f"use one of {_OPERATIONS}")
                continue
            try:
                fragment = Fragment(fid, content, kinds[0], Operation(op))
            except TemplateError as exc:
                self.problem(item, f"template: {exc}")
                continue
            unsafe = markup_problems(fragment.template) if fragment.is_html else []
            if unsafe:
                self.problem(item, f"html: {unsafe[0]}")
                continue
            roots = sorted({p.path[0] for p in fragment.template.params} - ATTRIBUTE_ROOTS)
            if roots:
                self.problem(item, f"template parameter {{{roots[0]}...}} names nothing",
                             f"parameters start with one of {', '.join(sorted(ATTRIBUTE_ROOTS))}")
                continue
            fragments[fid] = fragment
        return fragments

    def slots(self, specs: dict, fragments: dict[str, Fragment]) -> dict[str, Slot]:
        slots = {}
        for name, spec in specs.items():
            item = f"slot {name!r}"
            if not (isinstance(name, str) and _SLOT_NAME.match(name)):
                self.problem(item, "name must be 1-64 letters, digits, '_' or '-'",
                             "it is matched as data-personalized-region=\"<name>\"")
                continue
            if not isinstance(spec, dict):
                self.problem(item, f"must be a table, found {_kind(spec)}")
                continue
            self.unknown_keys(spec, "slot", item)
            fallback = None
            if "fallback" in spec:
                fallback = self.fragment_ref(spec["fallback"], fragments, item, "fallback")
                if fallback is not None and any(p.path[0] == "params" for p in fallback.template.params):
                    self.problem(item, f"fallback {fallback.id!r} uses {{params...}}, which only rules provide")
                    fallback = None
            slots[name] = Slot(name, fallback)
        return slots

    def fragment_ref(self, fid: Any, fragments: dict[str, Fragment], item: str, key: str) -> Fragment | None:
        if isinstance(fid, str) and fid in fragments:
            return fragments[fid]
        self.problem(item, f"{key} {fid!r} is not a known fragment", "declare it under [fragments]")
        return None

    # --- rules -----------------------------------------------------------------------------

    def rules(self, specs: Any, slots: dict[str, Slot], fragments: dict[str, Fragment],
              saved_groups: dict) -> tuple[Rule, ...]:
        if not isinstance(specs, list):
            self.problem("rules", f"must be an array of tables, found {_kind(specs)}")
            return ()
        rules, seen = [], set()
        for index, spec in enumerate(specs):
            if not isinstance(spec, dict):
                self.problem(f"rules[{index}]", f"must be a table, found {_kind(spec)}")
                continue
            rid = spec.get("id")
            item = f"rule {rid!r}" if isinstance(rid, str) else f"rules[{index}]"
            if not (isinstance(rid, str) and _ID.match(rid)):
                self.problem(item, "needs an 'id': letters, digits, _ . : - (starting with a letter or digit)")
                continue
            if rid in seen:
                self.problem(item, "id is used by an earlier rule", "rule ids must be unique")
                continue
            seen.add(rid)
            before = len(self.problems)
            rule = self.rule(spec, item, index, slots, fragments, saved_groups)
            if rule is not None and len(self.problems) == before:
                rules.append(rule)
        return tuple(rules)

    def rule(self, spec: dict, item: str, index: int, slots: dict[str, Slot], fragments: dict[str, Fragment],
             saved_groups: dict) -> Rule | None:
        self.unknown_keys(spec, "rule", item)
        slot_names = self.rule_slots(spec, item, slots)
        fragment = self.fragment_ref(spec.get("fragment"), fragments, item, "fragment")
        priority = self.number(spec, "priority", item, 0, integer=True)
        score = self.number(spec, "score", item, 0.0)
        group = spec.get("group")
        if group is not None and not (isinstance(group, str) and _ID.match(group)):
            self.problem(item, f"group must be an id, found {group!r}")
        condition = self.condition(spec, item, saved_groups)
        start, end = self.schedule(spec.get("schedule"), item)
        cap = spec.get("cap", {})
        if not isinstance(cap, dict):
            self.problem(item, f"cap must be a table, found {_kind(cap)}")
            cap = {}
        self.unknown_keys(cap, "cap", f"{item} cap")
        cap_session = self.number(cap, "session", f"{item} cap", None, integer=True, minimum=1)
        cap_visitor = self.number(cap, "visitor", f"{item} cap", None, integer=True, minimum=1)
        holdout = self.number(spec, "holdout", item, 0.0, minimum=0)
        if holdout is not None and holdout > 100:
            self.problem(item, f"holdout is a percentage of visitors, found {holdout}")
        params = spec.get("params", {})
        if not (isinstance(params, dict) and all(isinstance(k, str) and _is_scalar(v) for k, v in params.items())):
            self.problem(item, "params must be a table of strings, numbers or booleans")
            params = {}
        if fragment is not None:
            for param in fragment.template.params:
                if param.path[0] == "params" and (len(param.path) != 2 or param.path[1] not in params):
                    self.problem(item, f"fragment {fragment.id!r} uses {{{param.name}}}, which the rule's params lack")
        if not slot_names or fragment is None or condition is None:
            return None
        return Rule(spec["id"], slot_names, fragment, condition, order=index, priority=priority or 0,
                    score=score or 0.0, group=group, start=start, end=end, cap_session=cap_session,
                    cap_visitor=cap_visitor, holdout=(holdout or 0.0) / 100.0, params=dict(params))

    def rule_slots(self, spec: dict, item: str, slots: dict[str, Slot]) -> tuple[str, ...]:
        if ("slot" in spec) == ("slots" in spec):
            self.problem(item, "needs exactly one of 'slot' or 'slots'")
            return ()
        names = [spec["slot"]] if "slot" in spec else spec["slots"]
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            key = "slot" if "slot" in spec else "slots"
            self.problem(item, f"{key} must be {'a slot name' if key == 'slot' else 'a non-empty array of slot names'}")
            return ()
        unknown = [n for n in names if n not in slots]
        for name in unknown:
            self.problem(item, f"slot {name!r} is not declared", "add it under [slots]")
        return () if unknown else tuple(dict.fromkeys(names))

    def condition(self, spec: dict, item: str, saved_groups: dict) -> Callable[[dict], bool] | None:
        when = spec.get("when", {})
        if not isinstance(when, dict):
            self.problem(item, f"when must be a table (a condition), found {_kind(when)}")
            return None
        issues = validate_condition(when, saved_groups)
        for issue in issues:
            self.problem(item, f"when: {issue}")
        prefix = spec.get("path_prefix")
        if prefix is not None and not (isinstance(prefix, str) and prefix.startswith("/")):
            self.problem(item, f"path_prefix must be a path starting with '/', found {prefix!r}")
            return None
        if issues:
            return None
        matches = compile_condition(when, saved_groups, guarded=False)  # the rules loop guards
        if prefix is None:
            return matches
        return lambda attributes: attributes["request"]["path"].startswith(prefix) and matches(attributes)

    def schedule(self, schedule: Any, item: str) -> tuple[float | None, float | None]:
        if schedule is None:
            return None, None
        if not isinstance(schedule, dict):
            self.problem(item, f"schedule must be a table, found {_kind(schedule)}")
            return None, None
        self.unknown_keys(schedule, "schedule", f"{item} schedule")
        zone = schedule.get("timezone")
        bounds = []
        for key in ("start", "end"):
            try:
                bounds.append(_instant(schedule[key], zone) if key in schedule else None)
            except ValueError as exc:
                self.problem(item, f"schedule {key}: {exc}")
                bounds.append(None)
        start, end = bounds
        if start is not None and end is not None and end <= start:
            self.problem(item, "schedule ends before it starts")
        return start, end

    def number(self, spec: dict, key: str, item: str, default, *, integer: bool = False, minimum: float | None = None):
        if key not in spec:
            return default
        value = spec[key]
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value != value:
            self.problem(item, f"{key} must be {'an integer' if integer else 'a number'}, found {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(item, f"{key} must be at least {minimum}, found {value!r}")
            return default
        return value

    # --- the rest --------------------------------------------------------------------------

    def saved_groups(self, groups: Any) -> dict:
        if not (isinstance(groups, dict) and all(isinstance(k, str) and isinstance(v, list) for k, v in groups.items())):
            self.problem("saved_groups", "must be a table of arrays")
            return {}
        return groups

    def scoring(self, spec: dict) -> ScoringModel:
        self.unknown_keys(spec, "scoring", "scoring")
        weights = self.vector_table(spec, "weights", DEFAULT_WEIGHTS)
        saturation = self.vector_table(spec, "saturation", DEFAULT_SATURATION, positive=True)
        tiers = spec.get("tiers", {"high": 85, "medium": 60})
        if not (isinstance(tiers, dict) and tiers and all(isinstance(k, str) and _is_number(v) and 0 <= v <= 100
                                                         for k, v in tiers.items())):
            self.problem("scoring", "tiers must map tier names to thresholds between 0 and 100")
            tiers = {"high": 85, "medium": 60}
        ordered = sorted(((name, float(threshold)) for name, threshold in tiers.items()), key=lambda t: -t[1])
        if ordered[-1][1] > 0:
            ordered.append(("low", 0.0))
        half_life = self.number(spec, "half_life_days", "scoring", 14.0, minimum=0)
        if half_life == 0:
            self.problem("scoring", "half_life_days must be positive", "profiles lose half their weight per half-life")
            half_life = 14.0
        return ScoringModel(weights, saturation, tuple(ordered), float(half_life))

    def vector_table(self, spec: dict, key: str, defaults: dict, positive: bool = False) -> dict:
        values = dict(defaults)
        given = spec.get(key, {})
        if not isinstance(given, dict):
            self.problem("scoring", f"{key} must be a table, found {_kind(given)}")
            return values
        for name, value in given.items():
            if name not in VECTORS:
                self.problem("scoring", f"{key}: unknown vector {name!r}", f"vectors: {', '.join(VECTORS)}")
            elif not _is_number(value) or value < 0 or (positive and value == 0):
                self.problem("scoring", f"{key}.{name} must be a {'positive' if positive else 'non-negative'} number")
            else:
                values[name] = float(value)
        return values

    def signals(self, spec: dict) -> Signals:
        self.unknown_keys(spec, "signals", "signals")
        stages = spec.get("stages", list(DEFAULT_STAGES))
        if not (isinstance(stages, list) and len(stages) >= 2 and all(isinstance(s, str) for s in stages)
                and len(set(stages)) == len(stages)):
            self.problem("signals", "stages must be an array of at least two distinct names")
            stages = list(DEFAULT_STAGES)
        search = spec.get("search_params", ["q"])
        if not (isinstance(search, list) and all(isinstance(s, str) for s in search)):
            self.problem("signals", "search_params must be an array of query parameter names")
            search = ["q"]
        pages = spec.get("pages", [])
        if not isinstance(pages, list):
            self.problem("signals", f"pages must be an array of tables, found {_kind(pages)}")
            pages = []
        compiled = [p for p in (self.page(index, page, stages) for index, page in enumerate(pages)) if p]
        return Signals(tuple(stages), tuple(search), tuple(compiled))

    def page(self, index: int, spec: Any, stages: list[str]) -> PageRule | None:
        item = f"signals.pages[{index}]"
        if not isinstance(spec, dict):
            self.problem(item, f"must be a table, found {_kind(spec)}")
            return None
        self.unknown_keys(spec, "page", item)
        try:
            pattern = re.compile(spec.get("pattern"))
        except (re.error, TypeError, OverflowError, RecursionError) as exc:  # a{9999999999}, 2000 nested groups
            self.problem(item, f"pattern is not a regular expression: {exc}")
            return None
        stage = spec.get("stage")
        if stage is not None and stage not in stages:
            self.problem(item, f"stage {stage!r} is not one of the signals' stages", f"stages: {', '.join(stages)}")
            return None
        for key in ("category", "cart_add"):
            if key in spec and not isinstance(spec[key], str):
                self.problem(item, f"{key} must be a string")
                return None
        for key in ("purchase", "trial"):
            if key in spec and not isinstance(spec[key], bool):
                self.problem(item, f"{key} must be true or false")
                return None
        return PageRule(pattern, stages.index(stage) if stage is not None else None, spec.get("category"),
                        spec.get("cart_add"), spec.get("purchase", False), spec.get("trial", False))

    def login_cookie(self, signals: dict) -> str | None:
        value = signals.get("login_cookie")
        if value is None or _is_cookie_name(value):
            return value
        self.problem("signals", f"login_cookie must be a cookie name, found {value!r}")
        return None

    def consent(self, spec: Any) -> ConsentPolicy:
        if not isinstance(spec, dict):
            self.problem("consent", f"must be a table, found {_kind(spec)}")
            return NOBODY   # a broken consent setting must not turn into consent for everyone
        self.unknown_keys(spec, "consent", "consent")
        cookie, value = spec.get("cookie"), spec.get("value")
        if cookie is not None and not _is_cookie_name(cookie):
            self.problem("consent", f"cookie must be a cookie name, found {cookie!r}")
            return NOBODY   # a broken consent setting must not turn into consent for everyone
        if value is not None and (cookie is None or not isinstance(value, str) or not value):
            self.problem("consent", "value must be a non-empty string, and needs 'cookie'")
            return NOBODY
        return ConsentPolicy(cookie, value)

    def events(self, spec: Any) -> EventLimits | None:
        if spec is None:
            return None
        if not isinstance(spec, dict):
            self.problem("events", f"must be a table, found {_kind(spec)}")
            return None
        self.unknown_keys(spec, "events", "events")
        default = EventLimits()
        path = spec.get("path", default.path)
        if not (isinstance(path, str) and _EVENTS_PATH.match(path)):
            self.problem("events", f"path must be a URL path such as '/__pz/events', found {path!r}",
                         "letters, digits and / _ . ~ - only")
            return None
        beacon = spec.get("beacon", default.beacon)
        if not isinstance(beacon, bool):
            self.problem("events", "beacon must be true or false")
            return None
        max_events = self.number(spec, "max_events", "events", default.max_events, integer=True, minimum=1)
        max_bytes = self.number(spec, "max_bytes", "events", default.max_bytes, integer=True, minimum=256)
        rate = self.number(spec, "rate_per_minute", "events", default.rate_per_minute, integer=True, minimum=1)
        if beacon and max_events < BEACON_BATCH:
            self.problem("events", f"max_events ({max_events}) must be at least {BEACON_BATCH} with the beacon on",
                         f"the beacon sends up to {BEACON_BATCH} events a request")
            return None
        if max_events > MAX_EVENTS_LIMIT or max_bytes > MAX_BYTES_LIMIT:
            self.problem("events", f"max_events is at most {MAX_EVENTS_LIMIT} and max_bytes at most {MAX_BYTES_LIMIT}",
                         "a batch is read into the isolate's memory (128 MB)")
            return None
        if rate < max_events:
            self.problem("events", f"rate_per_minute ({rate}) must allow one full batch (max_events = {max_events})")
            return None
        client = self.number(spec, "client_rate_per_minute", "events", max(default.client_rate_per_minute, rate),
                             integer=True, minimum=1)
        isolate = self.number(spec, "isolate_rate_per_minute", "events", max(default.isolate_rate_per_minute, client),
                              integer=True, minimum=1)
        if not rate <= client <= isolate:
            self.problem("events", f"the limits must widen: rate_per_minute ({rate}) <= client_rate_per_minute "
                                   f"({client}) <= isolate_rate_per_minute ({isolate})",
                         "a client may hold several visitors, an isolate many clients")
            return None
        return EventLimits(path, beacon, max_events, max_bytes, rate, client, isolate)

    def products(self, specs: dict) -> dict[str, dict]:
        products = {}
        for pid, spec in specs.items():
            if not (isinstance(spec, dict) and all(isinstance(k, str) and _is_scalar(v) for k, v in spec.items())):
                self.problem(f"product {pid!r}", "must be a table of strings, numbers or booleans")
                continue
            products[pid] = {**spec, "id": pid}
        return products

    def cache_policy(self, cache: dict, key: str, default: CachePolicy) -> CachePolicy:
        item = f"cache.{key}"
        spec = cache.get(key, {})
        if not isinstance(spec, dict):
            self.problem(item, f"must be a table, found {_kind(spec)}")
            return default
        self.unknown_keys(spec, "cache_policy", item)
        values = {}
        for name in ("fresh", "swr", "sie", "negative"):
            value = self.number(spec, name, item, None, minimum=0)
            if value is not None:
                values[name] = value
        try:
            return replace(default, **values)
        except ValueError as exc:  # the policy's own checks: infinity is a number, not a number of seconds
            self.problem(item, str(exc))
            return default

    def max_active(self, spec: dict) -> int:
        self.unknown_keys(spec, "engine", "engine")
        return self.number(spec, "max_active", "engine", DEFAULT_MAX_ACTIVE, integer=True, minimum=1)


def _instant(value: Any, zone: Any) -> float:
    """Epoch seconds from a number, a TOML datetime or an ISO 8601 string (naive ones in `zone`)."""
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"expected a date-time, found {_kind(value)}")
    if value.tzinfo is None:
        if not isinstance(zone, str):
            raise ValueError("a date-time without an offset needs schedule.timezone")
        try:
            value = value.replace(tzinfo=ZoneInfo(zone))
        except Exception:
            raise ValueError(f"unknown timezone {zone!r}") from None
    return value.timestamp()


def _is_cookie_name(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}", value) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _kind(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string"}.get(type(value), type(value).__name__)
