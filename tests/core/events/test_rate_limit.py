"""The events endpoint's rate limit: a bucket per visitor that refills over a minute, for a bounded
number of visitors."""

from __future__ import annotations

import pytest

from intentedge.events.rate_limit import RateLimiter

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
