"""The fuzz targets' registry: `target` registers a check under its name in TARGETS, `RUNS` counts
the inputs each target has seen, and `fuzz_settings` is how fuzz/run.py and tests/fuzz run them."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

RUNS: Counter[str] = Counter()
TARGETS: dict[str, Target] = {}


def fuzz_settings(examples: int, *, derandomize: bool = False) -> settings:
    """Generate `examples` inputs, then shrink a failure to a minimal one; no example database."""
    return settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                    suppress_health_check=list(HealthCheck), phases=(Phase.generate, Phase.shrink))


@dataclass(frozen=True)
class Target:
    name: str
    check: Callable[..., None]
    strategies: dict[str, st.SearchStrategy]

    def test(self, examples: settings) -> Callable[[], None]:
        """The hypothesis test of this target, run under `examples` (see fuzz_settings)."""
        return examples(given(**self.strategies)(self.check))


def target(name: str, /, **strategies: st.SearchStrategy):
    """Register the decorated check as target `name`, fed by `strategies` (one per parameter)."""

    def register(check: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(check)
        def counted(**inputs: Any) -> None:
            RUNS[name] += 1
            check(**inputs)

        TARGETS[name] = Target(name, counted, strategies)
        return check

    return register
