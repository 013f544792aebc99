"""`intentedge report`: what personalization did, read from the collector's event files.

    intentedge report events.jsonl [more.jsonl ...] --out report/ [--config demo/config.toml] [--goal purchase]
                      [--max-value 100000]

Input: the collector's JSON Lines (gzip if a name ends in .gz), one stored line per accepted batch,
read with the events' vocabulary (intentedge/events/vocabulary.py: read_line). The config, when
given, is the site's compiled bundle (configfile.read_config_file): its tiers and its rules.

Output: DIR/report.json (the numbers) and DIR/report.html (one self-contained page, report_html).

What is counted (every rate with a 95 % interval; report_stats holds the formulas):

  order        events by receivedAt, then file and line, then position in the line's events array
  conversion   per session (userId + sessionId): converted = any goal event in it; its tier = the highest
               tier among its page decisions (page.tier); sessions without a page decision are counted apart
  lift         per rule with control exposures (and, with --config, per rule with a holdout): treatment =
               visitors with an exposure of it whose variant is not "control", control = visitors with a
               "control" exposure; a visitor in both arms is left out and counted. A visitor converts with a
               goal event at or after their first exposure of the rule.
  fire rates   per rule, the share of page decisions (one per page.id) whose choices show it in a slot
               (fired) or hold it out (variant "control"); per slot, the share of the decisions that list the
               slot where it shows its fallback with no rule (rule "fallback")
  alignment    per rule, the share of fired exposures (one per decisionId and slot) followed by a cta_click
               with the same decisionId and slot, or by a goal event later in the same session
  anomalies    visitors whose events no shopper sends (a burst of goal events in a session, goal values past
               a bound or far past the median, throwaway visitors converting in their only line, in numbers;
               report_anomalies holds the rules): counted, sampled by visitor id and left out of every metric
               above, their sessions, exposures and page decisions whole. The totals are what was read.

A line whose batchId was already read counts once (the collector's retries). A malformed line is skipped and
counted, or with strict=True stops the run. Files are read in one pass, line by line; what is kept is a few
numbers per visitor, session, page decision and (visitor, rule) exposure, and the batch ids.
"""

from __future__ import annotations

import gzip
import json
import math
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, NamedTuple

import click

from intentedge import Bundle, ConfigError, __version__
from intentedge.decision import CONTROL, FALLBACK
from intentedge.events.vocabulary import EVENT_TYPES, MAX_LINE_BYTES, MAX_VALUE, Line, LineError, LinePage, read_line

from . import report_anomalies as anomalies
from . import report_stats as stats
from .configfile import read_config_file
from .report_html import render

PRODUCER = f"intentedge-cli/{__version__}"
KEPT_MALFORMED = 20                 # malformed lines named in report.json
SHOWN_MALFORMED = 5                 # ... and on stderr
NO_GOAL = -1                        # an order key before every event
SEQ_BITS = 40                       # an order key: receivedAt in microseconds, then the event's number
IMPLIED_TIER = "low"                # the edge's tier at 0 when every configured threshold is above 0


class ReportError(Exception):
    """The report cannot be made: an input is missing, empty or unreadable, or the output cannot be written."""


class MalformedLine(ReportError):
    """A malformed line under strict reading: "file:line: reason"."""


# --- the site's config ---------------------------------------------------------------------

@dataclass(frozen=True)
class SiteConfig:
    """What the report takes from a site's config: tier thresholds and the rules in file order."""

    tiers: dict[str, float]           # tier name -> threshold; a higher threshold ranks higher
    rules: tuple[str, ...]
    holdouts: frozenset[str]          # rules with a holdout above 0 %

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> SiteConfig:
        tiers: dict[str, float] = {}
        for name, threshold in bundle.scoring.tiers:      # the implied low tier comes last
            tiers.setdefault(name, threshold)
        return cls(tiers, tuple(rule.id for rule in bundle.rules),
                   frozenset(rule.id for rule in bundle.rules if rule.holdout > 0))


def read_config(path: Path) -> SiteConfig:
    """The tiers and rules of a config file, compiled as every job compiles it; ConfigError names the file."""
    return SiteConfig.from_bundle(read_config_file(path).bundle)


# --- the tally -----------------------------------------------------------------------------

class FireCounts(NamedTuple):
    decisions: int
    fired: list[int]                  # per rule number: decisions showing it
    held: list[int]                   # per rule number: decisions holding it out
    slots: dict[str, list[int]]       # slot -> [decisions, fallback ones]


