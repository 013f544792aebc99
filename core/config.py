"""The config bundle: slots, fragments and rules, validated and compiled in one pass.

The same `compile_bundle` runs in the CLI (strict: unknown keys are typos and are
rejected) and at the edge (lenient: a newer minor version may add keys, which are
ignored). Both see the same plain data: the TOML file as parsed, or the payload of
the config envelope read from KV.

    [slots.hero]
    fallback = "hero-default"        # optional; without it the origin's content stays

    [fragments.hero-default]
    html = "<h2>Welcome</h2>"        # or text = "...", exactly one of the two
    op = "inner"                     # inner | append | prepend | before | after | replace

    [[rules]]
    id = "guide-on-products"
    slot = "hero"
    fragment = "camera-guide"
    path_prefix = "/products/"       # the first matching rule of a slot wins
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, Problem
from .fragments import ContentType, Fragment, Operation

_SLOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
_TOP_LEVEL = {"slots", "fragments", "rules"}
_SLOT_KEYS = {"fallback"}
_FRAGMENT_KEYS = {"html", "text", "op"}
_RULE_KEYS = {"id", "slot", "fragment", "path_prefix"}
_OPERATION_VALUES = {op.value for op in Operation}
_OPERATIONS = ", ".join(op.value for op in Operation)


@dataclass(frozen=True)
class Rule:
    id: str
    slot: str
    fragment: Fragment
    path_prefix: str

    def matches(self, path: str) -> bool:
        return path.startswith(self.path_prefix)


@dataclass(frozen=True)
class Slot:
    name: str
    fallback: Fragment | None
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Choice:
    """The fragment chosen for one slot, and the rule that chose it (None: the fallback)."""

    slot: str
    fragment: Fragment
    rule_id: str | None


@dataclass(frozen=True)
class Bundle:
    slots: dict[str, Slot] = field(default_factory=dict)

    def choose(self, path: str) -> list[Choice]:
        """One choice per slot that has something to inject for this path."""
        choices = []
        for slot in self.slots.values():
            rule = next((r for r in slot.rules if r.matches(path)), None)
            if rule is not None:
                choices.append(Choice(slot.name, rule.fragment, rule.id))
            elif slot.fallback is not None:
                choices.append(Choice(slot.name, slot.fallback, None))
        return choices


def compile_bundle(data: Any, *, source: str, strict: bool = True) -> Bundle:
    """Validate plain config data and compile it; raise ConfigError listing every problem."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("config", f"must be a table, found {_kind(data)}")])
    if strict:
        _unknown_keys(data, _TOP_LEVEL, "config", problems)
    fragments = _fragments(_table(data, "fragments", problems), strict, problems)
    slot_specs = _table(data, "slots", problems)
    rules = _rules(data.get("rules", []), slot_specs, fragments, strict, problems)
    slots = {}
    for name, spec in slot_specs.items():
        item = f"slot {name!r}"
        if not (isinstance(name, str) and _SLOT_NAME.match(name)):
            problems.append(Problem(item, "name must be 1-64 letters, digits, '_' or '-'",
                                    "it is matched as data-personalized-region=\"<name>\""))
            continue
        if not isinstance(spec, dict):
            problems.append(Problem(item, f"must be a table, found {_kind(spec)}"))
            continue
        if strict:
            _unknown_keys(spec, _SLOT_KEYS, item, problems)
        fallback = _fragment_ref(spec.get("fallback"), fragments, item, "fallback", problems, optional=True)
        slots[name] = Slot(name, fallback, tuple(r for r in rules if r.slot == name))
    if problems:
        raise ConfigError(source, problems)
    return Bundle(slots)


def _fragments(specs: dict, strict: bool, problems: list[Problem]) -> dict[str, Fragment]:
    fragments = {}
    for fid, spec in specs.items():
        item = f"fragment {fid!r}"
        if not (isinstance(fid, str) and _ID.match(fid)):
            problems.append(Problem(item, "id must start with a letter or digit and use only letters, digits, _ . : -"))
            continue
        if not isinstance(spec, dict):
            problems.append(Problem(item, f"must be a table, found {_kind(spec)}"))
            continue
        if strict:
            _unknown_keys(spec, _FRAGMENT_KEYS, item, problems)
        kinds = [ct for ct in ContentType if ct.value in spec]
        if len(kinds) != 1:
            problems.append(Problem(item, "needs exactly one of 'html' or 'text'",
                                    "'html' is inserted as markup, 'text' is escaped"))
            continue
        content = spec[kinds[0].value]
        if not isinstance(content, str):
            problems.append(Problem(item, f"{kinds[0].value} must be a string, found {_kind(content)}"))
            continue
        op = spec.get("op", Operation.INNER.value)
        if not isinstance(op, str) or op not in _OPERATION_VALUES:
            problems.append(Problem(item, f"unknown op {op!r}", f"use one of {_OPERATIONS}"))
            continue
        fragments[fid] = Fragment(fid, content, kinds[0], Operation(op))
    return fragments


def _rules(specs: Any, slots: dict, fragments: dict[str, Fragment], strict: bool,
           problems: list[Problem]) -> list[Rule]:
    if not isinstance(specs, list):
        problems.append(Problem("rules", f"must be an array of tables, found {_kind(specs)}"))
        return []
    rules, seen = [], set()
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            problems.append(Problem(f"rules[{index}]", f"must be a table, found {_kind(spec)}"))
            continue
        rid = spec.get("id")
        item = f"rule {rid!r}" if isinstance(rid, str) else f"rules[{index}]"
        if not (isinstance(rid, str) and _ID.match(rid)):
            problems.append(Problem(item, "needs an 'id': letters, digits, _ . : - (starting with a letter or digit)"))
            continue
        if rid in seen:
            problems.append(Problem(item, "id is used by an earlier rule", "rule ids must be unique"))
            continue
        seen.add(rid)
        if strict:
            _unknown_keys(spec, _RULE_KEYS, item, problems)
        slot = spec.get("slot")
        if not isinstance(slot, str) or slot not in slots:
            problems.append(Problem(item, f"slot {slot!r} is not declared", "add it under [slots]"))
            continue
        fragment = _fragment_ref(spec.get("fragment"), fragments, item, "fragment", problems)
        prefix = spec.get("path_prefix")
        if not (isinstance(prefix, str) and prefix.startswith("/")):
            problems.append(Problem(item, f"path_prefix must be a path starting with '/', found {prefix!r}"))
            continue
        if fragment is not None:
            rules.append(Rule(rid, slot, fragment, prefix))
    return rules


def _fragment_ref(fid: Any, fragments: dict[str, Fragment], item: str, key: str,
                  problems: list[Problem], optional: bool = False) -> Fragment | None:
    if fid is None and optional:
        return None
    if isinstance(fid, str) and fid in fragments:
        return fragments[fid]
    problems.append(Problem(item, f"{key} {fid!r} is not a known fragment", "declare it under [fragments]"))
    return None


def _table(data: dict, key: str, problems: list[Problem]) -> dict:
    value = data.get(key, {})
    if isinstance(value, dict):
        return value
    problems.append(Problem(key, f"must be a table, found {_kind(value)}"))
    return {}


def _unknown_keys(spec: dict, known: set[str], item: str, problems: list[Problem]) -> None:
    for key in spec:
        if key not in known:
            problems.append(Problem(item, f"unknown key {key!r}", f"known keys: {', '.join(sorted(known))}"))


def _kind(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string"}.get(type(value), type(value).__name__)
