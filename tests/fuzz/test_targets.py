"""The fuzz targets of fuzz/targets/, a few hundred derandomized inputs each, so every test run tries them.

`python -m fuzz.run` runs the same targets with 100,000 random inputs each.
"""

from __future__ import annotations

import pytest

from fuzz.targets import RUNS, TARGETS, fuzz_settings

EXAMPLES = 200


@pytest.mark.parametrize("name", list(TARGETS))
def test_target(name):
    RUNS[name] = 0
    TARGETS[name].test(fuzz_settings(EXAMPLES, derandomize=True))()
    assert RUNS[name] >= EXAMPLES
