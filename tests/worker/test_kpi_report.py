"""Closing the loop, checked against a known truth: synthetic visitors browse the demo shop through
the real Worker with a planted lift for one rule (bundle-on-products doubles the purchase rate) and
none for another (local-pickup); their events reach the collector through the Worker's endpoint;
`intentedge report` must find the one and not the other, and count the same visitors the traffic did."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from intentedge_jobs import traffic

from .conftest import ROOT

VISITORS = 1000
SEED = 7


@pytest.fixture(scope="module")
def reported(demo, tmp_path_factory):
    truth = traffic.run(demo.worker.url, VISITORS, SEED, concurrency=4)
    assert truth.failed == 0, truth.statuses
    ours = {visit.plan.visitor_id for visit in truth.visits}
    buyers = sum(1 for visit in truth.visits if visit.purchased)

    def all_purchases_in(lines):
        return buyers == len({l["userId"] for l in lines if l["userId"] in ours
                              for e in l["events"] if e["type"] == "purchase"})

    lines = [line for line in demo.wait_for_lines(all_purchases_in, timeout=30) if line["userId"] in ours]
    work = tmp_path_factory.mktemp("kpi")
    (work / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = subprocess.run([sys.executable, "-m", "intentedge_jobs.cli", "report", str(work / "events.jsonl"),
                           "--config", str(ROOT / "demo" / "config.toml"), "--out", str(work / "report")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads((work / "report" / "report.json").read_text())
    return truth, {row["rule"]: row for row in summary["lift"]}, summary, work


def test_the_report_counts_the_visitors_and_buyers_the_traffic_made(reported):
    truth, lift, _, _ = reported
    for rule in ("bundle-on-products", "local-pickup"):
        row, known = lift[rule], truth.rules[rule]
        assert (row["treatment"]["visitors"], row["treatment"]["conversions"]) == (
            known.treated.visitors, known.treated.conversions), rule
        assert (row["control"]["visitors"], row["control"]["conversions"]) == (
            known.control.visitors, known.control.conversions), rule


def test_the_planted_lift_is_found(reported):
    _, lift, _, _ = reported
    row = lift["bundle-on-products"]
    assert row["verdict"] == "lift"
    low, high = row["difference_ci"]
    assert low > 0
    low, high = row["relative_lift_ci"]
    assert low <= 1.0 <= high          # planted: p doubles (relative lift +100 %)


def test_no_lift_is_found_where_none_was_planted(reported):
    _, lift, _, _ = reported
    row = lift["local-pickup"]
    assert row["verdict"] == "no detectable lift"
    low, high = row["difference_ci"]
    assert low < 0 < high


def test_the_html_report_is_self_contained(reported):
    *_, work = reported
    page = (work / "report" / "report.html").read_text()
    assert "bundle-on-products" in page and "<svg" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
