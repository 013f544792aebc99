"""Intent metadata from KV: the config bundle (pointer, then the content-addressed bundle,
compiled once per isolate) and visitor profiles, cached in the isolate with
stale-while-revalidate and stale-if-error (core/intentedge/caching/metadata.py).

A fresh entry costs no KV read; a stale one is served at once and refreshed through
`ctx.waitUntil`, one refresh per key in flight; a miss is a blocking read; a failed
read serves the old value within its stale-if-error window.
"""

import asyncio

from js import Date, console

from intentedge import Bundle, Profile, log_line, profile_from_bytes
from intentedge.caching import CacheStatus, MetadataCache, State
from intentedge.contract import (CONFIG_POINTER, DEFAULT_CONFIG_CACHE, DEFAULT_PROFILE_CACHE, KV_BINDING,
                                 CompiledBundles, bundle_from_bytes, pointer_target)

from background import run_in_background
from jsconvert import bytes_from_buffer
from settings import Settings

# The shortest edge cache TTL KV accepts; our own cache in front of it decides freshness.
KV_CACHE_TTL = 60


class MissingConfig(Exception):
    """No config to read: nothing is published yet (no pointer key in KV), or no KV binding."""


class OverBudget(Exception):
    """KV did not answer within the request's budget: the page is served without it."""


class Budget:
    """How long a request waits for KV once its page is ready: until `started + KV_BUDGET_MS`.
    A read still running then completes in the background and fills the isolate's cache, so
    a later request gets it; this one is served with fallbacks."""

    def __init__(self, budget_ms: float, started_ms: float):
        self.ms = budget_ms
        self.deadline = started_ms + budget_ms

    async def wait(self, future, ctx, what: str):
        """The read's result; OverBudget if it is still running at the deadline."""
        if not future.done():
            remaining = max(0.0, self.deadline - Date.now()) / 1000
            try:
                return await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                run_in_background(ctx, _settle(future, what))
                raise OverBudget(f"{what} not read from KV within KV_BUDGET_MS={self.ms:g}") from None
        return future.result()


async def _settle(future, what: str) -> None:
    """Wait for a late read (it caches what it read); its failure is logged here, nobody else sees it."""
    try:
        await future
    except Exception as exc:
        console.error(log_line("kv_late_read_failed", what=what, reason=type(exc).__name__, detail=str(exc)))


class Timing:
    """How a request's metadata was found, for the Server-Timing header."""

    def __init__(self):
        self.state = CacheStatus.BYPASS
        self.ms = 0.0


