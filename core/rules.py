"""Trigger rules, compiled, and the choice of at most one fragment per slot.

For each rule, in file order: is it scheduled now, under its frequency caps, does its
condition hold, has its first-match group already been taken, is the visitor in its
holdout? Rules that fire compete for slots: highest `priority` first, ties by the
rule's `score`, then by file order; at most `max_active` rules fire per page. A
held-out visitor sees the slot's fallback, recorded as the rule's control.
Every rule's outcome is recorded, with the reason, for the decision trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .bucketing import hash_value, in_range
from .fragments import Fragment

HOLDOUT_HASH_VERSION = 2


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

    def is_held_out(self, visitor_id: str | None) -> bool:
        """Deterministic and sticky: the same visitor is always on the same side of a rule."""
        if self.holdout <= 0 or not visitor_id:
            return False
        n = hash_value(self.id, visitor_id, HOLDOUT_HASH_VERSION)
        return n is not None and in_range(n, (0.0, self.holdout))


@dataclass
class Outcome:
    """What happened to one rule on this request."""

    rule: Rule
    status: str           # fired | control | skipped
    reason: str
    slots: tuple[str, ...] = ()



def evaluate(rules: tuple[Rule, ...], attributes: dict, *, now: float, visitor_id: str | None,
             impressions: Callable[[str], tuple[int, int]], max_active: int) -> list[Outcome]:
    """Each rule's outcome, in file order. Fired and control outcomes hold the slots they won."""
    outcomes: dict[str, Outcome] = {}
    candidates: list[Rule] = []
    taken_groups: dict[str, str] = {}
    for rule in rules:
        reason = _blocked(rule, attributes, now, impressions)
        if reason is None and rule.group is not None:
            winner = taken_groups.get(rule.group)
            if winner is not None:
                reason = f"group {rule.group!r} already chose {winner!r}"
            else:
                taken_groups[rule.group] = rule.id
        if reason is not None:
            outcomes[rule.id] = Outcome(rule, "skipped", reason)
        else:
            candidates.append(rule)

    slot_owner: dict[str, str] = {}
    active = 0
    for rule in sorted(candidates, key=lambda r: r.rank):
        free = tuple(slot for slot in rule.slots if slot not in slot_owner)
        if not free:
            owners = sorted({slot_owner[slot] for slot in rule.slots})
            outcomes[rule.id] = Outcome(rule, "skipped", f"slot taken by {', '.join(map(repr, owners))}")
        elif active >= max_active:
            outcomes[rule.id] = Outcome(rule, "skipped", f"max_active={max_active} rules already fired")
        else:
            active += 1
            for slot in free:
                slot_owner[slot] = rule.id
            if rule.is_held_out(visitor_id):
                outcomes[rule.id] = Outcome(rule, "control", f"held out ({rule.holdout:.0%} holdout)", free)
            else:
                outcomes[rule.id] = Outcome(rule, "fired", "condition met", free)
    return [outcomes[rule.id] for rule in rules]


def _blocked(rule: Rule, attributes: dict, now: float, impressions: Callable[[str], tuple[int, int]]) -> str | None:
    """Why the rule cannot fire, or None if it can."""
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
    if not rule.condition(attributes):
        return "condition not met"
    return None
