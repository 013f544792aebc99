"""The base-page cache's decisions (RFC 9111 caching, RFC 5861 stale extensions), as pure functions.

The Worker keeps origin pages in the Cache API, which ignores stale-while-revalidate and
stale-if-error, so the Worker implements them with these decisions:

    key = normalized_cache_url(request_url)            # marketing parameters out, query sorted
    policy = page_policy(status, headers)               # None: never store this response
    cache.put(key, copy with storage_headers(policy, now))   # kept for cache_ttl(policy)
    ...
    stored_at, policy = stored_policy(cached_headers)   # None: not ours or unreadable: a miss
    page_state(stored_at, policy, now)                  # FRESH, STALE (serve + refresh), EXPIRED
    usable_on_error(stored_at, policy, now)             # serve the stored copy when origin fails
    revalidation_headers(policy.validators)             # conditional refresh; on a 304:
    revalidated_policy(policy, headers_304)             # store the same body again, from now

What is stored, decided here once:

- only 200 responses without `Set-Cookie`, `no-store`, `no-cache` or `private` (with or without
  field names: a shared cache cannot keep part of a page), and without `Vary` on anything but
  `Accept-Encoding` (the key has no room for variants; the runtime decodes bodies itself);
- freshness comes from `s-maxage` (a shared cache's own lifetime, it wins) or `max-age`, minus
  the `Age` the response already has. `Expires` and heuristic freshness are ignored: without
  max-age or s-maxage the response is not stored;
- explicit `stale-while-revalidate` / `stale-if-error` are honoured even with `s-maxage` (RFC 9111
  reads s-maxage as proxy-revalidate; an origin that also sends stale-* asks for them, and the
  common `s-maxage=1, stale-while-revalidate=59` would mean nothing otherwise). `must-revalidate`
  and `proxy-revalidate` forbid serving stale at all: both windows become 0.
- a response with nothing to keep (all windows 0) is not stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote_plus, urlsplit

# Query parameters that do not change the origin's page: where a visitor came from, and our own
# preview parameters (pz_*, intentedge/preview.py). A trailing "*" is a prefix.
MARKETING_PARAMETERS = (
    "utm_*", "pz_*", "gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "twclid", "li_fat_id",
    "dclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "igshid", "yclid",
)
_MARKETING_NAMES = frozenset(p for p in MARKETING_PARAMETERS if not p.endswith("*"))
_MARKETING_PREFIXES = tuple(p[:-1] for p in MARKETING_PARAMETERS if p.endswith("*"))

# Where the stored copy keeps when it was stored and the origin's policy (its Cache-Control
# is replaced by one that keeps the copy for cache_ttl).
STORED_HEADER = "x-intentedge-stored"

# Directives whose argument is delta-seconds; parse_cache_control gives them as ints.
_DELTA_SECONDS = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error",
                            "min-fresh", "max-stale"})
# RFC 9111 1.2.2: a larger delta-seconds counts as 2^31.
_DELTA_SECONDS_CAP = 2 ** 31
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}

# One list member: runs of anything but a comma, a quoted string (maybe unterminated) as a unit.
_MEMBER = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.|\\$)*(?:"|$))+')
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_ESCAPE = re.compile(r"\\(.)")
_DIGITS = re.compile(r"[0-9]+\Z")


class PageState(str, Enum):
    FRESH = "fresh"      # serve the stored copy
    STALE = "stale"      # serve it and refresh it in the background
    EXPIRED = "expired"  # fetch before answering


class CacheStatus(str, Enum):
    """What a cache did for one request, as reported in Server-Timing."""

    HIT = "HIT"
    STALE = "STALE"
    MISS = "MISS"
    REVALIDATED = "REVALIDATED"
    ERROR = "ERROR"
    BYPASS = "BYPASS"


@dataclass(frozen=True)
class Validators:
    """What a conditional request can revalidate the stored copy with."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class PagePolicy:
    """How long a stored page may be used, in whole seconds from when it was stored: fresh for
    `fresh`, then served stale while revalidating for `swr`, and on origin errors for `sie`."""

    fresh: int
    swr: int = 0
    sie: int = 0
    validators: Validators = Validators()


