"""Every error intentedge raises on purpose, and the base class they share.

    IntentEdgeError
    ├── SchemaError                    bytes that are not a valid envelope of the expected schema
    │   └── VersionError               a well-formed envelope of a major version this reader cannot read
    ├── ConfigError                    a config that cannot be compiled; carries one Problem per defect
    ├── SessionKeyError   ValueError   the SESSION_KEYS secret is malformed (signing.py)
    ├── SignatureError    ValueError   a signed token that does not verify, with the reason (signing.py)
    ├── PageTokenError    ValueError   a page token that is not one, does not verify or has expired
    │                                  (events/page_token.py)
    ├── OriginURLError    ValueError   ORIGIN_URL is not an absolute http(s) URL (origin.py)
    ├── TemplateError     ValueError   a fragment template that cannot be compiled (fragments.py)
    ├── MissingParameter  LookupError  a template parameter without a usable value (fragments.py)
    ├── EventRejected     ValueError   a batch the events endpoint refuses, with its HTTP status
    │                                  (events/batch.py)
    └── LineError         ValueError   an events line or batch without its shape, `reason` one word
                                       (events/vocabulary.py; events/fold.py names it EventError)

The second column is a builtin base the error also has, so an `except ValueError` or
`except LookupError` written for it still catches it. IntentEdgeError and the three errors
without a builtin base live here, the others beside the code that raises them. This module
imports nothing from the package, so every module can import it.
"""

from __future__ import annotations

from dataclasses import dataclass


class IntentEdgeError(Exception):
    """Base class of every error intentedge raises on purpose (the tree above)."""


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
