"""Reading the config bundle from KV: pointer first, then the content-addressed bundle."""

from intentedge.bundles import CompiledBundles, bundle_from_bytes, pointer_target
from intentedge.keys import CONFIG_POINTER, KV_BINDING
from intentedge.config import Bundle

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
        _compiled.put(key, bundle)
    return bundle


async def _read(kv, key: str) -> bytes | None:
    return bytes_from_buffer(await kv.get(key, type="arrayBuffer", cacheTtl=KV_CACHE_TTL))
