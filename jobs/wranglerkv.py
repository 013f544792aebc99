"""Workers KV through wrangler itself: the local KV that `wrangler dev` reads, or the
account's namespace (wrangler's own login or CLOUDFLARE_API_TOKEN).

Going through wrangler (rather than miniflare's storage files) keeps us on the
storage format the pinned runtime really uses.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from intentedge.keys import KV_BINDING


class WranglerError(Exception):
    """wrangler failed; the message holds what it printed."""


class WranglerKV:
    """The INTENT_KV binding of the project's wrangler.toml, local (default) or remote."""

    def __init__(self, project: Path, persist_to: Path | None = None, *, remote: bool = False):
        self.project = project
        self.persist_to = persist_to
        self.remote = remote

    def put(self, key: str, value: bytes) -> None:
        with tempfile.NamedTemporaryFile(prefix="intentedge-kv-") as file:
            file.write(value)
            file.flush()
            self._wrangler("kv", "key", "put", key, "--path", file.name)

    def get(self, key: str) -> bytes | None:
        try:
            return self._wrangler("kv", "key", "get", key)
        except WranglerError as exc:
            if "Value not found" in str(exc):
                return None
            raise

    def delete(self, key: str) -> None:
        self._wrangler("kv", "key", "delete", key)

    def _wrangler(self, *args: str) -> bytes:
        command = [str(wrangler_bin(self.project)), *args, "--binding", KV_BINDING]
        if not self.remote:
            command.append("--local")
        if self.persist_to is not None and not self.remote:
            command += ["--persist-to", str(self.persist_to)]
        done = subprocess.run(command, cwd=self.project, capture_output=True, env=wrangler_env())
        if done.returncode != 0:
            output = (done.stderr + done.stdout).decode("utf-8", "replace").strip()
            raise WranglerError(f"wrangler {' '.join(args[:3])} failed: {output[-500:]}")
        return done.stdout


def wrangler_bin(project: Path) -> Path:
    path = project / "node_modules" / ".bin" / "wrangler"
    if not path.exists():
        raise WranglerError(f"{path} is missing: run `npm ci` in {project}")
    return path


def wrangler_env() -> dict[str, str]:
    return {**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"}


def find_project(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding wrangler.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "wrangler.toml").is_file():
            return folder
    raise WranglerError(f"no wrangler.toml in {here} or above: run this inside the project")
