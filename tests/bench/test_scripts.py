"""The benchmarks under bench/ are run by hand, not by the suite: at least they must import, so a
rename elsewhere (a helper moved between bench modules) shows here instead of at the next run.

That covers the scripts (bench/*.py) and the harness they share (bench/harness/), both imported
the way a script run as `python bench/<script>.py` imports them: with bench/ on sys.path."""

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module_name(path: Path) -> str:
    """bench/ab.py -> ab, bench/harness/__init__.py -> harness, bench/harness/load.py -> harness.load"""
    parts = path.relative_to(BENCH).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted([*BENCH.glob("*.py"), *BENCH.glob("harness/*.py")])}


def test_the_harness_is_among_the_modules_imported():
    assert {"harness", "harness.origins", "harness.workers", "harness.load", "harness.debian"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_benchmark_script_imports(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    loaded = set(sys.modules)
    try:
        module = importlib.import_module(name)
        assert module.__file__ == str(MODULES[name])   # bench's own, not a namesake on sys.path
    finally:   # bench's top-level names (harness, decision, ...) must not linger for other tests
        for added in set(sys.modules) - loaded:
            if str(getattr(sys.modules[added], "__file__", "")).startswith(str(BENCH)):
                del sys.modules[added]
