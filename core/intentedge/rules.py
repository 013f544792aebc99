"""Trigger rules, compiled, and the choice of at most one fragment per slot.

A rule can fire when it is scheduled now, under its frequency caps, its condition
holds, and no earlier rule (in file order) of its first-match group can fire.
Rules that can fire compete for slots: highest `priority` first, ties by the rule's
`score`, then by file order; at most `max_active` rules fire per page. A visitor in
a rule's holdout sees the slot's fallback, recorded as the rule's control.

The rules are visited in that rank order and a rule is only checked while it could
still win something: once its slots are taken, or `max_active` rules have fired, it
is skipped with that reason and its condition is never evaluated. The choices are
the same as checking every rule first; a page with 100 rules usually evaluates a
handful of conditions. (This loop runs for every personalized page, and Pyodide
runs Python about 2.6x slower than CPython.) Every rule gets a reason in the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from intentedge.bucketing import hash_value, in_range
from intentedge.fragments import Fragment

HOLDOUT_HASH_VERSION = 2
CONDITION_NOT_MET = "condition not met"


@dataclass(frozen=True)
class Rule:
    id: str
    slots: tuple[str, ...]
    fragment: Fragment
    condition: Callable[[dict], bool] = field(compare=False)   # compiled from the rule's `when`
    order: int = 0
    priority: int = 0
    score: float = 0.0
    group: str | None = None
    start: float | None = None       # epoch seconds, inclusive
    end: float | None = None         # epoch seconds, exclusive
    cap_session: int | None = None
    cap_visitor: int | None = None
    holdout: float = 0.0             # share of visitors held out, 0..1
    params: dict = field(default_factory=dict)

    @property
    def rank(self) -> tuple:
        return (-self.priority, -self.score, self.order)

    # Whether a schedule or a frequency cap must be checked before the condition.
    gated: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gated", not (self.start is None and self.end is None
                                               and self.cap_session is None and self.cap_visitor is None))

    def is_held_out(self, visitor_id: str | None) -> bool:
        """Deterministic and sticky: the same visitor is always on the same side of a rule."""
        if self.holdout <= 0 or not visitor_id:
            return False
        n = hash_value(self.id, visitor_id, HOLDOUT_HASH_VERSION)
        return n is not None and in_range(n, (0.0, self.holdout))


@dataclass
class Outcome:
    """A rule that won slots on this request: shown ("fired") or held out ("control")."""

    rule: Rule
    status: str
    slots: tuple[str, ...]


@dataclass
class Evaluation:
    winners: list[Outcome]                              # in rank order
    skipped: dict[str, list[str]]                       # reason -> rule ids, as the trace shows them

    def skip(self, outcome: Outcome, reason: str) -> None:
        self.winners.remove(outcome)
        self.skipped.setdefault(reason, []).append(outcome.rule.id)


class CompiledRules:
    """Rules with their per-request checks prepared once, when the bundle is compiled."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules
        self._by_rank = tuple(sorted(rules, key=lambda r: r.rank))
        self._ids_by_rank = tuple(rule.id for rule in self._by_rank)
        members: dict[str, list[Rule]] = {}
        self._earlier: dict[str, tuple[Rule, ...]] = {}   # earlier members (file order) of each rule's group
        for rule in rules:
            if rule.group is not None:
                self._earlier[rule.id] = tuple(members.setdefault(rule.group, []))
                members[rule.group].append(rule)

    def evaluate(self, attributes: dict, *, now: float, visitor_id: str | None,
                 impressions: Callable[[str], tuple[int, int]], max_active: int) -> Evaluation:
        verdicts: dict[str, str | None] = {}   # rule id -> why it cannot fire (None: it can), memoized

        def blocked(rule: Rule) -> str | None:
            if rule.id in verdicts:
                return verdicts[rule.id]
            reason = _gate(rule, now, impressions) if rule.gated else None
            if reason is None:
                try:
                    met = rule.condition(attributes)
                except Exception:  # compiled conditions do not raise; a foreign attribute value might
                    met = False
                reason = None if met else CONDITION_NOT_MET
            verdicts[rule.id] = reason
            return reason

        owners: dict[str, str] = {}
        taken: dict[str, str] = {}   # "slot taken by ..." reason per owner, built once
        winners: list[Outcome] = []
        skipped: dict[str, list[str]] = {}
        for index, rule in enumerate(self._by_rank):
            if len(winners) >= max_active:
                skipped[f"max_active={max_active} rules already fired"] = list(self._ids_by_rank[index:])
                break
            slots = rule.slots
            if len(slots) == 1:
                owner = owners.get(slots[0])
                free = slots if owner is None else ()
            else:
                free = tuple(slot for slot in slots if slot not in owners)
                owner = None if free else ", ".join(map(repr, dict.fromkeys(owners[slot] for slot in slots)))
            if not free:
                reason = taken.get(owner)
                if reason is None:
                    reason = taken[owner] = f"slot taken by {owner!r}" if len(slots) == 1 else f"slot taken by {owner}"
                skipped.setdefault(reason, []).append(rule.id)
                continue
            reason = blocked(rule)
            if reason is None and rule.group is not None:
                first = next((m for m in self._earlier[rule.id] if blocked(m) is None), None)
                if first is not None:
                    reason = f"group {rule.group!r} already chose {first.id!r}"
            if reason is not None:
                skipped.setdefault(reason, []).append(rule.id)
                continue
            for slot in free:
                owners[slot] = rule.id
            winners.append(Outcome(rule, "control" if rule.is_held_out(visitor_id) else "fired", free))
        return Evaluation(winners, skipped)


def _gate(rule: Rule, now: float, impressions: Callable[[str], tuple[int, int]]) -> str | None:
    """Why a scheduled or capped rule cannot fire now, or None if it can."""
    if rule.start is not None and now < rule.start:
        return "not started yet"
    if rule.end is not None and now >= rule.end:
        return "ended"
    if rule.cap_session is not None or rule.cap_visitor is not None:
        in_session, for_visitor = impressions(rule.id)
        if rule.cap_session is not None and in_session >= rule.cap_session:
            return f"frequency cap: {in_session} of {rule.cap_session} this session"
        if rule.cap_visitor is not None and for_visitor >= rule.cap_visitor:
            return f"frequency cap: {for_visitor} of {rule.cap_visitor} for this visitor"
    return None