class Metadata:
    """This isolate's intent metadata: compiled bundles, the SWR cache of KV values, and what the
    newest bundle says about requests that come before any read (the login cookie, the events path)."""

    def __init__(self):
        self.compiled = CompiledBundles()
        self.cache = MetadataCache()
        # The policies of the newest bundle seen (the pointer's own policy comes from the bundle it names).
        self.policies = {"config": DEFAULT_CONFIG_CACHE, "profile": DEFAULT_PROFILE_CACHE}
        self.read_once = False           # whether this isolate has read a bundle
        self.login_cookie: str | None = None
        self.events_path: str | None = None

    async def read_bundle(self, settings: Settings, ctx, timing: Timing) -> Bundle:
        """The current bundle; raises when there is none or it cannot be read (the caller fails open)."""
        started = Date.now()
        key, timing.state = await self._cached(settings, ctx, CONFIG_POINTER, pointer_target, "config")
        if key is None:
            raise MissingConfig(f"no {CONFIG_POINTER} key in KV: publish a config first")
        bundle = self.compiled.get(key)
        if bundle is None:
            data = await _read(settings, key)
            if data is None:
                raise MissingConfig(f"{CONFIG_POINTER} names {key}, which is not in KV")
            bundle = bundle_from_bytes(data, source=key)
            for problem in bundle.problems:
                console.error(log_line("bundle_problem", key=key, item=problem.item, reason=problem.reason))
            self.compiled.put(key, bundle)
            self.policies.update(config=bundle.config_cache, profile=bundle.profile_cache)
            # the pointer was cached under the previous bundle's policy: from now on, this one's
            self.cache.store(CONFIG_POINTER, key, Date.now() / 1000, size=len(key), policy=bundle.config_cache)
        self._remember(bundle)
        timing.ms = Date.now() - started
        return bundle

    def fresh_bundle(self, settings: Settings, timing: Timing, now: float) -> Bundle | None:
        """The current bundle when the isolate's cache holds it fresh, else None (then read_bundle):
        the warm path, with no KV read and no task to schedule."""
        if not settings.caching:
            return None
        key = self.cache.lookup(CONFIG_POINTER, now)
        bundle = self.compiled.get(key.value) if key.state is State.FRESH else None
        if bundle is not None:
            self._remember(bundle)   # as read_bundle does: the pointer may have moved
            timing.state, timing.ms = CacheStatus.HIT, 0.0
        return bundle

    def fresh_profile(self, settings: Settings, key: str, now: float) -> tuple[bool, Profile | None]:
        """(True, the profile or None for a known absence) when the isolate's cache holds it fresh."""
        if not settings.caching:
            return False, None
        hit = self.cache.lookup(key, now)
        return (True, hit.value) if hit.state is State.FRESH else (False, None)

    async def read_profile(self, settings: Settings, ctx, key: str) -> Profile | None:
        """The visitor's profile, or None when there is none or it cannot be read (logged)."""
        try:
            profile, _ = await self._cached(settings, ctx, key, profile_from_bytes, "profile")
            return profile
        except Exception as exc:
            console.error(log_line("profile_unusable", reason=type(exc).__name__, detail=str(exc)))
            return None

    def _remember(self, bundle: Bundle) -> None:
        self.login_cookie = bundle.login_cookie
        self.events_path = bundle.events.path if bundle.events else None
        self.read_once = True

    async def _cached(self, settings: Settings, ctx, key: str, decode, kind: str):
        """(value or None for a missing key, how it was found: HIT, STALE, MISS, ERROR or BYPASS)."""
        if not settings.caching:
            data = await _read(settings, key)
            return (decode(data) if data is not None else None), CacheStatus.BYPASS
        now = Date.now() / 1000
        hit = self.cache.lookup(key, now)
        if hit.state is State.FRESH:
            return hit.value, CacheStatus.HIT
        if hit.state is State.STALE:
            if self.cache.begin_refresh(key, now):
                run_in_background(ctx, self._refresh(settings, key, decode, kind))
            return hit.value, CacheStatus.STALE
        try:
            return self._store(key, await _read(settings, key), decode, kind), CacheStatus.MISS
        except Exception as exc:
            fallback = self.cache.failed(key, Date.now() / 1000)
            if fallback.state is State.MISS:
                raise
            console.error(log_line("kv_stale_on_error", key=_loggable(key), reason=type(exc).__name__))
            return fallback.value, CacheStatus.ERROR

    async def _refresh(self, settings: Settings, key: str, decode, kind: str) -> None:
        try:
            self._store(key, await _read(settings, key), decode, kind)
        except Exception as exc:
            self.cache.failed(key, Date.now() / 1000)
            console.error(log_line("kv_refresh_failed", key=_loggable(key), reason=type(exc).__name__,
                                   detail=str(exc)))
        finally:
            self.cache.end_refresh(key)

    def _store(self, key: str, data: bytes | None, decode, kind: str):
        now = Date.now() / 1000
        policy = self.policies[kind]
        if data is None:
            self.cache.store_missing(key, now, policy=policy)
            return None
        value = decode(data)   # an undecodable value raises before anything is cached
        self.cache.store(key, value, now, size=len(data), policy=policy)
        return value


async def _read(settings: Settings, key: str) -> bytes | None:
    if settings.kv is None:
        raise MissingConfig(f"the Worker has no {KV_BINDING} binding: add it to wrangler.toml's kv_namespaces")
    return bytes_from_buffer(await settings.kv.get(key, type="arrayBuffer", cacheTtl=KV_CACHE_TTL))


def _loggable(key: str) -> str:
    """Profile keys are pseudonymous, but they name one visitor: logs get the kind only."""
    return "profile/..." if key.startswith("profile/") else key
