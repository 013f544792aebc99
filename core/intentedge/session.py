"""The edge session: a compact signed cookie the Worker reads and rewrites on every personalized page.

    pz=<key id>.<base64url JSON state>.<base64url HMAC-SHA256>

JSON rather than msgpack: the Worker has only msgpack's pure-Python fallback, and
this cookie is decoded and encoded on every page (json is C-accelerated in Pyodide).

The MAC (signing.py) covers the key id and the state, so keys rotate by id: the first
key signs, the others still verify. A tampered, expired, oversized or unparseable
cookie is a new visitor, never an error (starlette's SessionMiddleware does the same).
"""

from __future__ import annotations

import re

import base64
import json
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

# SessionKeys and SessionKeyError live in signing.py; the Worker, the jobs and the tests import them from here.
from intentedge.signing import SessionKeyError, SessionKeys, Signer, b64url_decode, b64url_encode  # noqa: F401

COOKIE_NAME = "pz"
_SESSION_SEPARATORS = re.compile("[;,]")
MAX_COOKIE_BYTES = 1024
SESSION_IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 180 * 24 * 3600
DWELL_CAP_SECONDS = 600
CLOCK_SKEW_SECONDS = 300   # a cookie written by a colo whose clock runs ahead is still good
RECENT_LIMIT = 5
IMPRESSION_LIMIT = 24
_STATE_VERSION = 1
_SIGNER = Signer(b"intentedge.session.v1\x00")


@dataclass(frozen=True)
class Session:
    visitor_id: str
    started: int                 # epoch seconds, start of this session
    last_seen: int               # epoch seconds of the previous page
    pages: int = 0               # pages viewed this session
    visits: int = 1              # sessions so far, this one included
    dwell: int = 0               # seconds on the previous page (capped)
    categories: tuple[str, ...] = ()   # most recent first
    products: tuple[str, ...] = ()
    cart_value: float = 0.0
    cart_items: int = 0
    searches: int = 0            # searches this session
    stage: int = 0               # furthest funnel stage this session (index into the bundle's stages)
    trial: bool = False          # has visited a trial page
    purchases: int = 0           # purchases seen at the edge
    impressions: dict[int, tuple[int, int]] = field(default_factory=dict)  # rule tag -> (session, visitor)
    is_new: bool = False         # created by this request

    def evolve(self, **changes) -> "Session":
        """A copy with `changes`, as dataclasses.replace but without re-running __init__: this runs
        several times on every page, and replace() costs several times as much."""
        copy = object.__new__(Session)
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update(changes)
        return copy

    def impressions_of(self, rule_id: str) -> tuple[int, int]:
        return self.impressions.get(rule_tag(rule_id), (0, 0))

    def attributes(self) -> dict:
        """The `session` part of the attribute map that conditions and templates see."""
        return {
            "new_visitor": self.visits == 1 and self.pages <= 1,
            "pages": self.pages,
            "visits": self.visits,
            "dwell": self.dwell,
            "categories": list(self.categories),
            "products": list(self.products),
            "searches": self.searches,
            "stage": self.stage,
            "trial": self.trial,
            "purchases": self.purchases,
            "seconds": max(0, self.last_seen - self.started),
        }

    @property
    def cart(self) -> dict:
        return {"value": round(self.cart_value, 2), "items": self.cart_items}


@lru_cache(maxsize=4096)
def rule_tag(rule_id: str) -> int:
    """A compact, stable stand-in for a rule id inside the cookie."""
    return zlib.crc32(rule_id.encode())


def new_session(now: float, random_bytes: Callable[[int], bytes]) -> Session:
    visitor_id = base64.urlsafe_b64encode(random_bytes(16)).rstrip(b"=").decode()
    return Session(visitor_id, int(now), int(now), is_new=True)


def advance(session: Session, now: float) -> Session:
    """The session as of a new page view at `now`: a new session after 30 idle minutes."""
    now = max(int(now), session.last_seen)   # another colo's clock may run a little behind
    idle = now - session.last_seen
    if session.is_new:
        return session.evolve(pages=1, last_seen=now, is_new=False)
    if idle > SESSION_IDLE_SECONDS:
        impressions = {tag: (0, visitor) for tag, (_, visitor) in session.impressions.items()}
        return session.evolve(started=now, last_seen=now, pages=1, visits=session.visits + 1, dwell=0,
                       searches=0, stage=0, impressions=impressions)
    return session.evolve(last_seen=now, pages=session.pages + 1, dwell=max(0, min(idle, DWELL_CAP_SECONDS)))


def record_impressions(session: Session, rule_ids: list[str]) -> Session:
    if not rule_ids:
        return session
    impressions = dict(session.impressions)
    for rule_id in rule_ids:
        tag = rule_tag(rule_id)
        in_session, for_visitor = impressions.pop(tag, (0, 0))
        impressions[tag] = (in_session + 1, for_visitor + 1)   # re-inserted last: most recent
    while len(impressions) > IMPRESSION_LIMIT:
        impressions.pop(next(iter(impressions)))
    return session.evolve(impressions=impressions)