def parse_cache_control(header: str | None) -> dict[str, int | str | None]:
    """Directives by lower-case name: delta-seconds directives as ints, other arguments as strings
    (quoted strings unquoted), None for a directive without argument.

    The first occurrence of a directive wins, even when its argument is invalid; an invalid
    delta-seconds argument (not digits) drops that directive. Never raises.
    """
    directives: dict[str, int | str | None] = {}
    if not header:
        return directives
    seen = set()
    for match in _MEMBER.finditer(header):
        name, eq, raw = match.group().partition("=")
        name = name.strip().lower()
        if not _TOKEN.match(name) or name in seen:
            continue
        seen.add(name)
        value = _unquote(raw.strip()) if eq else None
        if name in _DELTA_SECONDS:
            seconds = _delta_seconds(value)
            if seconds is not None:
                directives[name] = seconds
        else:
            directives[name] = value
    return directives


def page_policy(status: int, headers: Mapping[str, str]) -> PagePolicy | None:
    """The policy to store a response under, or None when it must not be stored (see the module)."""
    if status != 200:
        return None
    fields = {name.lower(): value for name, value in headers.items()}
    if "set-cookie" in fields or not _vary_allows(fields.get("vary")):
        return None
    directives = parse_cache_control(fields.get("cache-control"))
    if "no-store" in directives or "no-cache" in directives or "private" in directives:
        return None
    lifetime = directives.get("s-maxage", directives.get("max-age"))
    if lifetime is None:
        return None
    if "must-revalidate" in directives or "proxy-revalidate" in directives:
        swr = sie = 0
    else:
        swr = directives.get("stale-while-revalidate", 0)
        sie = directives.get("stale-if-error", 0)
    age = _delta_seconds(fields.get("age")) or 0
    late = max(0, age - lifetime)  # already stale when it arrived: the stale windows shrink too
    policy = PagePolicy(max(0, lifetime - age), max(0, swr - late), max(0, sie - late),
                        _validators(fields))
    return policy if cache_ttl(policy) > 0 else None


def page_state(stored_at: float, policy: PagePolicy, now: float) -> PageState:
    age = now - stored_at
    if age < policy.fresh:
        return PageState.FRESH
    if age < policy.fresh + policy.swr:
        return PageState.STALE
    return PageState.EXPIRED


def usable_on_error(stored_at: float, policy: PagePolicy, now: float) -> bool:
    """Whether the stored copy may answer when the origin fails (network error or 5xx): while
    fresh, within stale-if-error, and within stale-while-revalidate (served stale anyway)."""
    return now - stored_at < policy.fresh + max(policy.swr, policy.sie)


def cache_ttl(policy: PagePolicy) -> int:
    """How long the Cache API must keep the stored copy so the stale windows survive."""
    return policy.fresh + max(policy.swr, policy.sie)


def storage_headers(policy: PagePolicy, stored_at: float) -> dict[str, str]:
    """Headers to set on the copy given to `cache.put`: a Cache-Control the Cache API keeps it by
    (replacing the origin's), and `STORED_HEADER` for `stored_policy` to read back. The copy
    keeps its own ETag and Last-Modified."""
    return {
        "cache-control": f"max-age={cache_ttl(policy)}",
        STORED_HEADER: f"at={stored_at:.3f}; fresh={policy.fresh}; swr={policy.swr}; sie={policy.sie}",
    }


def stored_policy(headers: Mapping[str, str]) -> tuple[float, PagePolicy] | None:
    """(stored_at, policy) of a copy stored with `storage_headers`; None when the header is
    missing or unreadable (treat as a miss). Never raises."""
    fields = {name.lower(): value for name, value in headers.items()}
    values: dict[str, str] = {}
    for item in (fields.get(STORED_HEADER) or "").split(";"):
        name, _, value = item.partition("=")
        values.setdefault(name.strip(), value.strip())
    try:
        stored_at = float(values["at"])
        fresh, swr, sie = (_delta_seconds(values[name]) for name in ("fresh", "swr", "sie"))
    except (KeyError, ValueError):
        return None
    if not math.isfinite(stored_at) or fresh is None or swr is None or sie is None:
        return None
    return stored_at, PagePolicy(fresh, swr, sie, _validators(fields))


