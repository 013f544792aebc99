"""`build-profiles` over floods of forged purchases and values mixed with clean visitors: each clean
visitor's profile line is byte for byte what it is without the flood, and a forged visitor's profile
stays within the fold's bounds on claims (events/fold.py), however many lines it sends."""

from __future__ import annotations

import io
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentedge.events import fold
from intentedge_jobs import build_profiles as job
from intentedge_jobs.configfile import read_config_file

from tests.jobs.test_build_profiles import CONFIG, GOOD, NOW, SALT, batch, key, profiles, write_lines

DAY = 86_400


def forged_lines(rng: random.Random, forgers: int, lines: int, purchases: int, value: float) -> list[dict]:
    """`forgers` visitors, each sending `lines` lines of `purchases` purchases and a cart_add of `value`,
    stamped over a few days, in a shuffled order."""
    out = []
    for forger in range(forgers):
        for n in range(lines):
            at = NOW + rng.randrange(4) * DAY + n
            out.append(batch(f"forger-{forger:04d}", f"f-{forger}-{n % 3}",
                             *({"type": "purchase", "value": value, "timestamp": at} for _ in range(purchases)),
                             {"type": "cart_add", "productId": "alpha-pro", "quantity": 10_000, "value": value,
                              "timestamp": at - 1}))
    rng.shuffle(out)
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), forgers=st.integers(1, 40), lines=st.integers(1, 30),
       purchases=st.integers(0, 50), value=st.sampled_from([1.0, 999_999.0]))
def test_a_flood_leaves_clean_profiles_as_they_were_and_forged_ones_bounded(tmp_path_factory, seed, forgers, lines,
                                                                           purchases, value):
    work = tmp_path_factory.mktemp("floods")
    config = work / "config.toml"
    config.write_text(CONFIG)
    bundle = read_config_file(config).bundle
    rng = random.Random(seed)
    flood = forged_lines(rng, forgers, lines, purchases, value)
    mixed = list(GOOD)
    for line in flood:                         # the clean lines keep their order among the forged ones
        mixed.insert(rng.randrange(len(mixed) + 1), line)
    outputs = {}
    for name, content in (("clean", GOOD), ("mixed", mixed)):
        out = work / f"{name}.jsonl"
        job.build(write_lines(work / f"{name}-events.jsonl", content), out, bundle=bundle, salt=SALT.encode(),
                  written_at=NOW, progress_file=io.StringIO())
        outputs[name] = {line.split('"', 4)[3]: line for line in out.read_text().splitlines()}
    for user in ("ann@example.com", "bob", "cy"):
        assert outputs["mixed"][key(user)] == outputs["clean"][key(user)]
    found = profiles(work / "mixed.jsonl")
    days = 4
    for forger in range(forgers):
        profile = found[key(f"forger-{forger:04d}")]
        assert profile.purchases <= min(fold.MAX_DAILY_PURCHASES * days, fold.MAX_LINE_PURCHASES * lines)
        assert profile.cart_value <= fold.MAX_CART_VALUE and profile.cart_items <= fold.MAX_CART_ITEMS
