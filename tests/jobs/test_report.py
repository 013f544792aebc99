"""`intentedge report`, run through click's test runner on small collector files written here: every metric
against hand-computed or published values, duplicates, event order, malformed lines and the HTML page."""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from statistics import NormalDist

import pytest
from click.testing import CliRunner

from intentedge_jobs.cli import cli
from intentedge_jobs.report_html import render
from intentedge_jobs.report_stats import katz, newcombe, wilson, z_test

T0 = 1_795_000_000.0
Z = NormalDist().inv_cdf(0.975)


# --- writing collector lines ---------------------------------------------------------------

class Log:
    """Stored lines (intentedge/events/vocabulary.py), one batch id each, and a clock
    that moves one second per line unless a line says when it was received."""

    def __init__(self) -> None:
        self.lines: list[dict] = []
        self.clock = T0

    def line(self, user: str, *events: dict, session: str | None = None, page: dict | None = None,
             at: float | None = None, batch_id: str | None = None) -> dict:
        if at is None:
            self.clock += 1
            at = self.clock
        line = {"v": 1, "batchId": batch_id or f"batch-{len(self.lines):06d}", "receivedAt": at, "userId": user,
                "sessionId": session or f"{user}.1795000000", "page": page,
                "events": [{**event, "timestamp": at} for event in events]}
        self.lines.append(line)
        return line

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines), encoding="utf-8")
        return path


def page(decision: str, tier: str = "medium", score: float = 70.0, **choices: tuple[str, str]) -> dict:
    return {"id": decision, "path": "/products/alpha-pro/", "tier": tier, "score": score,
            "choices": {slot: {"rule": rule, "variant": variant} for slot, (rule, variant) in choices.items()}}


def exposure(decision: str, slot: str, rule: str, variant: str) -> dict:
    return {"type": "exposure", "slot": slot, "rule": rule, "variant": variant, "decisionId": decision}


def click(decision: str, slot: str, rule: str, variant: str) -> dict:
    return {"type": "cta_click", "slot": slot, "rule": rule, "variant": variant, "url": "/checkout/",
            "decisionId": decision}


PURCHASE = {"type": "purchase", "value": 649.0}
VIEW = {"type": "page_view", "url": "/"}


def shown(log: Log, user: str, rule: str, *, control: bool, slot: str = "promo", session: str | None = None,
          at: float | None = None) -> str:
    """A page whose decision shows (or holds out) `rule` in `slot`, and its exposure; returns the decision id."""
    decision = f"d{len(log.lines)}"
    variant = "control" if control else f"{rule}-fragment"
    log.line(user, VIEW, exposure(decision, slot, rule, variant), session=session, at=at,
             page=page(decision, **{slot: (rule, variant)}))
    return decision


def run(tmp_path: Path, *args) -> tuple:
    """(click result, report.json as a dict or None)."""
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", *map(str, args), "--out", str(out)])
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return result, report


# --- textbook formulas, written out again here to check the job's ----------------------------

def textbook_wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    center = (2 * n * p + Z ** 2) / (2 * (n + Z ** 2))
    half = Z * math.sqrt(Z ** 2 + 4 * n * p * (1 - p)) / (2 * (n + Z ** 2))
    return center - half, center + half


def textbook_newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    (l1, u1), (l2, u2) = textbook_wilson(k1, n1), textbook_wilson(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    return p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)


def textbook_katz(a: int, n1: int, c: int, n2: int) -> tuple[float, float]:
    log_rr = math.log((a / n1) / (c / n2))
    se = math.sqrt((n1 - a) / (a * n1) + (n2 - c) / (c * n2))
    return math.exp(log_rr - Z * se), math.exp(log_rr + Z * se)


def rounded(pair) -> list[float]:
    return [round(pair[0], 4), round(pair[1], 4)]


