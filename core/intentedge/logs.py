"""One JSON object per log line, so the Worker's logs can be searched and counted."""

from __future__ import annotations

import json
from typing import Any


def log_line(event: str, /, **fields: Any) -> str:
    """`log_line("fail_open", reason="...")` -> `{"event": "fail_open", "reason": "..."}`."""
    record = {"event": event, **fields}
    try:
        return json.dumps(record, default=str, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or infinity: strict JSON has no spelling for them
        return json.dumps({k: _finite(v) for k, v in record.items()}, default=str, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return value
