"""`intentedge cookie`: mint a signed session cookie for a made-up visitor, to see the page they would see.

For demos, tests and debugging with curl or a browser. It needs the Worker's
SESSION_KEYS: from --keys, the environment, or the project's .dev.vars (dev only).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from intentedge.session import Session, SessionKeys, dump
from intentedge.signals import DEFAULT_STAGES

_DEV_VAR = re.compile(r'^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?([^"\n]*)"?\s*$', re.MULTILINE)


def dev_vars(project: Path) -> dict[str, str]:
    """The project's .dev.vars (the secrets `wrangler dev` uses), or {}."""
    path = project / ".dev.vars"
    return dict(_DEV_VAR.findall(path.read_text())) if path.is_file() else {}


def session_keys(spec: str | None, project: Path) -> SessionKeys:
    """From the option, then $SESSION_KEYS, then .dev.vars; SessionKeyError if none is usable."""
    spec = spec or os.environ.get("SESSION_KEYS") or dev_vars(project).get("SESSION_KEYS", "")
    return SessionKeys.parse(spec)


def stage_index(stage: str) -> int:
    """A stage of the default funnel by name, or an index."""
    if stage.isdigit():
        return int(stage)
    if stage not in DEFAULT_STAGES:
        raise ValueError(f"unknown stage {stage!r}: use an index or one of {', '.join(DEFAULT_STAGES)}")
    return DEFAULT_STAGES.index(stage)


def mint(keys: SessionKeys, *, now: float, visitor_id: str, idle: int, pages: int, visits: int, stage: int,
         cart_value: float, cart_items: int, categories: tuple[str, ...], products: tuple[str, ...],
         searches: int, purchases: int) -> str:
    """A cookie value whose previous page was `idle` seconds before `now`."""
    last_seen = int(now) - idle
    session = Session(visitor_id, started=last_seen - 60 * max(0, pages - 1), last_seen=last_seen, pages=pages,
                      visits=visits, categories=categories, products=products, cart_value=cart_value,
                      cart_items=cart_items, searches=searches, stage=stage, purchases=purchases)
    return dump(session, keys)