# --- the formulas ----------------------------------------------------------------------------

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857, method 3.
@pytest.mark.parametrize("k, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),       # no successes: the interval still has width
    (1, 29, 0.0061, 0.1718),
], ids=["81/263", "15/148", "0/20", "1/29"])
def test_wilson_matches_published_intervals(k, n, low, high):
    assert rounded(wilson(k, n)) == [low, high]


# Newcombe (1998), "Interval estimation for the difference between independent proportions", Stat Med 17:873,
# method 10 (hybrid score), Table II.
@pytest.mark.parametrize("k1, n1, k2, n2, low, high", [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (10, 10, 0, 10, 0.6075, 1.0),
], ids=["56/70-48/80", "9/10-3/10", "6/7-2/7", "5/56-0/29", "0/10-0/20", "10/10-0/10"])
def test_newcombe_matches_published_intervals(k1, n1, k2, n2, low, high):
    assert rounded(newcombe(k1, n1, k2, n2)) == [low, high]


def test_katz_and_z_test_match_the_textbook_formulas():
    assert katz(30, 100, 15, 100) == pytest.approx(textbook_katz(30, 100, 15, 100))
    pooled = 45 / 200
    z = 0.15 / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert z_test(30, 100, 15, 100) == pytest.approx(2 * (1 - NormalDist().cdf(z)))
    # A zero cell: 0.5 added to each of the four cells, and only then.
    assert katz(0, 50, 5, 50) == pytest.approx(textbook_katz(0.5, 51, 5.5, 51))
    assert katz(50, 50, 5, 50) == pytest.approx(textbook_katz(50.5, 51, 5.5, 51))
    assert z_test(0, 40, 0, 40) == 1.0


def test_the_intervals_cover_the_truth_95_percent_of_the_time():
    """400 simulated tests of a true 2x lift (10 % -> 20 %, 500 visitors per arm), seeded."""
    rng = random.Random(7)
    covered = {"difference": 0, "lift": 0}
    for _ in range(400):
        k1 = sum(rng.random() < 0.2 for _ in range(500))
        k2 = sum(rng.random() < 0.1 for _ in range(500))
        low, high = newcombe(k1, 500, k2, 500)
        covered["difference"] += low < 0.1 < high
        low, high = katz(k1, 500, k2, 500)
        covered["lift"] += low < 2.0 < high
    assert 0.92 <= covered["difference"] / 400 <= 0.98
    assert 0.92 <= covered["lift"] / 400 <= 0.98


# --- lift ------------------------------------------------------------------------------------

def test_lift_against_the_holdout_is_hand_computed(tmp_path):
    log = Log()
    for arm, converters, control in (("t", 30, False), ("c", 15, True)):
        for i in range(100):
            user = f"{arm}-visitor-{i:03d}"
            shown(log, user, "bundle-on-products", control=control)
            if i < converters:
                log.line(user, PURCHASE)
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output

    [row] = report["lift"]
    assert row["rule"] == "bundle-on-products"
    assert row["treatment"] == {"visitors": 100, "conversions": 30, "rate": 0.3,
                                "ci": rounded(textbook_wilson(30, 100))}
    assert row["control"] == {"visitors": 100, "conversions": 15, "rate": 0.15,
                              "ci": rounded(textbook_wilson(15, 100))}
    assert row["difference"] == 0.15
    assert row["difference_ci"] == rounded(textbook_newcombe(30, 100, 15, 100))
    assert row["relative_lift"] == 1.0
    low, high = textbook_katz(30, 100, 15, 100)
    assert row["relative_lift_ci"] == rounded((low - 1, high - 1))
    assert row["relative_lift_ci"] == [0.1489, 2.4817]
    assert row["p_value"] == 0.0111
    assert row["verdict"] == "lift"
    assert row["in_both_arms"] == 0


