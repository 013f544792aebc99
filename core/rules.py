"""Trigger rules, compiled, and the choice of at most one fragment per slot.

For each rule, in file order: is it scheduled now, under its frequency caps, does its
condition hold, has its first-match group already been taken? Rules that pass
compete for slots: highest `priority` first, ties by the rule's `score`, then by
file order; at most `max_active` rules fire per page. A visitor in a rule's holdout
sees the slot's fallback, recorded as the rule's control. Every rule's outcome is
recorded with its reason, for the decision trace.

This loop runs for every personalized page, about 2.6x slower in Pyodide than on
CPython: it avoids per-rule allocations and calls where it can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .bucketing import hash_value, in_range
from .fragments import Fragment

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

    @property
    def gated(self) -> bool:
        """Whether a schedule or a frequency cap must be checked before the condition."""
        return not (self.start is None and self.end is None and self.cap_session is None and self.cap_visitor is None)

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
    skipped: list[tuple[str, str]]                      # (rule id, reason)

    def skip(self, outcome: Outcome, reason: str) -> None:
        self.winners.remove(outcome)
        self.skipped.append((outcome.rule.id, reason))


class CompiledRules:
    """Rules with their per-request checks prepared once, when the bundle is compiled."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules
        self._plan = tuple((rule, rule.condition, rule.gated, rule.group) for rule in rules)
        by_rank = sorted(rules, key=lambda r: r.rank)
        self._position = {rule.id: position for position, rule in enumerate(by_rank)}

    def evaluate(self, attributes: dict, *, now: float, visitor_id: str | None,
                 impressions: Callable[[str], tuple[int, int]], max_active: int) -> Evaluation:
        skipped: list[tuple[str, str]] = []
        candidates: list[Rule] = []
        taken_groups: dict[str, str] = {}
        for rule, condition, gated, group in self._plan:
            if gated:
                reason = _gate(rule, now, impressions)
                if reason is not None:
                    skipped.append((rule.id, reason))
                    continue
            try:
                met = condition(attributes)
            except Exception:  # compiled conditions do not raise; a foreign attribute value might
                met = False
            if not met:
                skipped.append((rule.id, CONDITION_NOT_MET))
                continue
            if group is not None:
                winner = taken_groups.get(group)
                if winner is not None:
                    skipped.append((rule.id, f"group {group!r} already chose {winner!r}"))
                    continue
                taken_groups[group] = rule.id
            candidates.append(rule)
        return Evaluation(self._award(candidates, skipped, visitor_id, max_active), skipped)

    def _award(self, candidates: list[Rule], skipped: list[tuple[str, str]], visitor_id: str | None,
               max_active: int) -> list[Outcome]:
        position = self._position
        candidates.sort(key=lambda rule: position[rule.id])
        owners: dict[str, str] = {}
        taken: dict[str, str] = {}       # reason by owner, built once
        winners: list[Outcome] = []
        full = f"max_active={max_active} rules already fired"
        for rule in candidates:
            slots = rule.slots
            free = slots if len(slots) == 1 and slots[0] not in owners else tuple(s for s in slots if s not in owners)
            if not free:
                owner = owners[slots[0]] if len(slots) == 1 else tuple(sorted({owners[s] for s in slots}))
                reason = taken.get(owner)
                if reason is None:
                    names = (owner,) if isinstance(owner, str) else owner
                    reason = taken[owner] = f"slot taken by {', '.join(map(repr, names))}"
                skipped.append((rule.id, reason))
            elif len(winners) >= max_active:
                skipped.append((rule.id, full))
            else:
                for slot in free:
                    owners[slot] = rule.id
                winners.append(Outcome(rule, "control" if rule.is_held_out(visitor_id) else "fired", free))
        return winners


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
