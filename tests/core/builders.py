"""Plain-data builders shared by the engine tests: requests, clocks, keys, deterministic randomness.

Time is always injected (NOW and offsets from it); nothing here sleeps or reads a clock.
"""

from __future__ import annotations

import hashlib

from intentedge.context import RequestContext, RequestData
from intentedge.session import SessionKeys

NOW = 1_790_000_000            # a fixed "now", epoch seconds (2026-09-21)
MINUTE = 60
HOUR = 3600
DAY = 86400
HOST = "shop.example"

SECRET_1 = "k1-secret-" + "a" * 30
SECRET_2 = "k2-secret-" + "b" * 30
KEYS = SessionKeys.parse(f"k1:{SECRET_1}")

DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def counter_bytes(seed: int = 0):
    """A deterministic `random_bytes(n)`: each call returns the next n bytes of a seeded stream."""
    state = {"counter": 0}

    def random_bytes(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(f"{seed}:{state['counter']}".encode()).digest()
            state["counter"] += 1
        return out[:n]

    return random_bytes


def request(path: str = "/", *, headers: dict | None = None, cf: dict | None = None, now: float = NOW,
            host: str = HOST, scheme: str = "https", local_hour: int | None = None,
            local_weekday: int | None = None) -> RequestData:
    all_headers = {"user-agent": DESKTOP_UA}
    all_headers.update(headers or {})
    return RequestData(f"{scheme}://{host}{path}", headers=all_headers, cf=cf or {}, now=now,
                       local_hour=local_hour, local_weekday=local_weekday)


def context(path: str = "/", **kwargs) -> RequestContext:
    return RequestContext(request(path, **kwargs))


def valid_config() -> dict:
    """Two slots, three fragments, three path rules: the config the validation and path tests start from."""
    return {
        "slots": {
            "hero": {"fallback": "hero-default"},
            "sidebar": {},  # no fallback: the origin's content stays unless a rule matches
        },
        "fragments": {
            "hero-default": {"html": "<h2>Welcome</h2>"},
            "camera-guide": {"html": "<a href='/guide'>Guide</a>", "op": "replace"},
            "pro-tip": {"text": "Tip: <b> is escaped", "op": "append"},
        },
        "rules": [
            {"id": "guide-on-pro", "slot": "hero", "fragment": "camera-guide", "path_prefix": "/products/pro/"},
            {"id": "tip-on-products", "slot": "sidebar", "fragment": "pro-tip", "path_prefix": "/products/"},
            {"id": "tip-on-pro", "slot": "hero", "fragment": "pro-tip", "path_prefix": "/products/"},
        ],
    }