def test_a_goal_counts_at_or_after_the_first_exposure_only(tmp_path):
    log = Log()
    # Converted: a purchase in the exposure's own line, after it in the events array.
    log.line("after-in-line-0001", exposure("d1", "promo", "r", "r-frag"), PURCHASE)
    # Converted: a purchase in a later session.
    shown(log, "later-session-0001", "r", control=False)
    log.line("later-session-0001", PURCHASE, session="later-session-0001.1795009999")
    # Not converted: a purchase before the exposure in the same line.
    log.line("before-in-line-001", PURCHASE, exposure("d2", "promo", "r", "r-frag"))
    # Not converted: a purchase in an earlier line.
    log.line("earlier-line-00001", PURCHASE)
    shown(log, "earlier-line-00001", "r", control=False)
    # Not converted: the purchase comes later in the file, but was received before the exposure.
    shown(log, "received-before-01", "r", control=False, at=T0 + 500)
    log.line("received-before-01", PURCHASE, at=T0 + 499.999)
    # Converted once: two exposures, the purchase between them (the first exposure counts).
    shown(log, "two-exposures-0001", "r", control=False)
    log.line("two-exposures-0001", PURCHASE)
    shown(log, "two-exposures-0001", "r", control=False)
    shown(log, "control-visitor-01", "r", control=True)
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    [row] = report["lift"]
    assert (row["treatment"]["visitors"], row["treatment"]["conversions"]) == (6, 3)
    assert (row["control"]["visitors"], row["control"]["conversions"]) == (1, 0)
    assert row["verdict"] == "not enough data"


def test_a_visitor_in_both_arms_is_left_out_and_counted(tmp_path):
    log = Log()
    shown(log, "both-arms-visitor1", "r", control=False)
    shown(log, "both-arms-visitor1", "r", control=True)
    log.line("both-arms-visitor1", PURCHASE)
    for i in range(40):
        shown(log, f"treated-{i:02d}-visitor", "r", control=False)
        shown(log, f"control-{i:02d}-visitor", "r", control=True)
    log.line("treated-00-visitor", PURCHASE)
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    [row] = report["lift"]
    assert row["in_both_arms"] == 1
    assert (row["treatment"]["visitors"], row["treatment"]["conversions"]) == (40, 1)
    assert (row["control"]["visitors"], row["control"]["conversions"]) == (40, 0)
    assert row["relative_lift"] is None          # p_c = 0: no ratio, but an interval (corrected cells)
    assert row["relative_lift_ci"] == rounded([v - 1 for v in textbook_katz(1.5, 41, 0.5, 41)])
    assert row["verdict"] == "no detectable lift"


@pytest.mark.parametrize("treated, controls, converted, verdict", [
    (29, 100, 10, "not enough data"),   # an arm under 30 visitors
    (100, 100, 0, "not enough data"),   # nobody converted
    (100, 100, 40, "negative"),         # the holdout converts more (see the loop)
], ids=["small-arm", "no-conversions", "negative"])
def test_verdicts(tmp_path, treated, controls, converted, verdict):
    log = Log()
    for i in range(treated):
        shown(log, f"treated-{i:03d}-visitor", "r", control=False)
        if i < converted // 4:
            log.line(f"treated-{i:03d}-visitor", PURCHASE)
    for i in range(controls):
        shown(log, f"control-{i:03d}-visitor", "r", control=True)
        if i < converted:
            log.line(f"control-{i:03d}-visitor", PURCHASE)
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    assert report["lift"][0]["verdict"] == verdict


