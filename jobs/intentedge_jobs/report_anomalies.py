"""The KPI report's anomaly screen: visitors whose events no real shopper sends, found by the bounds
below (docs/events.md, "Anomalies"), counted, sampled and left out of every metric.

    screen(tally, max_value) -> Screening      which visitors are left out, and why
    Screening.to_json(tally)  -> report.json's "anomalies"

Events are claims, and a visitor id costs one GET, so a flood of forged goal events can come from
many throwaway visitors or from one. The report counts conversions, not events: one forged purchase
converts a session as a thousand do, so summing less would not help. The screen flags visitors, and
every metric leaves a flagged visitor out whole: their sessions, exposures and page decisions.

    rule                 flags                                                          looks at
    goal_burst           a session with more goal events than SESSION_GOALS allows      every session
    event_volume         a session with more than MAX_SESSION_EVENTS events             every session
    value_bound          a session with a goal event worth more than max_value          every session
    value_outlier        a session whose largest goal value is more than VALUE_FACTOR   what the rules above left
                         times the median of such values (with MIN_VALUES of them)
    one_line_converters  visitors whose whole life is one line with a goal event, once  what the rules above left
                         they are FLOOD_VISITORS and FLOOD_SHARE of the converters
    goal_without_page    sessions with goal events and no page decision in any line     what the rules above left
                         (counted only: conversion by tier leaves them out already)

The median and the share are taken over what the earlier rules left, so a flood those rules catch
cannot hide a second one by moving them. A flood larger than the clean traffic, whose every visitor
stays within the bounds, does move them; the bounds are what holds then.
"""

from __future__ import annotations

import heapq
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Tally

SESSION_GOALS = {"purchase": 5, "trial_start": 5}   # one-off goals; the others repeat while browsing
MAX_SESSION_EVENTS = 1_000          # about a hundred pages' views, exposures and clicks
DEFAULT_MAX_VALUE = 100_000.0       # one goal event's value, in the site's currency (--max-value)
VALUE_FACTOR = 100
MIN_VALUES = 20                     # sessions with a goal value below which there is no median to trust
FLOOD_VISITORS = 50
FLOOD_SHARE = 0.05
SAMPLE = 10                         # visitor ids listed per rule


@dataclass
class Finding:
    """One rule's catch: the sessions and visitors it flags, and whether they are left out."""

    rule: str
    excluded: bool = True
    sessions: int = 0
    visitors: set[int] = field(default_factory=set)


@dataclass
class Screening:
    goal: str
    max_value: float
    findings: list[Finding]
    excluded: bytearray                # per visitor number: 1 if left out
    median_value: float | None

    def what(self, rule: str) -> str:
        """The rule in one line, with its bound."""
        goal, bound = self.goal, SESSION_GOALS.get(self.goal)
        median = "none: too few values" if self.median_value is None else f"{self.median_value:,.2f}"
        return {
            "goal_burst": f"more than {bound} {goal} events in one session" if bound is not None else
                          f"none: {goal} events repeat while browsing (event_volume bounds them)",
            "event_volume": f"more than {MAX_SESSION_EVENTS:,} events in one session",
            "value_bound": f"a {goal} event worth more than {self.max_value:,.2f}",
            "value_outlier": f"a {goal} value more than {VALUE_FACTOR} times the median ({median})",
            "one_line_converters": f"visitors whose whole life is one line with a {goal} event; left out once they "
                                   f"are {FLOOD_VISITORS} and {FLOOD_SHARE:.0%} of the converters",
            "goal_without_page": f"{goal} events in a session without a page decision; counted only (conversion "
                                 "by tier leaves these sessions out already)",
        }[rule]

    def to_json(self, tally: Tally) -> dict:
        ids = list(tally.visitors)     # by visitor number
        per_visitor = _per_visitor(tally)
        left_out = [v for v, out in enumerate(self.excluded) if out]
        sessions = [s for s, v in enumerate(tally.session_visitor) if self.excluded[v]]
        goal_events = sum(tally.session_goals)
        goal_value = sum(tally.session_value_sum)
        return {
            "bounds": {
                "session_goals": SESSION_GOALS.get(self.goal), "session_events": MAX_SESSION_EVENTS,
                "goal_value": self.max_value, "value_factor": VALUE_FACTOR, "min_values": MIN_VALUES,
                "median_goal_value": _money(self.median_value),
                "one_line_converters": {"visitors": FLOOD_VISITORS, "share": FLOOD_SHARE},
            },
            "rules": [{"rule": f.rule, "what": self.what(f.rule), "excluded": f.excluded, "sessions": f.sessions,
                       "visitors": len(f.visitors), "sample": _sample(f, ids, per_visitor)}
                      for f in self.findings],
            "excluded": {
                "visitors": len(left_out), "sessions": len(sessions),
                "lines": sum(tally.visitor_lines[v] for v in left_out),
                "page_decisions": sum(1 for v in tally.decisions.values() if self.excluded[v]),
                "events": sum(tally.session_events[s] for s in sessions),
                "goal_events": sum(tally.session_goals[s] for s in sessions),
                "goal_value": _money(sum(tally.session_value_sum[s] for s in sessions)),
            },
            "read": {"visitors": len(ids), "sessions": len(tally.session_visitor), "events": tally.seq,
                     "goal_events": goal_events, "goal_value": _money(goal_value)},
        }


