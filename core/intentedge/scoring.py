"""The composite intent score: five weighted vectors, each normalized to 0..1, summed to 0..100.

    depth        pages viewed this session (or the profile's pages per session)
    time         seconds on the previous page (or the profile's average dwell)
    interaction  searches and cart adds per page (or the profile's interaction rate)
    conversion   furthest funnel stage reached, as a share of the funnel
    behaviour    searching, affinity to one category, and return visits

Session and profile are merged per vector by taking the stronger signal; profile
signals decay with the profile's age. Weights, saturations and tiers come from the
bundle's `[scoring]` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from intentedge.profile import Profile
from intentedge.session import Session

VECTORS = ("depth", "time", "interaction", "conversion", "behaviour")
DEFAULT_WEIGHTS = {"depth": 20.0, "time": 25.0, "interaction": 15.0, "conversion": 25.0, "behaviour": 15.0}
# The raw value at which a vector counts in full.
DEFAULT_SATURATION = {"depth": 8.0, "time": 120.0, "interaction": 0.5, "conversion": 1.0, "behaviour": 1.0}
DEFAULT_TIERS = (("high", 85.0), ("medium", 60.0), ("low", 0.0))
RETURN_VISITS_SATURATION = 3


@dataclass(frozen=True)
class ScoringModel:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    saturation: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SATURATION))
    tiers: tuple[tuple[str, float], ...] = DEFAULT_TIERS     # highest threshold first
    half_life_days: float = 14.0

    # (vector, points at full value, saturation) for each vector, prepared once.
    plan: tuple[tuple[str, float, float], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        total_weight = sum(self.weights.values()) or 1.0
        object.__setattr__(self, "plan", tuple(
            (vector, 100.0 * self.weights.get(vector, 0.0) / total_weight, self.saturation.get(vector) or 1.0)
            for vector in VECTORS))

    def tier(self, score: float) -> str:
        for name, threshold in self.tiers:
            if score >= threshold:
                return name
        return self.tiers[-1][0]


@dataclass(frozen=True)
class Score:
    total: float                          # 0..100, one decimal
    tier: str
    contributions: dict[str, float]       # points per vector; they add up to `total`
    values: dict[str, float]              # each vector's normalized value, 0..1

    def trace(self) -> dict:
        return {"score": self.total, "tier": self.tier, "contributions": self.contributions}


def score(model: ScoringModel, session: Session | None, profile: Profile | None, now: float,
          stages: int) -> Score:
    raw = _raw_vectors(session, profile, now, model.half_life_days, stages)
    values, contributions, total = {}, {}, 0.0
    for vector, full_points, saturation in model.plan:
        value = min(1.0, max(0.0, raw[vector] / saturation))
        points = full_points * value
        total += points
        values[vector] = round(value, 4)
        contributions[vector] = round(points, 1)   # for the trace; the total sums the unrounded points
    total = min(100.0, round(total, 1))
    return Score(total, model.tier(total), contributions, values)


def _raw_vectors(session: Session | None, profile: Profile | None, now: float, half_life: float,
                 stages: int) -> dict[str, float]:
    s = session
    p = profile
    decay = p.decay(now, half_life) if p else 0.0
    last_stage = max(1, stages - 1)
    depth = max(s.pages if s else 0, p.pages_per_session * decay if p else 0.0)
    time = max(s.dwell if s else 0, p.dwell_avg * decay if p else 0.0)
    session_rate = (s.searches + s.cart_items) / s.pages if s and s.pages else 0.0
    interaction = max(session_rate, p.interaction_rate * decay if p else 0.0)
    conversion = max(s.stage if s else 0, p.stage * decay if p else 0.0) / last_stage
    return {"depth": depth, "time": time, "interaction": interaction, "conversion": conversion,
            "behaviour": _behaviour(s, p, decay)}


def _behaviour(s: Session | None, p: Profile | None, decay: float) -> float:
    searched = 1.0 if s and s.searches else (decay if p and p.searches else 0.0)
    affinity = 0.0
    if s and s.categories:
        affinity = 1.0 / len(s.categories)   # recent categories are distinct: one category is full focus
    if p:
        affinity = max(affinity, p.top_category()[1] * decay)
    visits = max(s.visits if s else 1, (p.sessions * decay) if p else 0)
    returning = min(1.0, max(0.0, visits - 1) / RETURN_VISITS_SATURATION)
    return (searched + affinity + returning) / 3
