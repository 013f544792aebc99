"""The isolate's cache of KV metadata (the config pointer, visitor profiles), with
stale-while-revalidate, stale-if-error and negative entries.

One entry's life, for a policy (fresh, swr, sie), counted from `stored` = when it was stored:

    stored ........ +fresh ........ +fresh+swr ........ +fresh+max(swr, sie)
      |   FRESH      |     STALE      |      MISS           |   gone
      |  serve, no   |  serve, and    |  blocking read;     |
      |  read        |  refresh in    |  `failed()` still   |
      |              |  background    |  returns the value  |

A negative entry ("KV has no such key") uses `negative` instead of `fresh`.

The caller drives the reads (this module does no I/O and reads no clock):

    hit = cache.lookup(key, now)
    if hit.state is State.STALE and cache.begin_refresh(key, now):
        schedule(refresh(key))              # ctx.waitUntil; calls end_refresh() in `finally`
    if hit.state is State.MISS:
        ...blocking read; store() / store_missing() on success, failed() on error...

`failed(key, now)` after a read error or an undecodable value returns the old value while it
is inside its stale-if-error window, and from then on `lookup()` serves it as STALE (not MISS)
until that window ends: a failing KV then costs one background read per `retry_after` seconds
per key, not a blocking read per request.

Memory is bounded by entry count and by the sum of the sizes callers declare (e.g. the
length of the KV value); the least recently used entries go first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, NamedTuple

# Size charged for a negative entry, which has no value of its own.
NEGATIVE_ENTRY_SIZE = 64


class State(str, Enum):
    FRESH = "fresh"  # serve the value, no read
    STALE = "stale"  # serve the value now, refresh in the background (single-flight)
    MISS = "miss"    # nothing usable: read KV before answering


class Lookup(NamedTuple):
    """What the cache holds for a key. `absent` marks a negative entry: KV had no such key
    (then `value` is None). A MISS carries no value."""

    state: State
    value: Any = None
    absent: bool = False


_MISS = Lookup(State.MISS)


@dataclass(frozen=True)
class CachePolicy:
    """How long an entry may be served, in seconds.

    fresh     served without any read (60: KV's own edge cache, cacheTtl=60, would
              mostly answer a sooner read with the same value anyway)
    swr       after `fresh`, served while one background read refreshes it (600)
    sie       after `fresh`, served when reading fails or the new value is unusable (86400:
              a KV outage or a bad publish keeps yesterday's config rather than none)
    negative  how long "KV has no such key" counts as fresh (60); swr and sie apply after it

    The config bundle can override these: `dataclasses.replace(DEFAULT_POLICY, **overrides)`
    validates like the constructor.
    """

    fresh: float = 60
    swr: float = 600
    sie: float = 86_400
    negative: float = 60

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                    or math.isinf(value):
                raise ValueError(f"CachePolicy.{field.name} must be a finite number of seconds >= 0, "
                                 f"found {value!r}")


DEFAULT_POLICY = CachePolicy()


class _Entry:
    __slots__ = ("fresh_until", "stale_until", "error_until", "retry_at", "size", "fresh", "stale")

    def __init__(self, value: Any, absent: bool, now: float, fresh: float, policy: CachePolicy, size: int):
        self.fresh_until = now + fresh
        self.stale_until = self.fresh_until + policy.swr
        # stale-if-error counts from the end of freshness; within the swr window the value is
        # served anyway, so an error there never makes it unusable
        self.error_until = self.fresh_until + max(policy.swr, policy.sie)
        self.retry_at = -math.inf  # no background refresh before this (set after a failure)
        self.size = size
        self.fresh = Lookup(State.FRESH, value, absent)  # built once: a hit allocates nothing
        self.stale = Lookup(State.STALE, value, absent)


class MetadataCache:
    """LRU cache of KV metadata, bounded by `max_entries` and `max_bytes` (sizes as declared by
    callers). `refresh_timeout`: an in-flight refresh older than this is taken as abandoned.
    `retry_after`: after `failed()`, no background refresh of that key for this long.
    `policy`: what `store()` and `store_missing()` use when not given one.
    """

    def __init__(self, *, max_entries: int = 1000, max_bytes: int = 4 * 1024 * 1024,
                 policy: CachePolicy = DEFAULT_POLICY, refresh_timeout: float = 10.0,
                 retry_after: float = 10.0):
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, found {value!r}")
        for name, value in (("refresh_timeout", refresh_timeout), ("retry_after", retry_after)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, found {value!r}")
        if not isinstance(policy, CachePolicy):
            raise ValueError(f"policy must be a CachePolicy, found {type(policy).__name__}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.policy = policy
        self.refresh_timeout = refresh_timeout
        self.retry_after = retry_after
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._refreshing: dict[str, float] = {}  # key -> when its refresh began

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    @property
    def bytes_used(self) -> int:
        """The sum of the declared sizes of the entries held."""
        return self._bytes

    def lookup(self, key: str, now: float) -> Lookup:
        """FRESH or STALE with the value (maybe a negative entry), or MISS."""
        entry = self._entries.get(key)
        if entry is None:
            return _MISS
        if now < entry.fresh_until:
            self._entries.move_to_end(key)
            return entry.fresh
        if now < entry.stale_until:
            self._entries.move_to_end(key)
            return entry.stale
        if now >= entry.error_until:  # not even usable on error any more
            self._remove(key)
        return _MISS

    def store(self, key: str, value: Any, now: float, *, size: int, policy: CachePolicy | None = None) -> bool:
        """Cache `value` as read at `now`; `size` in bytes counts against `max_bytes`.

        False when the value is larger than the whole byte budget: it is not stored, and any
        older entry for the key is dropped (it is no longer the current value).
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be an int >= 0, found {size!r}")
        policy = self.policy if policy is None else policy
        return self._put(key, _Entry(value, False, now, policy.fresh, policy, size))

    def store_missing(self, key: str, now: float, *, policy: CachePolicy | None = None) -> bool:
        """Cache "KV has no such key", fresh for `policy.negative` seconds."""
        policy = self.policy if policy is None else policy
        return self._put(key, _Entry(None, True, now, policy.negative, policy, NEGATIVE_ENTRY_SIZE))

    def failed(self, key: str, now: float) -> Lookup:
        """After a read error or an unusable value for `key`: the old value (STALE, or FRESH if
        it still is) while inside its stale-if-error window, else MISS (use the fallbacks).

        A usable entry is then served as STALE until that window ends, and not refreshed again
        for `retry_after` seconds.
        """
        entry = self._entries.get(key)
        if entry is None:
            return _MISS
        if now >= entry.error_until:
            self._remove(key)
            return _MISS
        self._entries.move_to_end(key)
        entry.stale_until = entry.error_until
        entry.retry_at = now + self.retry_after
        return entry.fresh if now < entry.fresh_until else entry.stale

    def begin_refresh(self, key: str, now: float) -> bool:
        """Claim the background refresh of `key`. False when one is already in flight (begun less
        than `refresh_timeout` ago) or a failed one is backing off: do not start another."""
        started = self._refreshing.get(key)
        if started is not None and now - started < self.refresh_timeout:
            return False
        entry = self._entries.get(key)
        if entry is not None and now < entry.retry_at:
            return False
        if started is None and len(self._refreshing) >= self.max_entries:
            self._forget_abandoned(now)
        self._refreshing[key] = now
        return True

    def end_refresh(self, key: str) -> None:
        """The refresh of `key` is over, however it ended (call it in `finally`)."""
        self._refreshing.pop(key, None)

    def discard(self, key: str) -> None:
        """Forget `key` (its value and any refresh in flight)."""
        self._remove(key)
        self._refreshing.pop(key, None)

    def _put(self, key: str, entry: _Entry) -> bool:
        self._remove(key)
        if entry.size > self.max_bytes:
            return False
        self._entries[key] = entry
        self._bytes += entry.size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
        return True

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _forget_abandoned(self, now: float) -> None:
        timeout = self.refresh_timeout
        for key in [k for k, started in self._refreshing.items() if now - started >= timeout]:
            del self._refreshing[key]
