"""A token bucket per key (a visitor id), kept in the isolate: bounded memory, clock injected.

Per isolate, so at the edge a visitor whose requests reach several isolates gets a bucket in
each: the limit stops a runaway page or script, it is not an exact quota.
"""

from __future__ import annotations


class RateLimiter:
    def __init__(self, per_minute: int, *, max_keys: int = 10_000):
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, at), oldest first

    def take(self, key: str, n: int, now: float) -> float:
        """Take `n` tokens for `key`: 0 if allowed, else the seconds until they would be there."""
        capacity = float(self.per_minute)
        tokens, at = self._buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - at) * capacity / 60.0)
        if n <= tokens:
            tokens -= n
            wait = 0.0
        else:
            wait = (min(n, capacity) - tokens) * 60.0 / capacity if n <= capacity else 60.0
        self._buckets[key] = (tokens, now)   # re-inserted last: the least recently seen go first
        while len(self._buckets) > self.max_keys:
            self._buckets.pop(next(iter(self._buckets)))
        return wait
