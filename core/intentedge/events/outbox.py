"""Accepted event lines waiting for the sink, and the count of those that never got there.

The Worker adds lines (as JSON text) as batches are accepted, and one background task at a
time drains the outbox in posts of at most POST_BYTES: lines accepted while a post is in flight
go out together in the next one. A drain makes at most MAX_POSTS posts, so that it stays within
what one request's `waitUntil` may do; what is left waits for the next accepted batch to start
another drain. A drain that the runtime abandoned (its flag older than STALE_SECONDS) no longer
blocks the next one.

A post that fails with a 5xx, 408, 429, a network error or a timeout is retried after each of
RETRY_DELAYS; after the last retry, or at once for any other status (the sink refuses the
content), its lines are dropped, counted, and the Worker logs one line. Beyond CAPACITY_BYTES
waiting (a sink slower than the traffic for long) the oldest lines are dropped the same way, so a
dead sink cannot exhaust the isolate's memory.
"""

from __future__ import annotations

from collections import deque

RETRY_DELAYS = (0.25, 1.0)    # seconds before the 2nd and 3rd attempt
POST_TIMEOUT_MS = 5_000       # per attempt
POST_BYTES = 1 << 20          # per post: the sink must accept bodies of 1 MiB
CAPACITY_BYTES = 8 << 20      # waiting, per isolate
MAX_POSTS = 5                 # per drain: at most 5 x 3 attempts = 15 subrequests
STALE_SECONDS = 60.0


def retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


class Outbox:
    def __init__(self, *, capacity_bytes: int = CAPACITY_BYTES, post_bytes: int = POST_BYTES):
        self.capacity_bytes = capacity_bytes
        self.post_bytes = post_bytes
        self._lines: deque[str] = deque()
        self._bytes = 0
        self._draining_since: float | None = None
        self.forwarded = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._lines)

    def add(self, line: str) -> int:
        """Queue a line (JSON text); returns how many of the oldest lines overflowed and were dropped."""
        self._lines.append(line)
        self._bytes += len(line)
        overflow = 0
        while self._bytes > self.capacity_bytes:
            self._bytes -= len(self._lines.popleft())
            overflow += 1
        self.dropped += overflow
        return overflow

    def start_drain(self, now: float) -> bool:
        """True if the caller is to drain now: no drain is running, or the running one is stale."""
        if self._draining_since is not None and now - self._draining_since < STALE_SECONDS:
            return False
        self._draining_since = now
        return True

    def end_drain(self) -> None:
        self._draining_since = None

    def take(self) -> list[str]:
        """The next post's lines, oldest first: at least one, then as many as fit in post_bytes."""
        lines, size = [], 0
        while self._lines and (not lines or size + len(self._lines[0]) + 1 <= self.post_bytes):
            line = self._lines.popleft()
            self._bytes -= len(line)
            size += len(line) + 1
            lines.append(line)
        return lines

    def sent(self, lines: list[str]) -> None:
        self.forwarded += len(lines)

    def failed(self, lines: list[str]) -> None:
        """Retries are exhausted or pointless: the lines are lost, and counted."""
        self.dropped += len(lines)


def post_body(lines: list[str]) -> str:
    """What the sink receives: `{"v": 1, "batches": [line, ...]}`."""
    return '{"v":1,"batches":[' + ",".join(lines) + "]}"
