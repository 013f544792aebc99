"""`--local` or `--remote`: the store a command reads and writes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from ..wrangler import find_project
from .cloudflare import CloudflareKV
from .errors import KVConfigError
from .local import LocalKV
from .store import KVStore


def open_store(target: str, *, persist_to: Path | None = None, project: Path | None = None,
               environ: Mapping[str, str] | None = None, on_retry: Callable[[str], None] | None = None) -> KVStore:
    """`local`: wrangler's local KV under `persist_to` (default: the project's .wrangler/state);
    `remote`: the namespace named by the environment (see CloudflareKV.from_env), telling
    `on_retry` (for instance `Console().retry`) of each retried read."""
    if target == "remote":
        if persist_to is not None:
            raise KVConfigError("--persist-to only applies to --local")
        return CloudflareKV.from_env(environ, on_retry=on_retry)
    if target == "local":
        return LocalKV(project or find_project(), persist_to)
    raise KVConfigError(f"target must be 'local' or 'remote', found {target!r}")
