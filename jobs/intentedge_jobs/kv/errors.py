"""What goes wrong reading or writing KV; the commands print any of these as one `Error: ...` line.

    KVError
    ├── KVConfigError    the store cannot be set up (missing environment, bad base URL)
    ├── KVRequestError   Cloudflare refused a request (a 4xx other than 429): not retried
    ├── KVUnavailable    429, 5xx or connection failures outlasted every attempt
    ├── WriteFailed      a sync stopped part-way; `.report` says what was written before
    └── WranglerError    wrangler, its project or its local KV failed
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sync import Report


class KVError(Exception):
    """Base class of the errors below."""


class KVConfigError(KVError):
    """A store cannot be set up as asked."""


class KVRequestError(KVError):
    """Cloudflare refused a request with a 4xx other than 429; retrying would not help."""


class KVUnavailable(KVError):
    """Rate limits, server errors or dropped connections outlasted every attempt."""


class WriteFailed(KVError):
    """A sync stopped part-way; `report` holds the plan and what was written before the failure."""

    def __init__(self, message: str, report: Report):
        super().__init__(message)
        self.report = report


class WranglerError(KVError):
    """wrangler failed; the message holds what it printed."""
