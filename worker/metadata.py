"""Reading intent metadata from KV: the config bundle (pointer, then the content-addressed
bundle, compiled once per isolate) and visitor profiles."""

from js import console

from intentedge import log_line
from intentedge.bundles import CompiledBundles, bundle_from_bytes, pointer_target
from intentedge.config import Bundle
from intentedge.keys import CONFIG_POINTER, KV_BINDING
from intentedge.profile import Profile
from intentedge.visitor import profile_from_bytes

from jsconvert import bytes_from_buffer

# The shortest edge cache TTL KV accepts here: a published change shows within a minute.
KV_CACHE_TTL = 60

_compiled = CompiledBundles()


class MissingConfig(Exception):
    """Nothing is published yet: no pointer key in KV."""


async def read_bundle(env) -> Bundle:
    """The current bundle, compiled once per isolate; raises on missing or unusable data."""
    kv = getattr(env, KV_BINDING)
    pointer = await _read(kv, CONFIG_POINTER)
    if pointer is None:
        raise MissingConfig(f"no {CONFIG_POINTER} key in KV: publish a config first")
    key = pointer_target(pointer)
    bundle = _compiled.get(key)
    if bundle is None:
        data = await _read(kv, key)
        if data is None:
            raise MissingConfig(f"{CONFIG_POINTER} names {key}, which is not in KV")
        bundle = bundle_from_bytes(data, source=key)
        for problem in bundle.problems:
            console.error(log_line("bundle_problem", key=key, item=problem.item, reason=problem.reason))
        _compiled.put(key, bundle)
    return bundle


async def read_profile(env, key: str) -> Profile | None:
    """The visitor's profile, or None when there is none or it cannot be read (logged)."""
    try:
        data = await _read(getattr(env, KV_BINDING), key)
        return profile_from_bytes(data) if data is not None else None
    except Exception as exc:
        console.error(log_line("profile_unusable", reason=type(exc).__name__, detail=str(exc)))
        return None


async def _read(kv, key: str) -> bytes | None:
    return bytes_from_buffer(await kv.get(key, type="arrayBuffer", cacheTtl=KV_CACHE_TTL))
