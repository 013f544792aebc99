"""The events endpoint's rate limits: a bucket per key that refills over a minute, for a bounded
number of keys; and the budget of buckets per visitor, client and isolate an events POST passes."""

from __future__ import annotations

import pytest

from intentedge.events.rate_limit import LOG_EVERY_SECONDS, EventBudget, RateLimiter, client_key

from tests.core.builders import NOW


def test_the_rate_limit_refills_over_a_minute_per_visitor():
    limiter = RateLimiter(60)
    assert limiter.take("a", 50, NOW) == 0
    assert limiter.take("a", 20, NOW) == pytest.approx(10.0)   # 10 tokens short, one a second
    assert limiter.take("b", 60, NOW) == 0
    assert limiter.take("a", 20, NOW + 10) == 0
    assert limiter.take("a", 61, NOW + 1000) == 60.0            # more than the bucket ever holds


def test_the_rate_limit_forgets_the_least_recent_visitors():
    limiter = RateLimiter(10, max_keys=2)
    limiter.take("a", 10, NOW)
    limiter.take("b", 10, NOW)
    limiter.take("c", 10, NOW)
    assert limiter.take("a", 10, NOW) == 0                     # forgotten: a full bucket again
    assert limiter.take("c", 1, NOW) > 0


# -- per visitor, per client, per isolate (EventBudget) ----------------------------------------


def test_rotating_visitors_from_one_client_meet_the_client_limit():
    budget = EventBudget(per_visitor=50, per_client=200, per_isolate=10_000)
    accepted = [budget.take(f"visitor-{i}", "203.0.113.7", 50, now=0.0) for i in range(6)]
    assert accepted[:4] == [None] * 4
    assert accepted[4][0] == "client" and accepted[4][1] > 0 and accepted[5][0] == "client"
    assert budget.take("visitor-x", "203.0.113.8", 50, now=0.0) is None   # another client is not limited by it
    assert budget.take("visitor-0", "203.0.113.7", 50, now=60.0) is None  # a minute later it has refilled


def test_many_clients_meet_the_isolate_limit():
    budget = EventBudget(per_visitor=50, per_client=100, per_isolate=300)
    answers = [budget.take(f"v{i}", f"198.51.100.{i}", 50, now=0.0) for i in range(8)]
    assert answers[:6] == [None] * 6 and {a[0] for a in answers[6:]} == {"isolate"}


def test_one_visitor_still_meets_its_own_limit_first():
    budget = EventBudget(per_visitor=50, per_client=1_000, per_isolate=10_000)
    assert budget.take("v", "203.0.113.7", 50, now=0.0) is None
    assert budget.take("v", "203.0.113.7", 1, now=0.0)[0] == "visitor"


@pytest.mark.parametrize("ip, key", [
    ("203.0.113.7", "203.0.113.7"),
    (" 203.0.113.7 ", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),     # the same /64: one host rotating its address
    ("2001:DB8:1:2::7", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),             # IPv4-mapped
    ("not-an-ip", "not-an-ip"),
    ("", None),
    (None, None),
])
def test_a_client_is_its_ip_or_its_ipv6_slash_64(ip, key):
    assert client_key(ip) == key


def test_a_client_without_an_ip_is_limited_per_visitor_and_isolate_only():
    budget = EventBudget(per_visitor=50, per_client=50, per_isolate=120)
    assert budget.take("a", None, 50, now=0.0) is None and budget.take("b", None, 50, now=0.0) is None
    assert budget.take("c", None, 50, now=0.0)[0] == "isolate"


def test_refusals_are_reported_counted_and_at_most_once_a_minute():
    budget = EventBudget(per_visitor=50, per_client=50, per_isolate=10_000)
    assert budget.report(0.0) is None
    for i in range(5):
        budget.take(f"v{i}", "203.0.113.7", 50, now=0.0)
    assert budget.report(0.0) == {"client": 200}
    budget.take("v9", "203.0.113.7", 10, now=1.0)
    assert budget.report(1.0) is None                          # within the minute: counted, not reported
    budget.take("v9", "203.0.113.7", 50, now=2.0)                # the visitor's own limit: another scope
    assert budget.report(2.0) == {"visitor": 50}                  # reported at once
    assert budget.report(LOG_EVERY_SECONDS + 0.5) == {"client": 10}
