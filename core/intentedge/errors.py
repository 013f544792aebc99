"""Every error intentedge raises on purpose.

    IntentEdgeError
    ├── SchemaError       bytes that are not a valid envelope of the expected schema
    │   └── VersionError  a well-formed envelope of a major version this reader cannot read
    └── ConfigError       a config that cannot be compiled; carries one Problem per defect

This module imports nothing from the package, so every module can import it.
"""

from __future__ import annotations

from dataclasses import dataclass


class IntentEdgeError(Exception):
    """Base class of the errors below."""


class SchemaError(IntentEdgeError):
    """Bytes read from KV (or written to it) are not a valid envelope."""


class VersionError(SchemaError):
    """An envelope of a schema major version this reader does not understand."""


@dataclass(frozen=True)
class Problem:
    """One defect in a config: where it is, what is wrong, and how to fix it."""

    item: str
    reason: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.item}: {self.reason}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(IntentEdgeError):
    """A config failed validation. `problems` lists every defect found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        summary = "; ".join(str(p) for p in self.problems[:3])
        more = f" (and {count - 3} more)" if count > 3 else ""
        super().__init__(f"{source}: {summary}{more}")