def revalidated_policy(policy: PagePolicy, headers: Mapping[str, str]) -> PagePolicy | None:
    """The policy of a stored copy that a 304 Not Modified with `headers` just confirmed: store
    it again from now on, under this policy, or drop it when None. The 304's fields replace the
    stored ones (RFC 9111 4.3.4); what it does not send is kept from `policy`."""
    fields = {
        "cache-control": f"max-age={policy.fresh}, stale-while-revalidate={policy.swr}, "
                         f"stale-if-error={policy.sie}",
        "etag": policy.validators.etag or "",
        "last-modified": policy.validators.last_modified or "",
    }
    fields.update((name.lower(), value) for name, value in headers.items())
    return page_policy(200, fields)


def revalidation_headers(validators: Validators) -> dict[str, str]:
    """Request headers for a conditional refresh; a 304 answer means the stored body is current."""
    headers = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def server_timing(entries: Iterable[tuple[str, CacheStatus | str, float | None]]) -> str:
    """A Server-Timing value from (name, status, duration in ms) items:
    `pz-meta;desc="HIT";dur=0.1, pz-page;desc="STALE";dur=2.3`.

    A duration that is None, negative or not finite is left out. Raises ValueError on a name
    that is not an HTTP token or a status not in CacheStatus (both are the caller's constants).
    """
    parts = []
    for name, status, duration in entries:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"Server-Timing name must be an HTTP token, found {name!r}")
        part = f'{name};desc="{CacheStatus(status).value}"'
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and 0 <= duration < math.inf:
            part += f";dur={duration:.1f}"
        parts.append(part)
    return ", ".join(parts)


def normalized_cache_url(url: str) -> str:
    """The cache key of a page: scheme, host (lower case, no credentials, no default port), path,
    and the query without marketing parameters, sorted by name (stable: duplicates keep their
    order); the fragment is dropped. A URL that cannot be split is returned unchanged. Never
    raises; normalizing twice changes nothing.

    normalized_cache_url("https://Shop.example:443/p?utm_source=x&b=2&a=1#top")
    -> "https://shop.example/p?a=1&b=2"
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket, a netloc that NFKC-normalizes into "@", ...
        return url
    host = parts.netloc.rpartition("@")[2].lower()
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    path = parts.path or ("/" if host else "")
    out = f"{parts.scheme}:" if parts.scheme else ""
    if host or path.startswith("//"):  # "//" keeps a path like "//x" from reading as a host
        out += "//" + host
    out += path
    query = _query_without_marketing(parts.query)
    return f"{out}?{query}" if query else out


def _query_without_marketing(query: str) -> str:
    if not query:
        return ""
    kept = []
    for item in query.split("&"):
        if not item:
            continue
        name = item.partition("=")[0]
        plain = unquote_plus(name).lower()
        if plain in _MARKETING_NAMES or plain.startswith(_MARKETING_PREFIXES):
            continue
        kept.append((name, item))
    kept.sort(key=lambda pair: pair[0])  # stable: equal names keep their order
    return "&".join(item for _, item in kept)


def _unquote(value: str) -> str:
    if value.startswith('"'):
        body = value[1:-1] if len(value) > 1 and value.endswith('"') and not _escaped_end(value) else value[1:]
        return _ESCAPE.sub(r"\1", body)
    return value


def _escaped_end(value: str) -> bool:
    """Whether the closing quote of `value` is itself escaped (an unterminated quoted string)."""
    backslashes = len(value) - 1 - len(value[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def _delta_seconds(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not _DIGITS.match(value):
        return None
    if len(value) > 10:  # beyond the cap anyway; int() refuses over 4300 digits
        return _DELTA_SECONDS_CAP
    return min(int(value), _DELTA_SECONDS_CAP)


def _vary_allows(vary: str | None) -> bool:
    if vary is None:
        return True
    names = {name.strip().lower() for name in vary.split(",")} - {""}
    return names <= {"accept-encoding"}


def _validators(fields: Mapping[str, str]) -> Validators:
    etag = (fields.get("etag") or "").strip() or None
    last_modified = (fields.get("last-modified") or "").strip() or None
    return Validators(etag, last_modified)
