"""Preview and debug: a signed, expiring token lets a marketer force a context on a page and read
the decision trace in a response header.

    ?pz_preview=<token>                     the decision trace in the X-PZ-Trace response header
    &pz_tier=high                           the visitor's intent tier (and its threshold as the score)
    &pz_rule=spring-sale                    this rule fires on its slots, whatever its condition
    &pz_set.request.country=DE              any attribute, e.g. the ones that define a segment

    token = <key id>.<expiry, epoch seconds>.<base64url HMAC-SHA256>

Tokens are signed with SESSION_KEYS (signing.py; another MAC context than the session cookie's,
so neither can pass for the other) and minted by `intentedge preview-token`. Without a valid
token every pz_* parameter is ignored; none of them is ever part of a cache key (caching/pages.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from intentedge.signing import SessionKeys, SignatureError, Signer

RESERVED_PREFIX = "pz_"     # every parameter named so is ours: never sent to the origin, never in a cache key
TOKEN_PARAM = "pz_preview"
TIER_PARAM = "pz_tier"
RULE_PARAM = "pz_rule"
SET_PREFIX = "pz_set."
TRACE_HEADER = "x-pz-trace"
MAX_TTL_SECONDS = 7 * 24 * 3600
MAX_OVERRIDES = 16
MAX_VALUE_CHARS = 256
# Attributes a preview may set: the roots of the attribute map, not `params` (a rule's own).
SETTABLE_ROOTS = frozenset({"request", "session", "profile", "cart", "product", "score", "tier", "logged_in",
                            "city", "region", "country"})
_SIGNER = Signer(b"intentedge.preview.v1\x00")


@dataclass(frozen=True)
class Preview:
    """What a valid preview request forces; an empty one only asks for the trace."""

    tier: str | None = None
    rule: str | None = None
    overrides: tuple[tuple[tuple[str, ...], Any], ...] = ()

    def apply(self, attributes: dict) -> dict:
        """`attributes` with the overrides set (the dicts along each path are copied, not changed)."""
        result = dict(attributes)
        for path, value in self.overrides:
            target = result
            for name in path[:-1]:
                inner = target.get(name)
                target[name] = dict(inner) if isinstance(inner, dict) else {}
                target = target[name]
            target[path[-1]] = value
        return result

    def trace(self) -> dict:
        return {"tier": self.tier, "rule": self.rule, "set": {".".join(path): value for path, value in self.overrides}}


def mint_token(keys: SessionKeys, *, now: float, ttl: float) -> str:
    if not 0 < ttl <= MAX_TTL_SECONDS:
        raise ValueError(f"a preview token lives between 1 second and {MAX_TTL_SECONDS // 86400} days")
    return _SIGNER.sign(keys, str(int(now + ttl)))


def token_is_valid(token: str, keys: SessionKeys, *, now: float) -> bool:
    """Genuine, unexpired, and not valid for longer than a token can be minted for."""
    # isascii: str.isdigit() also takes digits int() refuses ("²")
    if not token.isascii():
        return False
    try:
        expires = _SIGNER.verify(keys, token)
    except SignatureError:
        return False
    return expires.isdigit() and len(expires) <= 12 and now < int(expires) <= now + MAX_TTL_SECONDS


def requested_preview(query: Mapping[str, str], keys: SessionKeys | None, *, now: float) -> Preview | None:
    """The preview a request asks for, or None if it carries no valid token (its pz_* are then ignored)."""
    token = query.get(TOKEN_PARAM)
    if not token or keys is None or not token_is_valid(token, keys, now=now):
        return None
    overrides = []
    for name, raw in query.items():
        if not name.startswith(SET_PREFIX) or len(overrides) == MAX_OVERRIDES:
            continue
        path = tuple(name[len(SET_PREFIX):].split("."))
        if path[0] in SETTABLE_ROOTS and all(path) and len(path) <= 4 and len(raw) <= MAX_VALUE_CHARS:
            overrides.append((path, _value(raw)))
    return Preview(query.get(TIER_PARAM) or None, query.get(RULE_PARAM) or None, tuple(overrides))


def preview_url(url: str, token: str, *, tier: str | None = None, rule: str | None = None,
                overrides: Mapping[str, str] | None = None) -> str:
    """`url` with the preview parameters added (the page's own query kept, an earlier link's pz_* dropped:
    the edge reads the first pz_preview)."""
    params = [(TOKEN_PARAM, token)]
    params += [(name, value) for name, value in ((TIER_PARAM, tier), (RULE_PARAM, rule)) if value]
    params += [(SET_PREFIX + path, value) for path, value in (overrides or {}).items()]
    parts = urlsplit(url)
    own = "&".join(item for item in parts.query.split("&")
                   if item and not is_reserved_param(item.partition("=")[0]))
    query = "&".join(q for q in (own, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def is_reserved_param(raw_name: str) -> bool:
    """Whether a query parameter, its name as written in the URL, is one of ours (pz_*): decoded as
    the Worker decodes the names it reads (`pz%5Fpreview` is `pz_preview`), in any case, so every
    name that could be honoured is also one that is stripped."""
    return unquote_plus(raw_name).lower().startswith(RESERVED_PREFIX)


def without_preview_params(url: str) -> str:
    """`url` without its pz_* parameters, however encoded (tokens stay out of the origin's logs);
    unchanged if it has none."""
    parts = urlsplit(url)
    query = parts.query
    if "%" not in query and "+" not in query and RESERVED_PREFIX not in query.lower():
        return url
    kept = [item for item in query.split("&") if not is_reserved_param(item.partition("=")[0])]
    return urlunsplit(parts._replace(query="&".join(kept)))


def trace_header(trace: dict, limit: int = 8192) -> str:
    """The trace as one header value: ASCII JSON (no CR or LF can get in), cut down if too long."""
    text = _json(trace)
    if len(text) <= limit:
        return text
    short = {key: trace[key] for key in ("score", "tier", "choices", "preview") if key in trace}
    short["truncated"] = True
    text = _json(short)
    return text if len(text) <= limit else '{"truncated":true}'


def _json(value: Any) -> str:
    """Strict JSON (no NaN), ASCII only; anything else as its string."""
    try:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        return '{"unwritable":true}'


def _value(raw: str) -> Any:
    """`120` -> 120, `true` -> True, `"x"` -> "x"; anything else is the text itself."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, float) and not math.isfinite(value):   # NaN, Infinity, 1e999: not JSON to write back
        return raw
    return value if isinstance(value, (str, int, float, bool)) or value is None else raw
