"""Accepted event lines waiting for the sink, and the count of those that never got there.

The Worker adds lines as batches are accepted and one background task at a time sends what
is waiting, in posts of at most `per_post` lines: lines accepted while a post is in flight
go out together in the next one. A post that fails is retried after each of RETRY_DELAYS;
after the last retry its lines are dropped, counted, and the Worker logs one line. When the
sink is slower than the traffic for long, the oldest lines beyond `capacity` are dropped the
same way, so a dead sink cannot exhaust the isolate's memory.
"""

from __future__ import annotations

from collections import deque

RETRY_DELAYS = (0.25, 1.0)    # seconds before the 2nd and 3rd attempt
POST_TIMEOUT = 5.0            # seconds per attempt


class Outbox:
    def __init__(self, *, capacity: int = 5_000, per_post: int = 200):
        self.capacity = capacity
        self.per_post = per_post
        self._lines: deque = deque()
        self.sending = False       # a background task is draining
        self.forwarded = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._lines)

    def add(self, line: dict) -> int:
        """Queue `line`; returns how many of the oldest lines overflowed and were dropped."""
        self._lines.append(line)
        overflow = 0
        while len(self._lines) > self.capacity:
            self._lines.popleft()
            overflow += 1
        self.dropped += overflow
        return overflow

    def take(self) -> list[dict]:
        """The next post's lines, oldest first."""
        return [self._lines.popleft() for _ in range(min(self.per_post, len(self._lines)))]

    def sent(self, lines: list[dict]) -> None:
        self.forwarded += len(lines)

    def failed(self, lines: list[dict]) -> None:
        """Retries are exhausted: the lines are lost, and counted."""
        self.dropped += len(lines)
