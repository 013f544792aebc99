"""The composite intent score: five weighted vectors (defaults 20/25/15/25/15), saturation, the stronger of
session and decayed profile, tiers, and a total that is the rounded sum of the unrounded contributions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge import compile_bundle
from intentedge.profile import Profile
from intentedge.scoring import DEFAULT_SATURATION, DEFAULT_TIERS, DEFAULT_WEIGHTS, VECTORS, Score, ScoringModel, score
from intentedge.session import Session

from tests.core.builders import DAY, NOW

MODEL = ScoringModel()
STAGES = 5
ZERO = dict.fromkeys(VECTORS, 0.0)


def visit(**changes) -> Session:
    """A session with nothing in it yet."""
    return replace(Session("v" * 22, NOW, NOW, pages=0, visits=1), **changes)


def scored(session=None, profile=None, model: ScoringModel = MODEL, stages: int = STAGES) -> Score:
    return score(model, session, profile, NOW, stages)


def model_from(scoring: dict) -> ScoringModel:
    return compile_bundle({"scoring": scoring}, source="t").scoring


def test_default_weights_saturation_and_tiers():
    assert VECTORS == ("depth", "time", "interaction", "conversion", "behaviour")
    assert DEFAULT_WEIGHTS == {"depth": 20.0, "time": 25.0, "interaction": 15.0, "conversion": 25.0, "behaviour": 15.0}
    assert DEFAULT_SATURATION == {"depth": 8.0, "time": 120.0, "interaction": 0.5, "conversion": 1.0, "behaviour": 1.0}
    assert MODEL == ScoringModel(DEFAULT_WEIGHTS, DEFAULT_SATURATION, DEFAULT_TIERS, 14.0)
    assert MODEL.tiers == (("high", 85.0), ("medium", 60.0), ("low", 0.0))


def test_nobody_scores_zero():
    result = scored()
    assert (result.total, result.tier, result.contributions) == (0.0, "low", ZERO)
    assert scored(visit()).total == 0.0


@pytest.mark.parametrize(
    "session, contributions",
    [
        pytest.param(visit(pages=4), {"depth": 10.0}, id="depth-half"),
        pytest.param(visit(pages=8), {"depth": 20.0}, id="depth-saturated"),
        pytest.param(visit(pages=50), {"depth": 20.0}, id="depth-beyond-saturation"),
        pytest.param(visit(dwell=60), {"time": 12.5}, id="time-half"),
        pytest.param(visit(dwell=600), {"time": 25.0}, id="time-capped"),
        # one search in two pages: interaction saturates at 0.5 per page; searching also feeds behaviour
        pytest.param(visit(pages=2, searches=1), {"depth": 5.0, "interaction": 15.0, "behaviour": 5.0},
                     id="search"),
        pytest.param(visit(pages=4, cart_items=1), {"depth": 10.0, "interaction": 7.5}, id="cart-add"),
        pytest.param(visit(stage=2), {"conversion": 12.5}, id="cart-stage"),
        pytest.param(visit(stage=4), {"conversion": 25.0}, id="purchase-stage"),
        pytest.param(visit(visits=2), {"behaviour": 1.7}, id="returning-once"),
        pytest.param(visit(visits=4), {"behaviour": 5.0}, id="returning-saturated"),
        # recent categories are distinct: one category is full focus (affinity 1.0), four are 0.25
        pytest.param(visit(categories=("cameras",)), {"behaviour": 5.0}, id="one-category"),
        pytest.param(visit(categories=("a", "b")), {"behaviour": 2.5}, id="two-categories"),
        pytest.param(visit(categories=("a", "b", "c", "d")), {"behaviour": 1.2}, id="four-categories"),
    ],
)
def test_each_vector(session, contributions):
    result = scored(session)
    assert result.contributions == {**ZERO, **contributions}
    # one vector each (or exact points): the rounded contributions add up to the total here
    assert result.total == round(sum(contributions.values()), 1)


def test_everything_saturated_scores_100_and_each_vector_its_weight():
    session = visit(pages=8, dwell=120, searches=4, stage=4, visits=4, categories=("cameras",))
    profile = Profile(sessions=1, pages=1, categories={"cameras": 1.0}, last_seen=NOW)  # affinity 1.0
    result = scored(session, profile)
    assert result.contributions == DEFAULT_WEIGHTS
    assert (result.total, result.tier) == (100.0, "high")
    assert result.values == dict.fromkeys(VECTORS, 1.0)
    # one session category is full focus: the session alone saturates behaviour too
    assert scored(session) == result


@pytest.mark.parametrize(
    "categories, affinity",
    [
        pytest.param(("cameras",), 1.0, id="one-is-full-focus"),
        pytest.param(("cameras", "lenses"), 0.5, id="two"),
        pytest.param(("cameras", "lenses", "bags"), 1 / 3, id="three"),
    ],
)
def test_session_category_affinity_is_one_over_the_number_of_categories(categories, affinity):
    # session categories are deduplicated (remember()): the fewer, the more focused
    assert scored(visit(categories=categories)).values["behaviour"] == round(affinity / 3, 4)


@pytest.mark.parametrize(
    "categories, affinity",
    [
        pytest.param((), 0.75, id="profile-alone"),
        pytest.param(("cameras", "lenses"), 0.75, id="profile-stronger"),
        pytest.param(("cameras",), 1.0, id="session-stronger"),
    ],
)
def test_category_affinity_is_the_stronger_of_session_and_profile(categories, affinity):
    profile = Profile(sessions=1, pages=1, categories={"cameras": 3, "lenses": 1}, last_seen=NOW)  # top share 0.75
    assert scored(visit(categories=categories), profile).values["behaviour"] == round(affinity / 3, 4)


@pytest.mark.parametrize(
    "age_days, half_life, depth",
    [
        pytest.param(0, 14, 20.0, id="fresh"),
        pytest.param(14, 14, 10.0, id="one-half-life"),
        pytest.param(28, 14, 5.0, id="two-half-lives"),
        pytest.param(14, 7, 5.0, id="short-half-life"),
        pytest.param(365, 14, 0.0, id="a-year-old"),
    ],
)
def test_profile_signals_decay_by_half_life(age_days, half_life, depth):
    profile = Profile(sessions=2, pages=16, last_seen=NOW - age_days * DAY)  # 8 pages per session
    model = replace(MODEL, half_life_days=half_life)
    assert scored(None, profile, model).contributions["depth"] == depth


@pytest.mark.parametrize(
    "pages, depth",
    [
        pytest.param(2, 10.0, id="decayed-profile-stronger"),
        pytest.param(6, 15.0, id="session-stronger"),
    ],
)
def test_session_and_profile_merge_by_the_stronger_signal(pages, depth):
    profile = Profile(sessions=2, pages=16, last_seen=NOW - 14 * DAY)  # 8 per session, decayed to 4
    assert scored(visit(pages=pages), profile).contributions["depth"] == depth


def test_profile_vectors():
    profile = Profile(sessions=4, pages=16, dwell_avg=60, interactions=4, searches=1, stage=2,
                      categories={"cameras": 3, "lenses": 1}, last_seen=NOW)
    result = scored(None, profile)
    # 4 pages/session, 60 s dwell, 0.25 interactions/page, stage 2 of 4, (search + 0.75 affinity + 1 return)/3
    assert result.contributions == {"depth": 10.0, "time": 12.5, "interaction": 7.5, "conversion": 12.5,
                                    "behaviour": 13.8}
    # the total rounds the unrounded sum (behaviour is 13.75): 56.25 -> 56.2, not 56.3 from the trace
    assert result.total == 56.2


@pytest.mark.parametrize(
    "weights, contributions",
    [
        # weights are relative: doubling all of them changes nothing
        pytest.param({"depth": 40, "time": 50, "interaction": 30, "conversion": 50, "behaviour": 30},
                     {"depth": 10.0, "time": 12.5}, id="doubled"),
        pytest.param({"depth": 1, "time": 0, "interaction": 0, "conversion": 0, "behaviour": 0},
                     {"depth": 50.0}, id="depth-only"),
        pytest.param({"depth": 0, "time": 0, "interaction": 0, "conversion": 0, "behaviour": 0}, {}, id="all-zero"),
        # only depth given: the others keep their defaults, and the total weight is now 180
        pytest.param({"depth": 100}, {"depth": 27.8, "time": 6.9}, id="one-overridden"),
    ],
)
def test_weights_are_normalised_to_100(weights, contributions):
    result = scored(visit(pages=4, dwell=60), model=model_from({"weights": weights}))
    assert result.contributions == {**ZERO, **contributions}


def test_saturation_is_configurable():
    model = model_from({"saturation": {"depth": 4, "time": 30}})
    assert scored(visit(pages=4, dwell=15), model=model).contributions == {**ZERO, "depth": 20.0, "time": 12.5}


@pytest.mark.parametrize(
    "stages, stage, conversion",
    [
        pytest.param(5, 1, 6.2, id="one-of-four"),
        pytest.param(2, 1, 25.0, id="two-stage-funnel"),
        # a stage beyond a shorter funnel (an old cookie): capped
        pytest.param(3, 4, 25.0, id="beyond-the-funnel"),
        # a one-stage funnel cannot divide by zero
        pytest.param(1, 1, 25.0, id="one-stage"),
    ],
)
def test_conversion_is_a_share_of_the_funnel(stages, stage, conversion):
    assert scored(visit(stage=stage), stages=stages).contributions["conversion"] == conversion


@pytest.mark.parametrize(
    "total, tier",
    [
        pytest.param(100.0, "high", id="100"),
        pytest.param(85.0, "high", id="85-is-high"),
        pytest.param(84.9, "medium", id="84.9"),
        pytest.param(60.0, "medium", id="60-is-medium"),
        pytest.param(59.9, "low", id="59.9"),
        pytest.param(0.0, "low", id="0"),
    ],
)
def test_default_tiers(total, tier):
    assert MODEL.tier(total) == tier


@pytest.mark.parametrize(
    "tiers, total, tier",
    [
        pytest.param({"hot": 70, "warm": 40}, 70.0, "hot", id="custom-top"),
        pytest.param({"hot": 70, "warm": 40}, 69.9, "warm", id="custom-middle"),
        # below the lowest custom threshold: the floor tier the compiler adds
        pytest.param({"hot": 70, "warm": 40}, 39.9, "low", id="custom-floor"),
        pytest.param({"exit-offer": 85, "discount": 60, "browse": 0}, 10.0, "browse", id="own-floor"),
        pytest.param({"exit-offer": 85, "discount": 60, "browse": 0}, 61.0, "discount", id="brief-tiers"),
    ],
)
def test_custom_tiers(tiers, total, tier):
    assert model_from({"tiers": tiers}).tier(total) == tier


def test_tiers_without_a_floor_fall_to_the_lowest():
    # built directly (the compiler always adds a floor): a score below every threshold gets the last tier
    assert ScoringModel(tiers=(("keen", 50.0),)).tier(10.0) == "keen"


def test_tier_follows_the_total():
    session = visit(pages=8, dwell=120, stage=4, searches=4, visits=4)
    result = scored(session)
    assert result.total == 95.0 and result.tier == "high"
    assert scored(session, model=model_from({"tiers": {"high": 98}})).tier == "low"


def test_trace():
    result = scored(visit(pages=4))
    assert result.trace() == {"score": 10.0, "tier": "low", "contributions": {**ZERO, "depth": 10.0}}


counts = st.integers(min_value=0, max_value=10_000)
sessions = st.builds(
    lambda pages, visits, dwell, searches, cart_items, stage, categories: visit(
        pages=pages, visits=visits, dwell=dwell, searches=searches, cart_items=cart_items, stage=stage,
        categories=categories),
    counts, st.integers(1, 50), st.integers(0, 600), counts, counts, st.integers(0, 10),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True).map(tuple),
)
profiles = st.builds(
    Profile, sessions=counts, pages=counts, dwell_avg=st.floats(0, 1e6), interactions=counts, searches=counts,
    stage=st.integers(0, 10), categories=st.dictionaries(st.sampled_from(["a", "b"]), st.floats(0, 100)),
    last_seen=st.integers(NOW - 400 * DAY, NOW + DAY),
)
weights = st.fixed_dictionaries({vector: st.integers(0, 100) for vector in VECTORS})


@settings(max_examples=200, deadline=None)
@given(st.none() | sessions, st.none() | profiles, weights)
def test_contributions_add_up_to_the_total(session, profile, weights):
    model = replace(MODEL, weights={k: float(v) for k, v in weights.items()})
    result = scored(session, profile, model)
    assert 0.0 <= result.total <= 100.0
    assert result.total == round(result.total, 1)
    # the total rounds the sum of the unrounded points (recomputed here from the 4-decimal values: 0.005 off at most)
    total_weight = sum(model.weights.values()) or 1.0
    points = sum(100.0 * model.weights[v] / total_weight * result.values[v] for v in VECTORS)
    assert abs(result.total - points) <= 0.05 + 0.005 + 1e-9
    # the trace's contributions are each rounded to 0.1: five of them and the total differ by at most 0.3
    assert abs(result.total - sum(result.contributions.values())) <= 0.3 + 1e-9
    assert all(0.0 <= value <= 1.0 for value in result.values.values())
    assert result.tier == MODEL.tier(result.total)


def test_the_total_never_exceeds_100():
    # rounded before summing, these contributions make 100.1 (2.4 + 42.9 + 54.8): the total sums the exact points
    session = visit(pages=8, cart_items=4, stage=4)  # depth, interaction and conversion saturated
    model = replace(MODEL, weights={"depth": 1.0, "time": 0.0, "interaction": 18.0, "conversion": 23.0,
                                    "behaviour": 0.0})
    result = scored(session, model=model)
    assert result.contributions == {**ZERO, "depth": 2.4, "interaction": 42.9, "conversion": 54.8}
    assert (result.total, result.tier) == (100.0, "high")