def test_a_planted_lift_is_found_and_no_lift_is_not(tmp_path):
    """2,000 visitors, each in or out of two rules' holdouts at random: rule A doubles the conversion
    rate (10 % -> 20 %), rule B does nothing."""
    rng = random.Random(20261118)
    log = Log()
    for i in range(2000):
        user = f"planted-visitor-{i:05d}"
        a_shown, b_shown = rng.random() < 0.5, rng.random() < 0.5
        a_variant = "hero-a" if a_shown else "control"
        b_variant = "promo-b" if b_shown else "control"
        decision = f"p{i}"
        log.line(user, VIEW, exposure(decision, "hero", "rule-a", a_variant),
                 exposure(decision, "promo", "rule-b", b_variant),
                 page=page(decision, hero=("rule-a", a_variant), promo=("rule-b", b_variant)))
        if rng.random() < (0.2 if a_shown else 0.1):
            log.line(user, PURCHASE)
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    lift = {row["rule"]: row for row in report["lift"]}
    a, b = lift["rule-a"], lift["rule-b"]
    assert a["difference_ci"][0] > 0 and a["relative_lift_ci"][0] > 0 and a["p_value"] < 0.05
    assert a["verdict"] == "lift"
    assert b["difference_ci"][0] < 0 < b["difference_ci"][1] and b["relative_lift_ci"][0] < 0 < b["relative_lift_ci"][1]
    assert b["verdict"] == "no detectable lift"
    assert a["treatment"]["visitors"] + a["control"]["visitors"] == 2000


# --- conversion by tier ------------------------------------------------------------------------

CONFIG = """
[scoring]
tiers = { zeta = 90, alpha = 50 }   # by name, alpha would come first

[fragments.f]
html = "<b>offer</b>"

[slots.promo]
[slots.hero]

[[rules]]
id = "r"
slot = "promo"
fragment = "f"
holdout = 50

[[rules]]
id = "never-seen"
slot = "hero"
fragment = "f"
holdout = 10
"""


def tier_log() -> Log:
    log = Log()
    # s1: alpha, then zeta, then a page below every tier: its tier is zeta. Converted.
    log.line("tiers-visitor-0001", VIEW, session="s1", page=page("t1", "alpha", 55))
    log.line("tiers-visitor-0001", VIEW, session="s1", page=page("t2", "zeta", 95))
    log.line("tiers-visitor-0001", VIEW, session="s1", page=page("t3", "", 10))
    log.line("tiers-visitor-0001", PURCHASE, session="s1")
    # s2, same visitor: alpha only, not converted.
    log.line("tiers-visitor-0001", VIEW, session="s2", page=page("t4", "alpha", 65))
    # s3: below every tier, converted; s4: alpha, converted; s5: no page decision at all, converted.
    log.line("tiers-visitor-0002", VIEW, PURCHASE, session="s3", page=page("t5", "", 20))
    log.line("tiers-visitor-0003", VIEW, session="s4", page=page("t6", "alpha", 51))
    log.line("tiers-visitor-0003", PURCHASE, session="s4")
    log.line("tiers-visitor-0004", PURCHASE, session="s5")
    return log


@pytest.mark.parametrize("with_config", [True, False], ids=["tiers-from-config", "tiers-from-scores"])
def test_conversion_by_tier(tmp_path, with_config):
    events = tier_log().write(tmp_path / "events.jsonl")
    config = (tmp_path / "config.toml")
    config.write_text(CONFIG)
    result, report = run(tmp_path, events, *(["--config", config] if with_config else []))
    assert result.exit_code == 0, result.output
    assert report["tiers"] == {"order": ["zeta", "alpha", ""], "from": "config" if with_config else "scores"}
    by_tier = {row["tier"]: row for row in report["conversion_by_tier"]["tiers"]}
    assert [(row["sessions"], row["conversions"]) for row in by_tier.values()] == [(1, 1), (2, 1), (1, 1)]
    assert by_tier["alpha"]["rate"] == 0.5
    assert by_tier["alpha"]["ci"] == rounded(textbook_wilson(1, 2))
    assert report["conversion_by_tier"]["without_page_decision"]["sessions"] == 1
    assert report["totals"]["sessions"] == 5 and report["totals"]["visitors"] == 4


def test_config_rules_with_a_holdout_are_listed_even_unseen(tmp_path):
    log = Log()
    shown(log, "some-visitor-00001", "r", control=True)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"), "--config", config)
    assert [row["rule"] for row in report["lift"]] == ["r", "never-seen"]
    assert report["lift"][1]["treatment"]["visitors"] == 0
    assert report["lift"][1]["verdict"] == "not enough data"
    assert [row["rule"] for row in report["fire_rates"]["rules"]] == ["r", "never-seen"]