def remember(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    """Most recent first, no duplicates, at most RECENT_LIMIT."""
    return ((item,) + tuple(i for i in items if i != item))[:RECENT_LIMIT]


# --- the cookie ---------------------------------------------------------------------------

def dump(session: Session, keys: SessionKeys) -> str:
    """The cookie value; trims history (recent lists, then the oldest impressions) to stay under 1 KB."""
    while True:
        value = _sign(_pack(session), keys)
        if len(value) <= MAX_COOKIE_BYTES - len(COOKIE_NAME) - 1:
            return value
        session = _trimmed(session)


def load(value: str | None, keys: SessionKeys, now: float) -> Session | None:
    """The session in a cookie value, or None if it is missing, forged, expired or malformed."""
    if not value or len(value) > MAX_COOKIE_BYTES:
        return None
    try:
        session = _unpack(b64url_decode(_SIGNER.verify(keys, value)))
    except Exception:  # whatever a forged cookie makes the decoders raise, it is a new visitor
        return None
    if session is None or not (-CLOCK_SKEW_SECONDS <= now - session.last_seen <= MAX_AGE_SECONDS):
        return None
    return session


def set_cookie_header(value: str, *, secure: bool = True, max_age: int = MAX_AGE_SECONDS) -> str:
    attributes = [f"{COOKIE_NAME}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def expired_cookie_header(*, secure: bool = True) -> str:
    """Deletes the session cookie (consent withdrawn)."""
    return set_cookie_header("", secure=secure, max_age=0)


def cookie_value(cookie_header: str, name: str = COOKIE_NAME) -> str | None:
    """The value of cookie `name` in a Cookie header (the first one if repeated). Pairs are split
    at ";" only (RFC 6265): a comma belongs to the value it is in, so another cookie whose value
    holds ",consent=yes" cannot create the consent cookie. For unsigned cookies (consent, login)."""
    return _first(cookie_header.split(";"), name)


def session_cookie(cookie_header: str) -> str | None:
    """The session cookie's value, also from a Cookie header the client sent twice (the runtime
    joins repeated fields with ", "). Safe to split at commas as well: a value smuggled inside
    another cookie must still carry our signature to count."""
    return _first(_SESSION_SEPARATORS.split(cookie_header), COOKIE_NAME)


def _first(pairs, name: str) -> str | None:
    for part in pairs:
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip()
    return None


def _sign(body: bytes, keys: SessionKeys) -> str:
    return _SIGNER.sign(keys, b64url_encode(body))


def _pack(s: Session) -> bytes:
    impressions = [[tag, n_session, n_visitor] for tag, (n_session, n_visitor) in s.impressions.items()]
    state = [_STATE_VERSION, s.visitor_id, s.started, s.last_seen, s.pages, s.visits, s.dwell, list(s.categories),
             list(s.products), round(s.cart_value, 2), s.cart_items, s.searches, s.stage, s.trial, s.purchases,
             impressions]
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _unpack(data: bytes) -> Session | None:
    state = json.loads(data)
    if not (isinstance(state, list) and len(state) == 16 and type(state[0]) is int
            and state[0] == _STATE_VERSION):
        return None
    (_, visitor_id, started, last_seen, pages, visits, dwell, categories, products, cart_value, cart_items,
     searches, stage, trial, purchases, impressions) = state
    if not (_are_counts((started, last_seen, pages, visits, dwell, cart_items, searches, stage, purchases))
            and isinstance(visitor_id, str) and 16 <= len(visitor_id) <= 32 and visitor_id.isascii()
            and type(cart_value) in (int, float) and 0 <= cart_value < _INFINITY
            and type(trial) is bool and _is_strings(categories) and _is_strings(products)
            and isinstance(impressions, list) and started <= last_seen):
        return None
    counts = {}
    for entry in impressions:
        if not (isinstance(entry, list) and len(entry) == 3 and _are_counts(entry)):
            return None
        counts[entry[0]] = (entry[1], entry[2])
    return Session(visitor_id, started, last_seen, pages, visits, dwell, tuple(categories[:RECENT_LIMIT]),
                   tuple(products[:RECENT_LIMIT]), float(cart_value), cart_items, searches, stage, trial,
                   purchases, counts)


def _trimmed(s: Session) -> Session:
    """Oldest history first; impression counts (which enforce frequency caps) last."""
    if s.categories or s.products:
        return s.evolve(categories=s.categories[:-1], products=s.products[:-1])
    if s.impressions:
        return s.evolve(impressions=dict(list(s.impressions.items())[1:]))
    raise ValueError("a session without history does not fit in a cookie")  # ids are bounded: unreachable


def _are_counts(values) -> bool:
    """Non-negative integers below 2**53 (JSON-safe), booleans excluded."""
    for value in values:
        if type(value) is not int or not 0 <= value < _MAX_COUNT:
            return False
    return True


_MAX_COUNT = 2**53
_INFINITY = float("inf")  # JSON's Infinity parses, but _pack (allow_nan=False) cannot write it


def _is_strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and len(v) <= 64 and _is_utf8(v) for v in value)


def _is_utf8(text: str) -> bool:
    """False for a lone surrogate, which JSON's "\\ud800" escape can carry but _pack cannot encode."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
