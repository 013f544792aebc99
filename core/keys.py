"""Where things live in Workers KV.

    config/current           pointer envelope: {"key": "config/<sha256>"}; rewritten last
    config/<sha256>          config envelope, content-addressed, never rewritten

A publish writes the content-addressed bundle first and the pointer second, so a
reader that follows the pointer never sees half an update.
"""

from __future__ import annotations

CONFIG_POINTER = "config/current"
_CONFIG_PREFIX = "config/"
KV_BINDING = "INTENT_KV"  # the Worker's binding name in wrangler.toml


def config_key(digest: str) -> str:
    return _CONFIG_PREFIX + digest


def is_config_key(key: str) -> bool:
    tail = key[len(_CONFIG_PREFIX):]
    return key.startswith(_CONFIG_PREFIX) and len(tail) == 64 and all(c in "0123456789abcdef" for c in tail)
