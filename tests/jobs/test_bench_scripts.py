"""The benchmarks under bench/ are run by hand, not by the suite: at least they must import, so a
rename elsewhere (a helper moved between bench modules) shows here instead of at the next run."""

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(path.stem for path in BENCH.glob("*.py")))
def test_a_benchmark_script_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    loaded = set(sys.modules)
    try:
        module = importlib.import_module(name)
        assert module.__file__ == str(BENCH / f"{name}.py")   # bench's own, not a namesake on sys.path
    finally:   # bench's top-level names (common, decision, ...) must not linger for other tests
        for added in set(sys.modules) - loaded:
            if str(getattr(sys.modules[added], "__file__", "")).startswith(str(BENCH)):
                del sys.modules[added]
