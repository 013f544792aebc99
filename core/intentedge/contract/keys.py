"""Where things live in Workers KV.

    config/current           pointer envelope: {"key": "config/<sha256>"}; rewritten last
    config/<sha256>          config envelope, content-addressed, never rewritten
    profile/<32 hex>         profile envelope of one visitor, keyed by HMAC-SHA256(salt, visitor id)

A publish writes the content-addressed bundle first and the pointer second, so a
reader that follows the pointer never sees half an update.
"""

from __future__ import annotations

import hashlib
import hmac

CONFIG_POINTER = "config/current"
_CONFIG_PREFIX = "config/"
KV_BINDING = "INTENT_KV"  # the Worker's binding name in wrangler.toml


def config_key(digest: str) -> str:
    return _CONFIG_PREFIX + digest


def is_config_key(key: str) -> bool:
    tail = key[len(_CONFIG_PREFIX):]
    return key.startswith(_CONFIG_PREFIX) and len(tail) == 64 and all(c in "0123456789abcdef" for c in tail)


PROFILE_PREFIX = "profile/"


def profile_key(visitor_id: str, salt: bytes) -> str:
    """`profile/<32 hex>`: a keyed hash of the visitor id, so KV keys reveal no id."""
    return PROFILE_PREFIX + hmac.new(salt, visitor_id.encode(), hashlib.sha256).hexdigest()[:32]
