"""The Worker's vars and secrets, read from `env` (once per isolate: worker/isolate.py)."""

from dataclasses import dataclass

from js import console

from intentedge import SessionKeyError, SessionKeys, log_line
from intentedge.contract import KV_BINDING

from jsconvert import optional_str

# How long a request may wait for KV, counted from its start (the var KV_BUDGET_MS).
DEFAULT_BUDGET_MS = 50.0
MAX_BUDGET_MS = 10_000.0


@dataclass(frozen=True)
class Settings:
    kv: object                        # the KV binding (a JS object)
    origin_url: str | None            # ORIGIN_URL: dev and benchmarks proxy to it
    session_keys: SessionKeys | None  # SESSION_KEYS: without it, no session cookie
    profile_salt: str | None          # PROFILE_SALT: without it, no profile lookups
    caching: bool                     # CACHE != "off": the isolate's metadata cache
    page_caching: bool                # and PAGE_CACHE != "off": the base-page cache
    budget_ms: float                  # KV_BUDGET_MS
    events_sink: str | None           # EVENTS_SINK
    events_sink_token: str | None     # EVENTS_SINK_TOKEN


def read_settings(env) -> Settings:
    caching = _var(env, "CACHE") != "off"
    return Settings(
        kv=getattr(env, KV_BINDING, None),
        origin_url=_var(env, "ORIGIN_URL"),
        session_keys=_session_keys(_var(env, "SESSION_KEYS")),
        profile_salt=_var(env, "PROFILE_SALT"),
        caching=caching,
        page_caching=caching and _var(env, "PAGE_CACHE") != "off",
        budget_ms=_budget_ms(getattr(env, "KV_BUDGET_MS", None)),
        events_sink=_var(env, "EVENTS_SINK"),
        events_sink_token=_var(env, "EVENTS_SINK_TOKEN"),
    )


def _var(env, name: str) -> str | None:
    return optional_str(getattr(env, name, None)) or None


def _session_keys(spec: str | None) -> SessionKeys | None:
    if spec is None:
        return None
    try:
        return SessionKeys.parse(spec)
    except SessionKeyError as exc:
        console.error(log_line("bad_secret", name="SESSION_KEYS", reason=str(exc)))
        return None


def _budget_ms(raw) -> float:
    """KV_BUDGET_MS in milliseconds (0 to 10,000); a value that is not a number means the default."""
    if raw is None:
        return DEFAULT_BUDGET_MS
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 <= value <= MAX_BUDGET_MS:
        console.error(log_line("bad_var", name="KV_BUDGET_MS", value=str(raw)[:40],
                               reason=f"not a number of milliseconds from 0 to {MAX_BUDGET_MS:g}"))
        return DEFAULT_BUDGET_MS
    return value
