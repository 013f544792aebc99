"""The names this module used to hold, where tests/worker, bench/ and devserver.py still import them:
the local KV is kv/local.py, the wrangler project wrangler.py, the error kv/errors.py."""

from .kv.errors import WranglerError
from .kv.local import LocalKV, WranglerKV, default_persist_to, local_namespace_id
from .wrangler import find_project, wrangler_bin, wrangler_env

__all__ = ["LocalKV", "WranglerError", "WranglerKV", "default_persist_to", "find_project", "local_namespace_id",
           "wrangler_bin", "wrangler_env"]
