"""One JSON object per log line, so the Worker's logs can be searched and counted."""

from __future__ import annotations

import json
from typing import Any


def log_line(event: str, **fields: Any) -> str:
    """`log_line("fail_open", reason="...")` -> `{"event": "fail_open", "reason": "..."}`."""
    return json.dumps({"event": event, **fields}, default=str, separators=(",", ":"))
