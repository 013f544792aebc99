"""The long-term visitor profile as the edge reads it: derived rates, top category, decay by half-life,
attributes, and the payload written by the backend jobs."""

from __future__ import annotations

import pytest

from intentedge import SchemaError
from intentedge.profile import UNKNOWN_PROFILE_ATTRIBUTES, Profile, profile_from_payload, profile_to_payload

from tests.core.builders import DAY, HOUR, NOW


@pytest.mark.parametrize(
    "profile, pages_per_session, interaction_rate",
    [
        pytest.param(Profile(), 0.0, 0.0, id="empty"),
        pytest.param(Profile(sessions=4, pages=10, interactions=5), 2.5, 0.5, id="counts"),
        # interactions without pages cannot divide by zero
        pytest.param(Profile(sessions=0, pages=0, interactions=3), 0.0, 0.0, id="no-pages"),
    ],
)
def test_rates(profile, pages_per_session, interaction_rate):
    assert (profile.pages_per_session, profile.interaction_rate) == (pages_per_session, interaction_rate)


@pytest.mark.parametrize(
    "categories, expected",
    [
        pytest.param({}, ("", 0.0), id="none"),
        pytest.param({"cameras": 3.0}, ("cameras", 1.0), id="one"),
        pytest.param({"cameras": 3.0, "lenses": 1.0}, ("cameras", 0.75), id="share"),
        # equal affinity: the name decides, so the answer does not depend on dict order
        pytest.param({"lenses": 2.0, "cameras": 2.0}, ("lenses", 0.5), id="tie-by-name"),
        pytest.param({"cameras": 0.0}, ("cameras", 0.0), id="all-zero"),
    ],
)
def test_top_category(categories, expected):
    assert Profile(categories=categories).top_category() == expected


@pytest.mark.parametrize(
    "last_seen, updated_at, half_life, expected",
    [
        pytest.param(NOW, 0, 14, 1.0, id="fresh"),
        pytest.param(NOW - 14 * DAY, 0, 14, 0.5, id="one-half-life"),
        pytest.param(NOW - 28 * DAY, 0, 14, 0.25, id="two-half-lives"),
        pytest.param(NOW - 7 * DAY, 0, 7, 0.5, id="shorter-half-life"),
        pytest.param(NOW - 7 * DAY, 0, 14, 2 ** -0.5, id="half-a-half-life"),
        # without last_seen the build time counts
        pytest.param(0, NOW - 14 * DAY, 14, 0.5, id="updated-at"),
        # last_seen wins over updated_at
        pytest.param(NOW - 14 * DAY, NOW, 14, 0.5, id="last-seen-first"),
        # seen "in the future" (clock skew between the jobs and the edge): fresh, never above 1
        pytest.param(NOW + DAY, 0, 14, 1.0, id="future"),
    ],
)
def test_decay_halves_every_half_life(last_seen, updated_at, half_life, expected):
    profile = Profile(last_seen=last_seen, updated_at=updated_at)
    assert profile.decay(NOW, half_life) == pytest.approx(expected)


def test_attributes():
    profile = Profile(updated_at=NOW - HOUR, sessions=3, pages=12, purchases=4, searches=2, stage=3,
                      categories={"cameras": 5, "lenses": 1}, cart_value=10.555, trial=True,
                      last_seen=NOW - 2 * DAY - HOUR)
    assert profile.attributes(NOW) == {
        "known": True, "sessions": 3, "pages": 12, "purchases": 4, "searches": 2, "stage": 3,
        "top_category": "cameras", "cart_value": round(10.555, 2), "trial": True, "days_since_seen": 2,
    }


@pytest.mark.parametrize(
    "last_seen, updated_at, days",
    [
        pytest.param(NOW - DAY + 1, 0, 0, id="under-a-day"),
        pytest.param(NOW - DAY, 0, 1, id="one-day"),
        pytest.param(0, NOW - 3 * DAY, 3, id="from-updated-at"),
        pytest.param(0, 0, None, id="never-seen"),
        pytest.param(NOW + DAY, 0, 0, id="future"),
    ],
)
def test_days_since_seen(last_seen, updated_at, days):
    assert Profile(last_seen=last_seen, updated_at=updated_at).attributes(NOW)["days_since_seen"] == days


def test_unknown_profile_attributes_have_the_same_keys():
    assert set(UNKNOWN_PROFILE_ATTRIBUTES) == set(Profile().attributes(NOW))
    assert UNKNOWN_PROFILE_ATTRIBUTES["known"] is False


# -- payloads ---------------------------------------------------------------------------------


def test_payload_round_trip():
    profile = Profile(updated_at=NOW, sessions=3, pages=12, dwell_avg=33.5, interactions=4, searches=2, stage=3,
                      categories={"cameras": 5.0}, purchases=1, cart_value=649.0, cart_items=1, trial=True,
                      last_seen=NOW - 5)
    assert profile_from_payload(profile_to_payload(profile)) == profile


def test_payload_fields_may_be_missing_and_unknown_ones_are_ignored():
    # a newer writer may add fields; an older one may lack some
    assert profile_from_payload({"sessions": 2, "lifetime_value": 99, "segments": ["x"]}) == Profile(sessions=2)
    assert profile_from_payload({}) == Profile()


@pytest.mark.parametrize(
    "payload, message",
    [
        pytest.param([], "profile payload must be a map, found list", id="list"),
        pytest.param(None, "profile payload must be a map, found NoneType", id="nil"),
        pytest.param({"pages": -1}, "profile field 'pages' must be a non-negative number, found -1", id="negative"),
        pytest.param({"pages": "3"}, "profile field 'pages' must be a non-negative number, found '3'", id="string"),
        # bool is an int to Python, never a count
        pytest.param({"sessions": True}, "profile field 'sessions' must be a non-negative number, found True",
                     id="bool"),
        pytest.param({"dwell_avg": float("nan")}, "profile field 'dwell_avg' must be a non-negative number, found nan",
                     id="nan"),
        # msgpack carries infinities; inf / inf is NaN in pages_per_session (found by fuzz/)
        pytest.param({"sessions": float("inf")}, "profile field 'sessions' must be a non-negative number, found inf",
                     id="infinity"),
        pytest.param({"trial": 1}, "profile field 'trial' must be a boolean", id="trial-int"),
        pytest.param({"categories": ["cameras"]}, "profile field 'categories' must map names to non-negative numbers",
                     id="categories-list"),
        pytest.param({"categories": {"cameras": -1}},
                     "profile field 'categories' must map names to non-negative numbers", id="category-negative"),
        pytest.param({"categories": {"cameras": float("inf")}},
                     "profile field 'categories' must map names to non-negative numbers", id="category-infinity"),
        pytest.param({"categories": {"cameras": True}},
                     "profile field 'categories' must map names to non-negative numbers", id="category-bool"),
        pytest.param({"categories": {1: 1.0}}, "profile field 'categories' must map names to non-negative numbers",
                     id="category-int-name"),
    ],
)
def test_bad_payloads_are_schema_errors(payload, message):
    with pytest.raises(SchemaError) as caught:
        profile_from_payload(payload)
    assert str(caught.value) == message


def test_payload_categories_are_copied():
    categories = {"cameras": 1.0}
    profile = profile_from_payload({"categories": categories})
    categories["cameras"] = 99.0
    assert profile.categories == {"cameras": 1.0}
