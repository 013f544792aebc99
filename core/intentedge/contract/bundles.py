"""How a config bundle travels through KV: encoded by the writers, decoded by the edge.

Writers call `publication()` for the list of (key, value) writes, in order: the
content-addressed bundle, then the pointer. The edge reads the pointer, then the
bundle it names, and compiles each bundle once per isolate (`CompiledBundles`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from intentedge.contract import keys, schema
from intentedge.contract.config import Bundle, compile_bundle
from intentedge.errors import SchemaError


def publication(config: dict, *, written_at: int, producer: str) -> list[tuple[str, bytes]]:
    """The KV writes that publish `config` (already validated), bundle first, pointer last."""
    key = keys.config_key(schema.digest(config))
    bundle = schema.encode(schema.CONFIG, config, written_at=written_at, producer=producer)
    pointer = schema.encode(schema.POINTER, {"key": key}, written_at=written_at, producer=producer)
    return [(key, bundle), (keys.CONFIG_POINTER, pointer)]


def pointer_target(data: bytes) -> str:
    """The bundle key a pointer envelope names."""
    payload = schema.decode(schema.POINTER, data).payload
    key = payload.get("key") if isinstance(payload, dict) else None
    if not (isinstance(key, str) and keys.is_config_key(key)):
        raise SchemaError(f"{schema.POINTER.name}: payload must name a config key, found {key!r}")
    return key


def config_from_bytes(data: bytes) -> Any:
    """The config payload of a bundle envelope (plain data, not yet compiled)."""
    return schema.decode(schema.CONFIG, data).payload


def bundle_from_bytes(data: bytes, *, source: str) -> Bundle:
    """Decode and compile a bundle read at the edge: unknown keys of newer minors are ignored."""
    return compile_bundle(config_from_bytes(data), source=source, strict=False)


class CompiledBundles:
    """Compiled bundles by KV key, so each bundle is decoded and compiled once per isolate."""

    def __init__(self, capacity: int = 2):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, found {capacity}")
        self._capacity = capacity
        self._entries: OrderedDict[str, Bundle] = OrderedDict()

    def get(self, key: str) -> Bundle | None:
        bundle = self._entries.get(key)
        if bundle is not None:
            self._entries.move_to_end(key)
        return bundle

    def put(self, key: str, bundle: Bundle) -> None:
        self._entries[key] = bundle
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
