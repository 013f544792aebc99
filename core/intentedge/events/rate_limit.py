"""A token bucket per key (a visitor id), kept in the isolate: bounded memory, clock injected.

Per isolate, so at the edge a visitor whose requests reach several isolates gets a bucket in
each: the limit stops a runaway page or script, it is not an exact quota.
"""

from __future__ import annotations

import ipaddress


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


LOG_EVERY_SECONDS = 60.0   # counted refusals of one scope are reported at most once a minute


class EventBudget:
    """The three limits an events POST passes, in order: per visitor, per client (the connecting IP,
    an IPv6 address by its /64: one host can rotate within it), and for the whole isolate. Any GET
    mints a visitor, so the visitor limit alone does not bound one client; a flood from many
    clients meets the isolate's. Refusals are counted and reported at most once a minute for each scope."""

    def __init__(self, per_visitor: int, per_client: int, per_isolate: int):
        self.limits = {"visitor": per_visitor, "client": per_client, "isolate": per_isolate}
        self._buckets = {"visitor": RateLimiter(per_visitor), "client": RateLimiter(per_client),
                         "isolate": RateLimiter(per_isolate, max_keys=1)}
        self.refused: dict[str, int] = {}     # by scope, since the last report
        self._reported_at: dict[str, float] = {}   # scope -> when its refusals were last reported

    def take(self, visitor_id: str, client_ip: str | None, n: int, now: float) -> tuple[str, float] | None:
        """None if the `n` events may go in, else (the scope that refused, seconds to wait)."""
        for scope, key in (("visitor", visitor_id), ("client", client_key(client_ip)), ("isolate", "")):
            if key is None:   # no connecting IP (a local runtime may not say): the other limits hold
                continue
            wait = self._buckets[scope].take(key, n, now)
            if wait:
                self.refused[scope] = self.refused.get(scope, 0) + n
                return scope, wait
        return None

    def report(self, now: float) -> dict[str, int] | None:
        """The refusals counted since the last report, for each scope last reported at least
        LOG_EVERY_SECONDS ago (a scope's first refusals at once); None when none is due."""
        due = {scope: n for scope, n in self.refused.items()
               if now - self._reported_at.get(scope, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS}
        if not due:
            return None
        for scope in due:
            del self.refused[scope]
            self._reported_at[scope] = now
        return due


def client_key(ip: str | None) -> str | None:
    """The rate-limit key of a connecting IP: an IPv4 address as it is, an IPv6 one by its /64
    (an IPv4-mapped IPv6 address as its IPv4 address); None without one."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:   # not an address: limited as the text it is
        return ip[:64]
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address) + "/64"
    return str(address)