# --- fire rates and alignment ----------------------------------------------------------------

def test_fire_rates(tmp_path):
    log = Log()
    log.line("fire-visitor-00001", VIEW, page=page("d1", hero=("a", "hero-a"), promo=("fallback", "promo-news")))
    log.line("fire-visitor-00001", VIEW, page=page("d2", hero=("a", "control"), promo=("b", "promo-b")))
    log.line("fire-visitor-00002", VIEW, page=page("d3", hero=("fallback", "hero-w"), promo=("b", "promo-b")))
    # d1 again (a second batch from the same page): one decision.
    log.line("fire-visitor-00001", exposure("d1", "hero", "a", "hero-a"),
             page=page("d1", hero=("a", "hero-a"), promo=("fallback", "promo-news")))
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    fire = report["fire_rates"]
    assert fire["page_decisions"] == report["totals"]["page_decisions"] == 3
    a, b = fire["rules"]
    third = round(1 / 3, 4)
    assert (a["rule"], a["fired"], a["fired_share"], a["held_out"], a["held_out_share"]) == ("a", 1, third, 1, third)
    assert (b["rule"], b["fired"], b["fired_share"], b["held_out"], b["held_out_share"]) == \
        ("b", 2, round(2 / 3, 4), 0, 0.0)
    assert a["fired_ci"] == rounded(textbook_wilson(1, 3))
    assert fire["fallback_by_slot"] == [
        {"slot": "hero", "decisions": 3, "fallback": 1, "share": third, "ci": rounded(textbook_wilson(1, 3))},
        {"slot": "promo", "decisions": 3, "fallback": 1, "share": third, "ci": rounded(textbook_wilson(1, 3))},
    ]


def test_alignment(tmp_path):
    log = Log()
    user = "aligned-visitor-01"
    # a in d1: seen twice (one exposure), clicked: aligned by the click.
    log.line(user, exposure("d1", "hero", "a", "hero-a"), session="s1")
    log.line(user, exposure("d1", "hero", "a", "hero-a"), click("d1", "hero", "a", "hero-a"), session="s1")
    # b in d2: a purchase later in the session: aligned by the goal.
    log.line(user, exposure("d2", "promo", "b", "promo-b"), session="s1")
    log.line(user, PURCHASE, session="s1")
    # b in d3: the purchase is in another session: not aligned.
    log.line(user, exposure("d3", "promo", "b", "promo-b"), session="s2")
    log.line(user, PURCHASE, session="s3")
    # a in d4: the purchase came first: not aligned. A click in another slot of d4: not aligned either.
    log.line(user, PURCHASE, session="s4")
    log.line(user, exposure("d4", "hero", "a", "hero-a"), click("d4", "promo", "b", "promo-b"), session="s4")
    # Control and fallback exposures are not fired exposures.
    log.line(user, exposure("d5", "hero", "a", "control"), exposure("d5", "promo", "fallback", "promo-n"),
             PURCHASE, session="s5")
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    alignment = report["alignment"]
    expected = {"exposures": 4, "aligned": 2, "by_click": 1, "by_goal": 1, "share": 0.5,
                "ci": rounded(textbook_wilson(2, 4))}
    assert alignment["overall"] == expected
    assert alignment["rules"] == [
        {"rule": "a", "exposures": 2, "aligned": 1, "by_click": 1, "by_goal": 0, "share": 0.5,
         "ci": rounded(textbook_wilson(1, 2))},
        {"rule": "b", "exposures": 2, "aligned": 1, "by_click": 0, "by_goal": 1, "share": 0.5,
         "ci": rounded(textbook_wilson(1, 2))},
    ]


# --- input: duplicates, files, malformed lines -----------------------------------------------

