"""The config/KV contract: what the jobs write and the Worker reads, in one place for both sides.

    keys.py     the KV key names (the config pointer, content-addressed bundles, profile keys)
    schema.py   the versioned msgpack envelope every value is written in
    config.py   the config compiler: TOML data -> a validated Bundle
    bundles.py  a published config as KV entries, and back into a compiled Bundle
"""

from intentedge.contract import keys, schema
from intentedge.contract.bundles import CompiledBundles, bundle_from_bytes, pointer_target, publication
from intentedge.contract.config import (DEFAULT_CONFIG_CACHE, DEFAULT_PROFILE_CACHE, Bundle, Slot, compile_bundle,
                                        to_payload)
from intentedge.contract.keys import CONFIG_POINTER, KV_BINDING, PROFILE_PREFIX, profile_key

__all__ = ["CONFIG_POINTER", "DEFAULT_CONFIG_CACHE", "DEFAULT_PROFILE_CACHE", "KV_BINDING", "PROFILE_PREFIX",
           "Bundle", "CompiledBundles", "Slot", "bundle_from_bytes", "compile_bundle", "keys", "pointer_target",
           "profile_key", "publication", "schema", "to_payload"]