@dataclass
class Tally:
    """Everything the report needs, filled line by line. Visitors, sessions, rules and tiers become
    small integers; an event's order key is one int, receivedAt in microseconds then the event's number
    in reading order (the Worker's clock counts milliseconds, so no two lines' order is lost)."""

    goal: str
    lines: int = 0
    blank: int = 0
    batches: int = 0
    duplicates: int = 0
    malformed: int = 0
    malformed_first: list[str] = field(default_factory=list)   # "file:line: reason"
    events_by_type: dict[str, int] = field(default_factory=dict)
    first_at: float = math.inf
    last_at: float = -math.inf
    seq: int = 0                                               # events read so far
    batch_ids: set[str] = field(default_factory=set)
    visitors: dict[str, int] = field(default_factory=dict)
    visitor_goal: list[int] = field(default_factory=list)      # the visitor's latest goal event
    visitor_lines: list[int] = field(default_factory=list)
    sessions: dict[tuple[str, str], int] = field(default_factory=dict)
    session_visitor: list[int] = field(default_factory=list)
    session_goal: list[int] = field(default_factory=list)      # the session's latest goal event
    session_tiers: list[int] = field(default_factory=list)     # bit set of the tiers of its page decisions
    session_events: list[int] = field(default_factory=list)
    session_goals: list[int] = field(default_factory=list)     # goal events
    session_value: list[float] = field(default_factory=list)   # the largest goal value; -1: none had one
    session_value_sum: list[float] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)        # tier name -> bit
    tier_low: list[float] = field(default_factory=list)        # lowest page.score seen per tier
    rules: dict[str, int] = field(default_factory=dict)        # rule id -> number
    decisions: dict[str, int] = field(default_factory=dict)    # page.id -> the visitor it was made for
    decision_choices: list[int] = field(default_factory=list)  # per decision (in that order): its choice set
    choice_sets: dict[tuple, int] = field(default_factory=dict)  # page.choices -> number
    choice_rows: list[tuple] = field(default_factory=list)     # per choice set: (slot, rule number or -1, held)
    exposed: dict[tuple[int, int], list] = field(default_factory=dict)  # (visitor, rule) -> [arms, first key]
    shown: dict[str, list] = field(default_factory=dict)       # "decisionId\x1fslot" -> [rule, session, key]
    clicks: set[str] = field(default_factory=set)              # "decisionId\x1fslot" of cta_clicks

    def bad_line(self, where: str) -> None:
        self.malformed += 1
        if len(self.malformed_first) < KEPT_MALFORMED:
            self.malformed_first.append(where)

    def add(self, line: Line) -> None:
        """Count one valid line, unless its batchId was read before."""
        if line.batch_id in self.batch_ids:
            self.duplicates += 1
            return
        self.batch_ids.add(line.batch_id)
        self.batches += 1
        at = line.received_at
        base = round(at * 1_000_000) << SEQ_BITS
        if at < self.first_at:
            self.first_at = at
        if at > self.last_at:
            self.last_at = at
        visitor = self.visitors.get(line.user_id)
        if visitor is None:
            visitor = self.visitors[line.user_id] = len(self.visitor_goal)
            self.visitor_goal.append(NO_GOAL)
            self.visitor_lines.append(0)
        self.visitor_lines[visitor] += 1
        session = self.sessions.get((line.user_id, line.session_id))
        if session is None:
            session = self.sessions[(line.user_id, line.session_id)] = len(self.session_goal)
            self._new_session(visitor)
        if line.page is not None:
            self._page(line.page, session, visitor)
        self.session_events[session] += len(line.events)
        counts, goal = self.events_by_type, self.goal
        for event in line.events:
            key = base | self.seq
            self.seq += 1
            kind = event["type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == goal:
                if key > self.visitor_goal[visitor]:
                    self.visitor_goal[visitor] = key
                if key > self.session_goal[session]:
                    self.session_goal[session] = key
                self._goal_value(event.get("value"), session)
            if kind == "exposure":
                self._exposure(event, visitor, session, key)
            elif kind == "cta_click":
                self.clicks.add(f"{event['decisionId']}\x1f{event['slot']}")

    def rule(self, rule_id: str) -> int:
        number = self.rules.get(rule_id)
        if number is None:
            number = self.rules[rule_id] = len(self.rules)
        return number

    def fire_counts(self, excluded: bytearray) -> FireCounts:
        """What the page decisions of the visitors not `excluded` chose."""
        per_set = [0] * len(self.choice_rows)
        for visitor, choice_set in zip(self.decisions.values(), self.decision_choices):
            if not excluded[visitor]:
                per_set[choice_set] += 1
        fired, held = [0] * len(self.rules), [0] * len(self.rules)
        slots: dict[str, list[int]] = {}
        for rows, n in zip(self.choice_rows, per_set):
            if not n:
                continue
            for slot, rule, held_out in rows:
                counts = slots.setdefault(slot, [0, 0])
                counts[0] += n
                if rule < 0:
                    counts[1] += n
                elif held_out:
                    held[rule] += n
                else:
                    fired[rule] += n
        return FireCounts(sum(per_set), fired, held, slots)

    def _new_session(self, visitor: int) -> None:
        self.session_visitor.append(visitor)
        self.session_goal.append(NO_GOAL)
        self.session_tiers.append(0)
        self.session_events.append(0)
        self.session_goals.append(0)
        self.session_value.append(-1.0)
        self.session_value_sum.append(0.0)

    def _goal_value(self, value, session: int) -> None:
        """Count a goal event and its value: a number from 0 (anything else is no value), at most
        MAX_VALUE, so that no stored line can make a sum infinite."""
        self.session_goals[session] += 1
        if type(value) not in (int, float) or not value >= 0:      # NaN fails this too
            return
        value = min(float(value), MAX_VALUE)
        self.session_value_sum[session] += value
        if value > self.session_value[session]:
            self.session_value[session] = value

    def _page(self, page: LinePage, session: int, visitor: int) -> None:
        bit = self.tiers.get(page.tier)
        if bit is None:
            bit = self.tiers[page.tier] = len(self.tier_low)
            self.tier_low.append(math.inf)
        if page.score is not None and page.score < self.tier_low[bit]:
            self.tier_low[bit] = page.score
        self.session_tiers[session] |= 1 << bit
        if page.id in self.decisions:
            return
        self.decisions[page.id] = visitor
        choices = tuple(page.choices)
        choice_set = self.choice_sets.get(choices)
        if choice_set is None:
            choice_set = self.choice_sets[choices] = len(self.choice_rows)
            self.choice_rows.append(tuple((slot, -1 if rule_id == FALLBACK else self.rule(rule_id),
                                           variant == CONTROL) for slot, rule_id, variant in choices))
        self.decision_choices.append(choice_set)

    def _exposure(self, event: dict, visitor: int, session: int, key: int) -> None:
        if event["rule"] == FALLBACK:
            return
        rule = self.rule(event["rule"])
        control = event["variant"] == CONTROL
        arms = self.exposed.get((visitor, rule))
        if arms is None:
            self.exposed[(visitor, rule)] = [2 if control else 1, key]
        else:
            arms[0] |= 2 if control else 1
            if key < arms[1]:
                arms[1] = key
        if control:
            return
        where = f"{event['decisionId']}\x1f{event['slot']}"
        shown = self.shown.get(where)
        if shown is None:
            self.shown[where] = [rule, session, key]
        elif key < shown[2]:
            shown[2] = key


# --- reading -------------------------------------------------------------------------------

def read_events(sources: Iterable[Path], goal: str, *, strict: bool = False) -> Tally:
    """The tally of every line of every source, in order. ReportError for a missing, unreadable or empty
    file; MalformedLine for the first malformed line when strict."""
    sources = list(sources)
    for path in sources:
        if not path.exists():
            raise ReportError(f"{path}: does not exist")
        if path.is_dir():
            raise ReportError(f"{path}: is a folder, not an events file")
    tally = Tally(goal)
    for path in sources:
        _read_file(path, tally, strict)
    if tally.batches == 0:
        raise ReportError(f"no valid lines to report on: {tally.malformed:,} malformed, see above")
    return tally


def _read_file(path: Path, tally: Tally, strict: bool) -> None:
    loads, from_json, add = json.loads, read_line, tally.add
    line_no = content = 0
    try:
        with open(path, "rb") as raw:
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw
            readline = stream.readline
            while True:
                line = readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                line_no += 1
                if len(line) > MAX_LINE_BYTES and line[-1] != 0x0A:
                    _skip_rest(readline)
                    reason = f"longer than {MAX_LINE_BYTES:,} bytes"
                elif line.isspace():
                    tally.blank += 1
                    continue
                else:
                    try:
                        add(from_json(loads(line)))
                        content += 1
                        continue
                    except LineError as exc:
                        reason = str(exc)
                    except json.JSONDecodeError as exc:
                        reason = f"bad JSON ({exc.msg}, column {exc.colno})"
                    except (ValueError, RecursionError):     # not UTF-8, 4300+ digit numbers, deep nesting
                        reason = "bad JSON"
                content += 1
                where = f"{path}:{line_no}: {reason}"
                if strict:
                    raise MalformedLine(where)
                tally.bad_line(where)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportError(f"{path}: cannot be read after line {line_no}: {exc}") from None
    finally:
        tally.lines += line_no
    if content == 0:
        raise ReportError(f"{path}: is empty (no event lines)")


def _skip_rest(readline: Callable[[int], bytes]) -> None:
    while True:
        chunk = readline(MAX_LINE_BYTES)
        if not chunk or chunk[-1] == 0x0A:
            return


# --- the summary ---------------------------------------------------------------------------

def summarize(tally: Tally, *, sources: list[Path], config: SiteConfig | None = None,
              generated_at: float | None = None, max_value: float = anomalies.DEFAULT_MAX_VALUE) -> dict:
    """report.json: totals as read, the anomalies screened out, and the four metrics over the rest;
    numbers rounded, the same keys whatever the data."""
    order = tier_order(tally, config)
    rule_order = _rule_order(tally, config)
    screening = anomalies.screen(tally, max_value)
    excluded = screening.excluded
    fire = tally.fire_counts(excluded)
    return {
        "v": 1,
        "producer": PRODUCER,
        "generated_at": _iso(time.time() if generated_at is None else generated_at),
        "sources": [str(path) for path in sources],
        "goal": tally.goal,
        "confidence": 0.95,
        "period": {"first": _iso(tally.first_at), "last": _iso(tally.last_at),
                   "first_epoch": _epoch(tally.first_at), "last_epoch": _epoch(tally.last_at)},
        "totals": {
            "lines": tally.lines, "blank_lines": tally.blank, "batches": tally.batches,
            "duplicates": tally.duplicates, "malformed": tally.malformed, "events": tally.seq,
            "events_by_type": dict(sorted(tally.events_by_type.items())),
            "visitors": len(tally.visitors), "sessions": len(tally.sessions),
            "page_decisions": len(tally.decisions),
        },
        "malformed_lines": list(tally.malformed_first),
        "anomalies": screening.to_json(tally),
        "tiers": {"order": order, "from": "config" if config is not None else "scores"},
        "conversion_by_tier": _conversion(tally, order, excluded),
        "lift": _lift(tally, config, rule_order, excluded),
        "fire_rates": _fire_rates(tally, rule_order, fire),
        "alignment": _alignment(tally, rule_order, excluded, fire.fired),
    }


def tier_order(tally: Tally, config: SiteConfig | None) -> list[str]:
    """Tier names, highest first: by the config's thresholds, else (and for tiers the config does not
    name) by the lowest score seen in the tier; "" (below every tier) last."""
    thresholds = dict(config.tiers) if config is not None else {}
    names = set(tally.tiers) | {name for name in thresholds if name != IMPLIED_TIER or name in tally.tiers}

    def level(name: str) -> float:
        if name == "":
            return -math.inf
        if name in thresholds:
            return thresholds[name]
        bit = tally.tiers.get(name)
        low = tally.tier_low[bit] if bit is not None else math.inf
        return low if low != math.inf else -1.0       # never scored: just above ""

    return sorted(names, key=lambda name: (-level(name), name))


def _rule_order(tally: Tally, config: SiteConfig | None) -> list[str]:
    listed = list(dict.fromkeys(rule for rule in (config.rules if config else ()) if rule != FALLBACK))
    known = set(listed)
    return listed + sorted(rule for rule in tally.rules if rule not in known)


def _conversion(tally: Tally, order: list[str], excluded: bytearray) -> dict:
    rank_of_bit = {bit: order.index(name) for name, bit in tally.tiers.items()}
    best: dict[int, int] = {}                      # tier bit set -> rank of its highest tier
    sessions = [0] * len(order)
    conversions = [0] * len(order)
    undecided = [0, 0]
    for bits, goal, visitor in zip(tally.session_tiers, tally.session_goal, tally.session_visitor):
        if excluded[visitor]:
            continue
        converted = goal != NO_GOAL
        if not bits:
            undecided[0] += 1
            undecided[1] += converted
            continue
        rank = best.get(bits)
        if rank is None:
            rank = best[bits] = min(rank for bit, rank in rank_of_bit.items() if bits >> bit & 1)
        sessions[rank] += 1
        conversions[rank] += converted
    return {
        "tiers": [{"tier": name, "sessions": n, "conversions": k, **_rate(k, n)}
                  for name, n, k in zip(order, sessions, conversions)],
        "without_page_decision": {"sessions": undecided[0], "conversions": undecided[1],
                                  **_rate(undecided[1], undecided[0])},
    }


def _lift(tally: Tally, config: SiteConfig | None, rule_order: list[str], excluded: bytearray) -> list[dict]:
    with_control = {rule for (visitor, rule), (seen, _) in tally.exposed.items()
                    if seen & 2 and not excluded[visitor]}
    held_out = {rule for rule, number in tally.rules.items() if number in with_control}
    if config is not None:
        held_out |= config.holdouts
    # per rule number: treatment visitors, their conversions, control visitors, theirs, visitors in both arms
    arms = {tally.rules[rule]: [0, 0, 0, 0, 0] for rule in held_out if rule in tally.rules}
    goals = tally.visitor_goal
    for (visitor, rule), (seen, first) in tally.exposed.items():
        counts = arms.get(rule)
        if counts is None or excluded[visitor]:
            continue
        if seen == 3:
            counts[4] += 1
            continue
        arm = 0 if seen == 1 else 2
        counts[arm] += 1
        counts[arm + 1] += goals[visitor] >= first
    rows = []
    for rule in rule_order:
        if rule not in held_out:
            continue
        n_t, k_t, n_c, k_c, both = arms.get(tally.rules.get(rule), [0, 0, 0, 0, 0])
        result = stats.compare(k_t, n_t, k_c, n_c)
        rows.append({
            "rule": rule,
            "treatment": {"visitors": n_t, "conversions": k_t, **_rate(k_t, n_t)},
            "control": {"visitors": n_c, "conversions": k_c, **_rate(k_c, n_c)},
            "in_both_arms": both,
            "difference": _round(result.difference), "difference_ci": _interval(result.difference_ci),
            "relative_lift": _round(result.lift), "relative_lift_ci": _interval(result.lift_ci),
            "p_value": None if result.p_value is None else float(f"{result.p_value:.3g}"),
            "verdict": result.verdict,
        })
    return rows


def _fire_rates(tally: Tally, rule_order: list[str], fire: FireCounts) -> dict:
    decisions = fire.decisions
    rules = []
    for rule in rule_order:
        number = tally.rules.get(rule)
        fired = fire.fired[number] if number is not None else 0
        held = fire.held[number] if number is not None else 0
        rules.append({"rule": rule, "fired": fired, "fired_share": _round(_share(fired, decisions)),
                      "fired_ci": _interval(stats.wilson(fired, decisions)),
                      "held_out": held, "held_out_share": _round(_share(held, decisions)),
                      "held_out_ci": _interval(stats.wilson(held, decisions))})
    slots = [{"slot": slot, "decisions": n, "fallback": k, **_rate(k, n, name="share")}
             for slot, (n, k) in sorted(fire.slots.items())]
    return {"page_decisions": decisions, "rules": rules, "fallback_by_slot": slots}


def _alignment(tally: Tally, rule_order: list[str], excluded: bytearray, fired: list[int]) -> dict:
    per_rule: dict[int, list[int]] = {}          # rule -> [fired exposures, aligned, by a click]
    goals, visitors = tally.session_goal, tally.session_visitor
    for where, (rule, session, key) in tally.shown.items():
        if excluded[visitors[session]]:
            continue
        counts = per_rule.setdefault(rule, [0, 0, 0])
        counts[0] += 1
        if where in tally.clicks:
            counts[1] += 1
            counts[2] += 1
        elif goals[session] > key:
            counts[1] += 1

    def row(n: int, k: int, clicked: int) -> dict:
        return {"exposures": n, "aligned": k, "by_click": clicked, "by_goal": k - clicked, **_rate(k, n, name="share")}

    rules = []
    for rule in rule_order:                      # the rules that fired at least once
        number = tally.rules.get(rule)
        counts = per_rule.get(number, [0, 0, 0])
        if counts[0] or (number is not None and fired[number]):
            rules.append({"rule": rule, **row(*counts)})
    total = [sum(counts[i] for counts in per_rule.values()) for i in range(3)]
    return {"overall": row(*total), "rules": rules}


def _rate(k: int, n: int, *, name: str = "rate") -> dict:
    return {name: _round(_share(k, n)), "ci": _interval(stats.wilson(k, n))}


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _interval(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 4), round(interval[1], 4)]