def test_duplicates_count_once_across_files(tmp_path):
    log = Log()
    first = log.line("dup-visitor-000001", VIEW, exposure("d1", "promo", "r", "control"),
                     page=page("d1", promo=("r", "control")))
    purchase = log.line("dup-visitor-000001", PURCHASE)
    log.lines += [dict(first), dict(purchase)]                      # the Worker's retries, same batchIds
    log.write(tmp_path / "a.jsonl")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as other:         # a retry that landed in another file
        other.write(json.dumps(purchase) + "\n")
    result, report = run(tmp_path, tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz")
    assert result.exit_code == 0, result.output
    totals = report["totals"]
    assert (totals["lines"], totals["batches"], totals["duplicates"]) == (5, 2, 3)
    assert totals["events_by_type"] == {"exposure": 1, "page_view": 1, "purchase": 1}
    assert report["lift"][0]["control"] == {"visitors": 1, "conversions": 1, "rate": 1.0,
                                            "ci": rounded(textbook_wilson(1, 1))}


def malformed_file(tmp_path: Path) -> Path:
    log = Log()
    log.line("good-visitor-00001", VIEW)
    path = log.write(tmp_path / "events.jsonl")
    good = json.dumps(log.lines[0] | {"batchId": "other"})
    bad = [
        "{not json",
        json.dumps(log.lines[0] | {"events": "page_view"}),
        json.dumps(log.lines[0] | {"events": [{"type": "exposure", "slot": "hero"}]}),
        "",                                                          # a blank line: neither counted nor malformed
        json.dumps([1, 2]),
        json.dumps(log.lines[0] | {"receivedAt": "yesterday"}),
        json.dumps(log.lines[0] | {"page": {"id": "d", "tier": 3, "choices": {}}}),
    ]
    path.write_text(path.read_text() + "\n".join(bad) + "\n" + good + "\n")
    return path


def test_malformed_lines_are_skipped_counted_and_named(tmp_path):
    path = malformed_file(tmp_path)
    result, report = run(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert report["totals"]["malformed"] == 6
    assert report["totals"]["blank_lines"] == 1
    assert report["totals"]["batches"] == 2
    assert report["malformed_lines"] == [
        f"{path}:2: bad JSON (Expecting property name enclosed in double quotes, column 2)",
        f"{path}:3: events must be an array, found a string",
        f"{path}:4: event 0: exposure needs a string rule",
        f"{path}:6: a line must be a JSON object, found an array",
        f"{path}:7: receivedAt must be epoch seconds",
        f"{path}:8: page.tier must be a string (\"\" below every tier)",
    ]
    stderr = result.stderr.splitlines()
    assert stderr[:5] == report["malformed_lines"][:5]               # the first few, on stderr
    assert "skipped 6 malformed line(s) (1 more not shown)" in result.stderr


def test_strict_stops_at_the_first_malformed_line(tmp_path):
    path = malformed_file(tmp_path)
    result, report = run(tmp_path, "--strict", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == \
        f"Error: {path}:2: bad JSON (Expecting property name enclosed in double quotes, column 2)"
    assert report is None


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("", "is empty (no event lines)"),
    ("\n  \n", "is empty (no event lines)"),
    ("{}\n", "no valid lines to report on: 1 malformed"),
], ids=["missing", "empty", "blank-lines", "nothing-valid"])
def test_unusable_inputs_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "events.jsonl"
    if content is not None:
        path.write_text(content)
    result, report = run(tmp_path, path)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.startswith("Error: ")
    assert report is None


def test_a_config_that_is_not_toml_is_an_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[scoring\n")
    result, _ = run(tmp_path, tier_log().write(tmp_path / "events.jsonl"), "--config", config)
    assert result.exit_code == 1 and f"Error: {config}: TOML: " in result.stderr   # configfile's ConfigError
    assert len(result.stderr.splitlines()) == 1


def test_a_config_that_does_not_compile_is_a_one_line_error_naming_the_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[scoring]\ntiers = { high = 185 }\n[[rules]]\nid = 'r'\nslot = 'nowhere'\nfragment = 'f'\n")
    result, report = run(tmp_path, tier_log().write(tmp_path / "events.jsonl"), "--config", config)
    assert result.exit_code == 1 and report is None
    assert result.stderr.startswith(f"Error: {config}: rule 'r': slot 'nowhere' is not declared")
    assert "scoring: tiers must map tier names to thresholds between 0 and 100" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_config_is_read_as_the_edge_compiles_it(tmp_path):
    config = tmp_path / "config.toml"                  # no [scoring] tiers: the edge's defaults, and its low tier
    config.write_text("[fragments.f]\nhtml = 'x'\n[slots.promo]\n[[rules]]\nid = 'r'\nslot = 'promo'\n"
                      "fragment = 'f'\nholdout = 5\n")
    log = Log()
    log.line("config-visitor-001", VIEW, page=page("c1", "medium", 70))
    log.line("config-visitor-002", VIEW, page=page("c2", "low", 10))
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"), "--config", config)
    assert result.exit_code == 0, result.output
    assert report["tiers"] == {"order": ["high", "medium", "low"], "from": "config"}
    assert [row["rule"] for row in report["lift"]] == ["r"]
    assert "tiers not in the config" not in result.stderr


# --- output ----------------------------------------------------------------------------------

def test_the_report_files_and_the_html_page(tmp_path):
    rule = 'big<sale> & "more"'      # no config would take this id; the events still can carry it
    config = tmp_path / "config.toml"
    config.write_text("[scoring]\ntiers = { high = 85 }\n")
    log = Log()
    for i in range(40):
        shown(log, f"html-visitor-{i:05d}", rule, control=i % 2 == 1)
        if i % 3 == 0:
            log.line(f"html-visitor-{i:05d}", PURCHASE)
    log.line("html-visitor-00001", click("d0", "promo", rule, f"{rule}-fragment"))
    result, report = run(tmp_path, log.write(tmp_path / "events.jsonl"), "--config", config)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert result.stdout.splitlines()[-2:] == [str(out / "report.json"), str(out / "report.html")]
    assert list(report) == ["v", "producer", "generated_at", "sources", "goal", "confidence", "period", "totals",
                            "malformed_lines", "anomalies", "tiers", "conversion_by_tier", "lift", "fire_rates",
                            "alignment"]
    assert report["period"]["first"] == "2026-11-18T11:06:41Z"

    page_html = (out / "report.html").read_text()
    assert page_html.startswith("<!DOCTYPE html>")
    assert "big&lt;sale&gt; &amp; &quot;more&quot;" in page_html
    assert "<sale>" not in page_html and '"more"' not in page_html
    assert "<script" not in page_html.lower()
    assert not re.search(r"https?:|//[a-z]|src=|href=|@import|url\(", page_html, re.IGNORECASE)
    assert page_html.count("<svg") == 4                             # one chart per metric
    for title in ("Conversion by intent tier", "Lift per trigger", "Fire rates", "Intent alignment"):
        assert f"<h2>{title}</h2>" in page_html
    assert page_html.count("How to read it:") == 4


def test_goal_option(tmp_path):
    log = Log()
    log.line("goal-visitor-00001", VIEW, {"type": "trial_start"}, page=page("d1", "high", 90))
    log.line("goal-visitor-00002", VIEW, PURCHASE, page=page("d2", "high", 91))
    events = log.write(tmp_path / "events.jsonl")
    result, report = run(tmp_path, events, "--goal", "trial_start")
    assert report["goal"] == "trial_start"
    assert report["conversion_by_tier"]["tiers"][0]["conversions"] == 1
    result, _ = run(tmp_path, events, "--goal", "purchases")
    assert result.exit_code == 2 and "'purchases' is not one of" in result.stderr


# --- the page's tables fit its column --------------------------------------------------------

CONTENT_PX = 880        # the sections' inner width at a desktop window is ~930 px (main 980 px, less padding)
CHAR_PX = {"td": 9.0, "th": 9.0, "sub": 7.7, "badge": 8.3}   # a digit of a 14/12/13 px sans, DejaVu's (wide)
NARROW = frozenset(" ,.")                                    # about half a digit
PADDING_PX = 16
FIRST_COLUMN_PX = 112 + PADDING_PX                           # 8em; it wraps anywhere beyond that


class _Tables(HTMLParser):
    """Each table of the page as rows of cells, a cell as its lines: [(kind, text)], kind being the cell
    ("td", "th"), "sub" (a smaller line under the value) or "badge" (wraps between words)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[list[tuple[str, str]]]]] = []
        self.cell: list[tuple[str, str]] | None = None
        self.kind = "td"
        self.spans: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.kind, self.cell = tag, [(tag, "")]
            self.tables[-1][-1].append(self.cell)
        elif tag == "br" and self.cell is not None:
            self.cell.append((self.kind, ""))
        elif tag == "span" and self.cell is not None:
            kind = "sub" if "sub" in classes else "badge" if "badge" in classes else None
            self.spans.append(kind)
            if kind:
                self.cell.append((kind, ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.cell = None
        elif tag == "span" and self.spans and self.spans.pop() and self.cell is not None:
            self.cell.append((self.kind, ""))   # what follows a block line starts a new one

    def handle_data(self, data):
        if self.cell is not None:
            kind, text = self.cell[-1]
            self.cell[-1] = (kind, text + data)


def min_width(table: list[list[list[tuple[str, str]]]]) -> float:
    """A generous estimate of the narrowest the table can be without overflowing: per column its widest
    unbreakable line (a header or badge breaks between words; other cells do not wrap), plus padding.
    Checked with headless Chromium (min-content width): a 1000-visitor demo run's lift table 698 px
    (estimate 707), the worst case below 824 px (854); the lift table before its cells stacked their
    lines needed 985 px (962) and overflowed behind a scrollbar."""
    def line_px(kind: str, text: str) -> float:
        pieces = text.split() if kind in ("th", "badge") else [text.strip()]
        units = max(sum(0.5 if char in NARROW else 1 for char in piece) for piece in pieces or [""])
        return units * CHAR_PX[kind] + (PADDING_PX if kind == "badge" else 0)

    columns = max(len(row) for row in table)
    widths = [max(max(line_px(*line) for line in row[i]) + PADDING_PX for row in table if i < len(row))
              for i in range(columns)]
    return FIRST_COLUMN_PX + sum(widths[1:])


def test_every_table_fits_the_page_column(tmp_path):
    """Worst-case numbers in every lift column (seven-digit counts, four-digit lifts, the longest verdict):
    the lift table keeps to six columns whose cells stack short lines, and no table needs a scrollbar."""
    log = Log()
    for i in range(20):
        shown(log, f"fit-visitor-{i:05d}", "r" * 40, control=i % 2 == 1)
    _, report = run(tmp_path, log.write(tmp_path / "events.jsonl"))
    arm = {"visitors": 9_876_543, "conversions": 1_234_567, "rate": 0.125, "ci": [0.1244, 0.1256]}
    report["lift"] = [{**row, "treatment": arm, "control": arm, "difference": -0.1234,
                       "difference_ci": [-0.9999, 0.9999], "relative_lift": 12.345,
                       "relative_lift_ci": [-0.9999, 99.999], "p_value": 0.1234, "verdict": verdict}
                      for row in report["lift"] for verdict in ("no detectable lift", "not enough data", "lift")]
    parser = _Tables()
    parser.feed(render(report))
    lift = next(table for table in parser.tables if table[0][-1] == [("th", "Verdict")])
    assert max(len(row) for row in lift) <= 6
    for table in parser.tables:
        assert min_width(table) <= CONTENT_PX, [cell[0][1] for cell in table[0]]
