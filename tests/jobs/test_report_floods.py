"""`intentedge report` under floods of forged goal events, generated over the class: many throwaway
visitors (one GET each), one visitor with huge counts and values, mixed with clean traffic of known
truth. The flagged visitors are counted and left out whole, the metrics over the rest are those of the
rest alone, and no clean visitor is flagged (report_anomalies.py has the rules)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentedge.events.vocabulary import read_line
from intentedge_jobs import report_anomalies as anomalies
from intentedge_jobs.report import Tally, summarize
from intentedge_jobs.report_html import render

from tests.jobs.test_report import CONTENT_PX, VIEW, Log, _Tables, exposure, min_width, page, run

METRICS = ("conversion_by_tier", "lift", "fire_rates", "alignment")
TIERS = (("high", 85.0, 100.0), ("medium", 60.0, 85.0), ("low", 0.0, 60.0))   # disjoint score ranges
CLEAN_VALUES = (10.0, 200.0)          # what the clean shop's orders cost
# A forged purchase's value: typical ones, one far past the clean median (an outlier once the median
# rests on enough sessions) and two past the value bound.
FORGED_VALUES = (50.0, 150.0, 30_000.0, 150_000.0, 999_999.0)


def purchase(value: float) -> dict:
    return {"type": "purchase", "value": value}


def clean_traffic(seed: int, visitors: int) -> tuple[Log, set[str]]:
    """Beacon-like journeys: a page decision (tier, rule "r" shown or held out) with its view and
    exposure, maybe a second page, and for about a fifth a purchase in a later line of the session, now
    and then in a later session with no page decision (the shop's own code posting it). A bounce is
    one page's line, without a purchase. Returns the log and the ids."""
    rng = random.Random(seed)
    log = Log()
    ids = set()
    for i in range(visitors):
        user = f"clean-{seed}-{i:05d}"
        ids.add(user)
        tier, low, high = TIERS[i % 3] if i < 3 else rng.choice(TIERS)
        for n in range(1 + (rng.random() < 0.5)):
            decision = f"c{seed}-{i}-{n}"
            variant = "control" if rng.random() < 0.5 else "r-fragment"
            log.line(user, VIEW, exposure(decision, "promo", "r", variant),
                     page=page(decision, tier, rng.uniform(low, high), promo=("r", variant)))
        if rng.random() < 0.2:
            later = rng.random() < 0.2
            log.line(user, purchase(round(rng.uniform(*CLEAN_VALUES), 2)),
                     session=f"{user}.later" if later else None)
    return log, ids


@dataclass(frozen=True)
class Forger:
    """One throwaway visitor: a page from the Worker (its decision and exposure, in the purchases'
    own line or a line before them), then `purchases` purchases of `value` in `lines` lines."""

    purchases: int
    value: float
    single_line: bool
    lines: int
    tier: int
    control: bool

    @property
    def over_a_bound(self) -> bool:
        """Past a bound every forged visitor is held to, whatever the rest of the traffic."""
        bound = anomalies.SESSION_GOALS["purchase"]
        return self.purchases > bound or self.value > anomalies.DEFAULT_MAX_VALUE

    def write(self, log: Log, user: str) -> None:
        tier, low, _ = TIERS[self.tier]
        variant = "control" if self.control else "r-fragment"
        decision = f"f-{user}"
        head = (VIEW, exposure(decision, "promo", "r", variant))
        shown = page(decision, tier, low + 1, promo=("r", variant))
        if self.single_line:
            log.line(user, *head, *[purchase(self.value)] * self.purchases, page=shown)
            return
        log.line(user, *head, page=shown)
        per_line = -(-self.purchases // self.lines)
        left = self.purchases
        while left > 0:
            log.line(user, *[purchase(self.value)] * min(per_line, left))
            left -= per_line


forgers_st = st.builds(Forger, purchases=st.integers(1, 5) | st.integers(6, 50), value=st.sampled_from(FORGED_VALUES),
                       single_line=st.booleans(), lines=st.integers(1, 3), tier=st.integers(0, 2),
                       control=st.booleans())
# Floods: a few kinds of forger, each repeated many times (the rotating ids of one script).
floods_st = st.lists(st.tuples(forgers_st, st.integers(1, 120)), min_size=1, max_size=4)


def heavy_forger(log: Log, user: str, lines: int) -> None:
    """One visitor with a real-looking page, then `lines` lines of 50 purchases worth 999,999 each."""
    log.line(user, VIEW, exposure(f"h-{user}", "promo", "r", "r-fragment"),
             page=page(f"h-{user}", "medium", 70.0, promo=("r", "r-fragment")))
    for _ in range(lines):
        log.line(user, *[purchase(999_999.0)] * 50)


def tally_of(lines: list[dict]) -> Tally:
    tally = Tally("purchase")
    for line in lines:
        tally.add(read_line(line))
    return tally


def report_of(lines: list[dict]) -> tuple[dict, Tally]:
    tally = tally_of(lines)
    return summarize(tally, sources=[], generated_at=0.0), tally


def metrics(summary: dict) -> dict:
    return {name: summary[name] for name in METRICS}


def flagged_ids(tally: Tally) -> set[str]:
    screening = anomalies.screen(tally)
    return {user for user, number in tally.visitors.items() if screening.excluded[number]}


def flooded(seed: int, visitors: int, floods: list, heavy: int) -> tuple[Log, set[str], dict[str, Forger | None]]:
    """Clean traffic, then the floods and the heavy forger (if `heavy` lines) appended in their order."""
    log, clean = clean_traffic(seed, visitors)
    forged: dict[str, Forger | None] = {}
    for kind, (forger, copies) in enumerate(floods):
        for copy in range(copies):
            user = f"forged-{kind}-{copy:04d}"
            forger.write(log, user)
            forged[user] = forger
    if heavy:
        heavy_forger(log, "heavy-forger", heavy)
        forged["heavy-forger"] = None
    return log, clean, forged


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(seed=st.integers(0, 2**16), visitors=st.integers(40, 300), floods=floods_st, heavy=st.integers(0, 30))
def test_flagged_visitors_are_left_out_whole_and_no_clean_visitor_is_flagged(seed, visitors, floods, heavy):
    log, clean, forged = flooded(seed, visitors, floods, heavy)
    summary, tally = report_of(log.lines)
    flagged = flagged_ids(tally)
    assert not flagged & clean
    must = {user for user, forger in forged.items() if forger is None or forger.over_a_bound}
    assert must <= flagged
    # The metrics are those of the traffic the screen let through, read on its own (where it flags nothing).
    kept = [line for line in log.lines if line["userId"] not in flagged]
    alone, alone_tally = report_of(kept)
    assert metrics(summary) == metrics(alone)
    assert alone["anomalies"]["excluded"]["visitors"] == 0
    # ... and within what the forgers who slipped through can move: a session each.
    slipped = len(forged) - len(flagged)
    clean_only, _ = report_of(clean_traffic(seed, visitors)[0].lines)
    for row, truth in zip(summary["conversion_by_tier"]["tiers"], clean_only["conversion_by_tier"]["tiers"]):
        assert row["tier"] == truth["tier"]
        assert 0 <= row["sessions"] - truth["sessions"] <= slipped
        assert 0 <= row["conversions"] - truth["conversions"] <= slipped
    # What is left out is counted: visitors, their goal events and value, by rule.
    left_out = summary["anomalies"]["excluded"]
    forged_goals = sum(sum(e["type"] == "purchase" for e in line["events"]) for line in log.lines
                       if line["userId"] in flagged)
    assert (left_out["visitors"], left_out["goal_events"]) == (len(flagged), forged_goals)
    assert left_out["lines"] == sum(line["userId"] in flagged for line in log.lines)
    assert summary["anomalies"]["read"]["goal_events"] == summary["totals"]["events_by_type"].get("purchase", 0)
    excluded_rules = {row["rule"]: row for row in summary["anomalies"]["rules"] if row["excluded"]}
    assert sum(row["visitors"] for row in excluded_rules.values()) >= len(flagged)
    bursts = {user for user, forger in forged.items() if forger is None or forger.purchases > 5}
    assert excluded_rules["goal_burst"]["visitors"] == len(bursts)
    for row in summary["anomalies"]["rules"]:
        assert len(row["sample"]) == min(anomalies.SAMPLE, row["visitors"])
        assert all(item["visitor"] in forged for item in row["sample"] if row["excluded"])


@SETTINGS
@given(seed=st.integers(0, 2**16), visitors=st.integers(40, 300),
       forger=forgers_st.filter(lambda forger: forger.over_a_bound), copies=st.integers(1, 400),
       heavy=st.integers(0, 20))
def test_a_flood_over_the_bounds_leaves_the_clean_numbers_as_they_were(seed, visitors, forger, copies, heavy):
    log, clean, forged = flooded(seed, visitors, [(forger, copies)], heavy)
    summary, _ = report_of(log.lines)
    clean_only, _ = report_of(clean_traffic(seed, visitors)[0].lines)
    assert metrics(summary) == metrics(clean_only)
    assert summary["anomalies"]["excluded"]["visitors"] == len(forged)
    assert clean_only["anomalies"]["excluded"]["visitors"] == 0


@SETTINGS
@given(seed=st.integers(0, 2**16), visitors=st.integers(40, 300), copies=st.integers(0, 400))
def test_throwaway_visitors_converting_in_their_only_line_are_left_out_in_numbers(seed, visitors, copies):
    """Forgers within every per-session bound (one purchase of a typical value, in the line that carries
    their page): each looks like a shopper, so they are left out as a group, from FLOOD_VISITORS of them
    and FLOOD_SHARE of the converters."""
    forger = Forger(purchases=1, value=150.0, single_line=True, lines=1, tier=2, control=False)
    log, clean, forged = flooded(seed, visitors, [(forger, copies)] if copies else [], 0)
    summary, tally = report_of(log.lines)
    clean_only, _ = report_of(clean_traffic(seed, visitors)[0].lines)
    converters = sum(goal >= 0 for goal in tally.visitor_goal)
    row = next(row for row in summary["anomalies"]["rules"] if row["rule"] == "one_line_converters")
    assert row["visitors"] == copies
    expected = copies >= anomalies.FLOOD_VISITORS and copies >= anomalies.FLOOD_SHARE * converters
    assert row["excluded"] == expected
    if expected:
        assert metrics(summary) == metrics(clean_only)
    assert not flagged_ids(tally) & clean


def test_one_visitor_with_huge_counts_and_values_is_one_visitor_left_out(tmp_path):
    log, _ = clean_traffic(7, 200)
    heavy_forger(log, "heavy-forger", 40)
    result, summary = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    found = summary["anomalies"]
    assert found["excluded"]["visitors"] == 1 and found["excluded"]["goal_events"] == 2000
    assert found["excluded"]["goal_value"] == 2000 * 999_999
    burst = found["rules"][0]
    assert (burst["rule"], burst["visitors"], burst["sample"][0]) == ("goal_burst", 1, {
        "visitor": "heavy-forger", "sessions": 1, "events": 2002, "goal_events": 2000,
        "largest_goal_value": 999_999.0})
    assert {row["rule"] for row in found["rules"] if row["visitors"] and row["excluded"]} == {
        "goal_burst", "event_volume", "value_bound"}
    assert "report: left out 1 visitors (2,000 of " in result.stderr
    clean_only, _ = report_of(clean_traffic(7, 200)[0].lines)
    assert metrics(summary) == metrics(clean_only)


def test_value_outliers_need_a_median_to_stand_on():
    """A purchase 100 times the median is an outlier once MIN_VALUES sessions (its own too) give the median."""
    for buyers, flagged in ((anomalies.MIN_VALUES - 2, False), (anomalies.MIN_VALUES - 1, True)):
        log = Log()
        for i in range(buyers):
            log.line(f"buyer-{i:03d}", VIEW, page=page(f"d{i}"))
            log.line(f"buyer-{i:03d}", purchase(100.0))
        log.line("big-spender", VIEW, page=page("big"))
        log.line("big-spender", purchase(10_000.01))
        summary, tally = report_of(log.lines)
        assert ("big-spender" in flagged_ids(tally)) is flagged
        row = next(row for row in summary["anomalies"]["rules"] if row["rule"] == "value_outlier")
        assert row["what"].endswith("(100.00)" if flagged else "(none: too few values)")


def test_a_bound_is_per_goal_and_the_value_bound_is_an_option(tmp_path):
    log = Log()
    for i in range(3):
        log.line(f"viewer-{i}", *[VIEW] * 30, page=page(f"v{i}"))     # many page_views: a goal that repeats
    log.line("buyer-0001", VIEW, page=page("b"))
    log.line("buyer-0001", purchase(5_000.0))
    events = log.write(tmp_path / "events.jsonl")
    _, summary = run(tmp_path, events, "--goal", "page_view")
    assert summary["anomalies"]["excluded"]["visitors"] == 0
    assert summary["anomalies"]["rules"][0]["what"].startswith("none: page_view events repeat")
    _, summary = run(tmp_path, events, "--max-value", "1000")
    assert summary["anomalies"]["excluded"]["visitors"] == 1
    assert summary["anomalies"]["bounds"]["goal_value"] == 1000.0
    result, _ = run(tmp_path, events, "--max-value", "0")
    assert result.exit_code == 2


def test_values_that_are_no_numbers_count_no_value_and_infinite_ones_are_bounded():
    log = Log()
    for i, value in enumerate(["12", None, -5, True, float("nan"), float("inf"), 1e308]):
        log.line(f"odd-value-{i}", VIEW, page=page(f"o{i}"))
        log.line(f"odd-value-{i}", {"type": "purchase", "value": value})
    summary, tally = report_of([json.loads(json.dumps(line)) for line in log.lines])
    assert flagged_ids(tally) == {"odd-value-5", "odd-value-6"}          # inf and 1e308: past the bound
    assert summary["anomalies"]["read"]["goal_value"] == 2 * 1e9          # each at most MAX_VALUE
    json.dumps(summary, allow_nan=False)                                  # report.json stays JSON


def test_clean_traffic_gets_no_anomalies_section_and_a_flood_gets_one_that_fits():
    log, _ = clean_traffic(3, 120)
    clean_page = render(report_of(log.lines)[0])
    assert "Anomalies" not in clean_page and clean_page.count("<section>") == 4
    for copy in range(60):
        Forger(50, 999_999.0, True, 1, 2, copy % 2 == 0).write(log, f"forged-{copy:03d}-" + "x" * 200)
    log.line("<b>odd</b>", *[purchase(999_999.0)] * 60)        # the heaviest: first in the sample
    flood_page = render(report_of(log.lines)[0])
    assert "<h2>Anomalies: traffic left out</h2>" in flood_page
    assert "&lt;b&gt;odd&lt;/b&gt;" in flood_page and "<b>odd</b>" not in flood_page
    assert "come from 61 visitors left out of every metric" in flood_page
    parser = _Tables()
    parser.feed(flood_page)
    for table in parser.tables:
        assert min_width(table) <= CONTENT_PX, [cell[0][1] for cell in table[0]]