def _epoch(epoch: float) -> float | None:
    return round(epoch, 3) if math.isfinite(epoch) else None


def _iso(epoch: float) -> str | None:
    if not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_report(summary: dict, out: Path) -> tuple[Path, Path]:
    """DIR/report.json and DIR/report.html; ReportError when they cannot be written."""
    json_path, html_path = out / "report.json", out / "report.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        html_path.write_text(render(summary), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{exc.filename or out}: cannot be written: {exc.strerror or exc}") from None
    return json_path, html_path


# --- the command ---------------------------------------------------------------------------

class _MalformedLineError(click.ClickException):
    exit_code = 2


@click.command("report")
@click.argument("events", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for report.json and report.html (made if missing).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The site's config (TOML): its [scoring] tiers rank the tiers, its [[rules]] list the rules.")
@click.option("--goal", default="purchase", show_default=True, type=click.Choice(EVENT_TYPES),
              help="The event type that counts as a conversion.")
@click.option("--strict", is_flag=True, help="Stop at the first malformed line (exit 2) instead of skipping it.")
@click.option("--max-value", default=anomalies.DEFAULT_MAX_VALUE, show_default=True,
              type=click.FloatRange(0, MAX_VALUE, min_open=True),
              help="The most one goal event can be worth (the site's currency); a visitor claiming more is "
                   "an anomaly, left out of every metric.")
def report(events: tuple[Path, ...], out: Path, config_path: Path | None, goal: str, strict: bool,
           max_value: float) -> None:
    """Conversion by intent tier, each rule's lift against its holdout, fire rates and intent alignment,
    from the collector's JSON Lines EVENTS (.gz too), as DIR/report.json and a self-contained DIR/report.html."""
    try:
        config = read_config(config_path) if config_path is not None else None
        tally = read_events(events, goal, strict=strict)
    except MalformedLine as exc:
        raise _MalformedLineError(str(exc)) from None
    except (ConfigError, ReportError) as exc:
        raise click.ClickException(str(exc)) from None
    for where in tally.malformed_first[:SHOWN_MALFORMED]:
        click.echo(where, err=True)
    if tally.malformed:
        more = f" ({tally.malformed - SHOWN_MALFORMED:,} more not shown)" if tally.malformed > SHOWN_MALFORMED else ""
        click.echo(f"report: skipped {tally.malformed:,} malformed line(s){more}", err=True)
    _warn_unknown_tiers(tally, config)
    summary = summarize(tally, sources=list(events), config=config, max_value=max_value)
    try:
        paths = write_report(summary, out)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    totals = summary["totals"]
    click.echo(f"report: {totals['lines']:,} lines ({totals['duplicates']:,} duplicates, "
               f"{totals['malformed']:,} malformed), {totals['events']:,} events, {totals['visitors']:,} visitors, "
               f"{totals['sessions']:,} sessions, {totals['page_decisions']:,} page decisions")
    _warn_anomalies(summary["anomalies"])
    for path in paths:
        click.echo(str(path))


def _warn_anomalies(found: dict) -> None:
    left_out = found["excluded"]
    if left_out["visitors"]:
        rules = ", ".join(f"{row['rule']} {row['visitors']:,}" for row in found["rules"]
                          if row["excluded"] and row["visitors"])
        click.echo(f"report: left out {left_out['visitors']:,} visitors ({left_out['goal_events']:,} of "
                   f"{found['read']['goal_events']:,} goal events) as anomalies: {rules}", err=True)


def _warn_unknown_tiers(tally: Tally, config: SiteConfig | None) -> None:
    if config is None:
        return
    unknown = sorted(name for name in tally.tiers if name and name not in config.tiers)
    if unknown:
        click.echo(f"report: tiers not in the config, ranked by their scores: {', '.join(unknown)}", err=True)
