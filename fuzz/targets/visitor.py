"""Fuzz target of the visitor profile the edge reads from KV (intentedge.visitor): visitor.profile."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st
from intentedge.contract import schema
from intentedge.errors import SchemaError
from intentedge.profile import Profile
from intentedge.visitor import profile_from_bytes

from fuzz.targets.registry import target
from fuzz.targets.schema import MSGPACKS, envelope, msgpack_implementation
from fuzz.targets.strategies import corrupted, maps, msgpack_values, numbers, sometimes

_PROFILE_NUMBERS = [f.name for f in dataclasses.fields(Profile) if f.type in ("int", "float")]
profile_payloads = maps({
    **{name: sometimes(numbers) for name in _PROFILE_NUMBERS},
    "trial": sometimes(st.booleans()),
    "categories": sometimes(st.dictionaries(st.text(max_size=8) | st.binary(max_size=3), numbers, max_size=4)),
})


valid_profiles = st.fixed_dictionaries({
    **{name: st.integers(0, 2**64 - 1) | st.floats(0) for name in _PROFILE_NUMBERS},
    "trial": st.booleans(),
    "categories": st.dictionaries(st.text(max_size=8), st.integers(0, 2**64 - 1) | st.floats(0), max_size=4),
})


@target("visitor.profile", payload=st.one_of(corrupted(valid_profiles, edits=2), profile_payloads, msgpack_values),
        now=st.integers(0, 2**40) | st.floats(0, 2**40),
        half_life_days=st.floats(0, 1e6), implementation=st.sampled_from(sorted(MSGPACKS)))
def visitor_profile(payload: Any, now: float, half_life_days: float, implementation: str) -> None:
    """A profile envelope: SchemaError, or a Profile of non-negative numbers whose readings never raise."""
    data = envelope(schema.PROFILE, payload)
    with msgpack_implementation(implementation):
        try:
            profile = profile_from_bytes(data)
        except SchemaError:
            return
    assert isinstance(profile, Profile)
    for name in _PROFILE_NUMBERS:
        value = getattr(profile, name)
        assert type(value) in (int, float) and value >= 0, (name, value)
    assert type(profile.trial) is bool
    assert 0 <= profile.decay(now, half_life_days) <= 1
    name, share = profile.top_category()
    assert isinstance(name, str) and 0 <= share <= 1
    assert profile.attributes(now)["known"] is True
    assert profile.pages_per_session >= 0 and profile.interaction_rate >= 0
