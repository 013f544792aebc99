"""The fuzz targets of fuzz/targets.py, a few hundred derandomized inputs each, so every test run tries them.

`python -m fuzz.run` runs the same targets with 100,000 random inputs each.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings

from fuzz.targets import RUNS, TARGETS, fuzz_settings

EXAMPLES = 200

# What the fuzzer finds and is reported rather than fixed. Not strict: a short run may miss it; any other
# error still fails the test.
KNOWN = {
}


@pytest.mark.parametrize("name", [pytest.param(name, marks=KNOWN.get(name, ())) for name in TARGETS])
def test_target(name):
    chosen = fuzz_settings(EXAMPLES, derandomize=True)
    if name in KNOWN:   # the first failure is enough; shrinking a slow one takes a while
        chosen = settings(chosen, phases=[Phase.generate])
    RUNS[name] = 0
    TARGETS[name].test(chosen)()
    assert RUNS[name] >= EXAMPLES
