"""The wrangler project: the folder holding wrangler.toml, its pinned wrangler, and the
environment every wrangler call runs in."""

from __future__ import annotations

import os
from pathlib import Path

from .kv.errors import WranglerError


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
