"""KV_BUDGET_MS: a slow KV never holds a page up. Past the budget the page goes out with fallbacks
(or without the profile), and the late read completes in the background, so later requests have it.

Runs its own Worker (tests/worker/slow_kv_entry.py wraps the real entry and the real local KV
with a per-request delay) so that its isolate starts with nothing cached.
"""

import shutil
import time

import pytest

from . import origin as site
from .conftest import run_worker
from .test_engine import hero
from .test_privacy import loyal_visitor  # noqa: F401  (a fixture)

BUDGET_MS = 100
DELAY_MS = 1500   # each read; the config takes two (pointer, then bundle)


@pytest.fixture(scope="module")
def slow_worker(origin, kv_dir, publish, staged_worker, dev_secrets, tmp_path_factory):
    publish()
    staged = tmp_path_factory.mktemp("slow-kv") / "worker"
    shutil.copytree(staged_worker, staged)
    shutil.copy2(__file__.replace("test_kv_budget.py", "slow_kv_entry.py"), staged / "slow_kv_entry.py")
    yield from run_worker(staged, tmp_path_factory, kv_dir=kv_dir, entry="slow_kv_entry.py",
                          bindings={**dev_secrets, "ORIGIN_URL": origin.url, "KV_BUDGET_MS": str(BUDGET_MS)})


def slow(prefix: str = "") -> dict[str, str]:
    return {"x-test-kv-delay-ms": str(DELAY_MS), "x-test-kv-prefix": prefix}


def test_a_slow_config_read_is_not_waited_for_and_lands_in_the_background(slow_worker):
    # first: this isolate has nothing cached yet
    mark = slow_worker.log_mark()
    started = time.monotonic()
    first = slow_worker.get("/", headers=slow())
    assert time.monotonic() - started < DELAY_MS / 1000
    assert first.status == 200 and first.body == site.SLOTTED           # the origin's page, as it was
    slow_worker.wait_for_log('"reason":"OverBudget","detail":"config not read from KV within KV_BUDGET_MS=100"',
                             since=mark)
    # the read it started completes after the response and fills the cache: KV is as slow as
    # ever, yet pages come back personalized without waiting for it
    deadline = time.monotonic() + 20
    while True:
        reply = slow_worker.get("/", headers=slow())
        if b"data-pz-rule=" in reply.body:
            break
        assert time.monotonic() < deadline, "the late config read never reached the isolate's cache"
        time.sleep(0.2)


def test_a_slow_profile_read_leaves_the_profile_out_until_it_lands(slow_worker, loyal_visitor):
    slow_worker.get_until("/", lambda reply: b"data-pz-rule=" in reply.body)     # config cached
    mark = slow_worker.log_mark()
    late = slow_worker.get("/", headers={"Cookie": loyal_visitor, **slow("profile/")})
    assert hero(late)[0] == "fallback"                  # personalized, without the profile
    slow_worker.wait_for_log('"event":"kv_over_budget","what":"profile"', since=mark)
    slow_worker.get_until("/", lambda reply: hero(reply)[0] == "loyalty",
                          headers={"Cookie": loyal_visitor, **slow("profile/")})