def screen(tally: Tally, max_value: float = DEFAULT_MAX_VALUE) -> Screening:
    """Apply the rules in order (module docstring); the visitors they flag are left out."""
    excluded = bytearray(len(tally.visitors))
    findings = _session_rules(tally, max_value)
    for finding in findings:
        _leave_out(finding, excluded)
    median, outliers = _value_outliers(tally, excluded)
    _leave_out(outliers, excluded)
    one_line = _one_line_converters(tally, excluded)
    _leave_out(one_line, excluded)
    findings += [outliers, one_line, _goal_without_page(tally, excluded)]
    return Screening(tally.goal, max_value, findings, excluded, median)


def _leave_out(finding: Finding, excluded: bytearray) -> None:
    if finding.excluded:
        for visitor in finding.visitors:
            excluded[visitor] = 1


def _session_rules(tally: Tally, max_value: float) -> list[Finding]:
    """goal_burst, event_volume and value_bound, over every session."""
    goal_bound = SESSION_GOALS.get(tally.goal)
    measures = (("goal_burst", tally.session_goals, goal_bound if goal_bound is not None else float("inf")),
                ("event_volume", tally.session_events, MAX_SESSION_EVENTS),
                ("value_bound", tally.session_value, max_value))
    findings = []
    for rule, per_session, bound in measures:
        finding = Finding(rule)
        for session, measure in enumerate(per_session):
            if measure > bound:
                finding.sessions += 1
                finding.visitors.add(tally.session_visitor[session])
        findings.append(finding)
    return findings


def _value_outliers(tally: Tally, excluded: bytearray) -> tuple[float | None, Finding]:
    finding = Finding("value_outlier")
    values = [(session, value) for session, value in enumerate(tally.session_value)
              if value >= 0 and not excluded[tally.session_visitor[session]]]
    if len(values) < MIN_VALUES:
        return None, finding
    median = statistics.median(value for _, value in values)
    for session, value in values:
        if value > VALUE_FACTOR * median:
            finding.sessions += 1
            finding.visitors.add(tally.session_visitor[session])
    return median, finding


def _one_line_converters(tally: Tally, excluded: bytearray) -> Finding:
    """Counted always; left out only in numbers (FLOOD_VISITORS and FLOOD_SHARE of the converters)."""
    converters = [v for v, goal in enumerate(tally.visitor_goal) if goal >= 0 and not excluded[v]]
    one_line = {v for v in converters if tally.visitor_lines[v] == 1}
    finding = Finding("one_line_converters", sessions=len(one_line), visitors=one_line)
    finding.excluded = len(one_line) >= FLOOD_VISITORS and len(one_line) >= FLOOD_SHARE * len(converters)
    return finding


def _goal_without_page(tally: Tally, excluded: bytearray) -> Finding:
    finding = Finding("goal_without_page", excluded=False)
    for session, visitor in enumerate(tally.session_visitor):
        if tally.session_goals[session] and not tally.session_tiers[session] and not excluded[visitor]:
            finding.sessions += 1
            finding.visitors.add(visitor)
    return finding


def _per_visitor(tally: Tally) -> list[list]:
    """[sessions, events, goal events, largest goal value] per visitor number."""
    rows = [[0, 0, 0, -1.0] for _ in tally.visitors]
    for session, visitor in enumerate(tally.session_visitor):
        row = rows[visitor]
        row[0] += 1
        row[1] += tally.session_events[session]
        row[2] += tally.session_goals[session]
        row[3] = max(row[3], tally.session_value[session])
    return rows


def _sample(finding: Finding, ids: list[str], per_visitor: list[list]) -> list[dict]:
    """The SAMPLE visitors the rule flags that weigh most (goal events, then value, then events), by id."""
    def weight(visitor: int) -> tuple:
        sessions, events, goals, value = per_visitor[visitor]
        return -goals, -value, -events, ids[visitor]

    return [{"visitor": ids[v], "sessions": per_visitor[v][0], "events": per_visitor[v][1],
             "goal_events": per_visitor[v][2], "largest_goal_value": _money(per_visitor[v][3])}
            for v in heapq.nsmallest(SAMPLE, finding.visitors, key=weight)]


def _money(value: float | None) -> float | None:
    return None if value is None or value < 0 else round(value, 2)
