"""GrowthBook's SDK test data (../shared/conformance, never copied here) as pytest params.

Where the data is missing the cases are skipped on a developer's machine, and fail in CI (`CI`
set): a CI run that silently skipped the condition language's conformance would prove nothing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

CASES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "growthbook-cases.json").resolve()


def conformance(section: str, named: bool = True) -> list:
    """One param per row of a section of cases.json, the row's name as its id."""
    if not CASES.is_file():
        reason = f"GrowthBook conformance cases not found at {CASES} (shared checkout, not part of this repo)"
        if os.environ.get("CI"):   # the module fails to collect, with this line as its error
            pytest.fail(f"{reason}; CI must have it", pytrace=False)
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id=f"{section}-cases-missing")]
    rows = json.loads(CASES.read_text(encoding="utf-8"))[section]
    seen: Counter[str] = Counter()
    params = []
    for row in rows:
        # hash and getEqualWeights rows have no name: their arguments are the id
        name = row[0] if named else json.dumps(row[:-1], ensure_ascii=False)
        # "$not - pass" names two rows: $not over a condition, and over a value
        seen[name] += 1
        case = row[1:] if named else row
        params.append(pytest.param(case, id=name if seen[name] == 1 else f"{name} ({seen[name]})"))
    return params
