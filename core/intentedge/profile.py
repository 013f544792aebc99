"""The long-term visitor profile that backend jobs write to KV, as the edge reads it.

Profiles are keyed by a salted hash of the visitor id (see keys.profile_key) and
carry counts, never raw events or personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from intentedge.errors import SchemaError

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Profile:
    updated_at: int = 0            # epoch seconds the profile was built
    sessions: int = 0
    pages: int = 0                 # page views over all sessions
    dwell_avg: float = 0.0         # seconds per page
    interactions: int = 0          # clicks on calls to action, cart adds, searches
    searches: int = 0
    stage: int = 0                 # furthest funnel stage ever reached
    categories: dict[str, float] = field(default_factory=dict)   # category -> affinity weight
    purchases: int = 0
    cart_value: float = 0.0        # open cart at the last event
    cart_items: int = 0
    trial: bool = False
    last_seen: int = 0             # epoch seconds of the last event

    @property
    def pages_per_session(self) -> float:
        return self.pages / self.sessions if self.sessions else 0.0

    @property
    def interaction_rate(self) -> float:
        return self.interactions / self.pages if self.pages else 0.0

    def top_category(self) -> tuple[str, float]:
        """The strongest category and its share of all affinity (0..1)."""
        if not self.categories:
            return "", 0.0
        name = max(self.categories, key=lambda c: (self.categories[c], c))
        total = sum(self.categories.values())
        return name, (self.categories[name] / total if total > 0 else 0.0)

    def decay(self, now: float, half_life_days: float) -> float:
        """How much the profile still counts: 1.0 when fresh, halving every `half_life_days`."""
        age_days = max(0.0, now - (self.last_seen or self.updated_at)) / SECONDS_PER_DAY
        return 0.5 ** (age_days / half_life_days) if half_life_days > 0 else 1.0

    def attributes(self, now: float) -> dict:
        top, _ = self.top_category()
        seen = self.last_seen or self.updated_at
        return {
            "known": True,
            "sessions": self.sessions,
            "pages": self.pages,
            "purchases": self.purchases,
            "searches": self.searches,
            "stage": self.stage,
            "top_category": top,
            "cart_value": round(self.cart_value, 2),
            "trial": self.trial,
            "days_since_seen": int(max(0.0, now - seen) // SECONDS_PER_DAY) if seen else None,
        }


UNKNOWN_PROFILE_ATTRIBUTES = {"known": False, "sessions": 0, "pages": 0, "purchases": 0, "searches": 0, "stage": 0,
                              "top_category": "", "cart_value": 0, "trial": False, "days_since_seen": None}

_NUMBERS = {f.name for f in fields(Profile) if f.type in ("int", "float")}
_INFINITY = float("inf")  # NaN and infinities are refused: pages / sessions would be NaN in the score


def profile_from_payload(payload: Any) -> Profile:
    """A Profile from a decoded payload: unknown fields ignored, wrong types refused."""
    if not isinstance(payload, dict):
        raise SchemaError(f"profile payload must be a map, found {type(payload).__name__}")
    values = {}
    for name in _NUMBERS:
        if name in payload:
            value = payload[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < _INFINITY:
                raise SchemaError(f"profile field {name!r} must be a non-negative number, found {value!r}")
            values[name] = value
    if "trial" in payload:
        if not isinstance(payload["trial"], bool):
            raise SchemaError("profile field 'trial' must be a boolean")
        values["trial"] = payload["trial"]
    if "categories" in payload:
        categories = payload["categories"]
        if not (isinstance(categories, dict) and all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < _INFINITY
                for k, v in categories.items())):
            raise SchemaError("profile field 'categories' must map names to non-negative numbers")
        values["categories"] = dict(categories)
    return Profile(**values)


def profile_to_payload(profile: Profile) -> dict:
    return {f.name: getattr(profile, f.name) for f in fields(Profile)}
