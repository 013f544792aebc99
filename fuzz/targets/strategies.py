"""Strategies every subject draws on: what JSON and msgpack carry, and ways to bend well-formed data."""

from __future__ import annotations

import copy
from typing import Any

import msgpack
from hypothesis import strategies as st

# What JSON and msgpack can both carry; floats include NaN and the infinities.
scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
           | st.text(max_size=24))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
# msgpack adds bytes, bytes map keys, extension types and timestamps (extension type -1).
msgpack_values = st.recursive(
    scalars | st.binary(max_size=24) | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=12))
    | st.builds(msgpack.Timestamp, st.integers(-2**40, 2**40), st.integers(0, 999_999_999)),
    lambda inner: (st.lists(inner, max_size=5)
                   | st.dictionaries(st.text(max_size=8) | st.binary(max_size=4), inner, max_size=4)),
    max_leaves=16,
)
# Integer map keys too: msgpack writes them, the reader refuses them (strict_map_key).
any_keyed_maps = st.dictionaries(st.text(max_size=8) | st.integers(-2**63, 2**64 - 1), msgpack_values, max_size=4)

# Numbers where a config or a profile expects one: out of range, NaN and infinities, and plausible ones.
numbers = st.integers(-2**63, 2**64 - 1) | st.floats() | st.integers(0, 200)


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, odds: int = 4) -> st.SearchStrategy:
    """`usual` but one time in `odds` (one_of would not do: it counts a repeated strategy once)."""
    return st.integers(0, odds - 1).flatmap(lambda roll: odd if roll == 0 else usual)


def sometimes(shaped: st.SearchStrategy, junk: st.SearchStrategy = msgpack_values) -> st.SearchStrategy:
    """Mostly what the reader expects, sometimes anything: wrong types deep inside well-formed data."""
    return mostly(shaped, junk)


def maps(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A map holding any subset of `fields`, plus the odd unknown key (newer minors add keys)."""
    known = st.fixed_dictionaries({}, optional=fields)
    extra = st.dictionaries(st.text(max_size=8), msgpack_values, max_size=1)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside nested maps and lists."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    places = []
    for key, item in items:
        places.append((value, key))
        places.extend(_places(item))
    return places


@st.composite
def corrupted(draw, valid: st.SearchStrategy, junk: st.SearchStrategy = msgpack_values, edits: int = 3) -> Any:
    """A valid value with up to `edits` entries deleted or replaced by junk, anywhere inside."""
    value = copy.deepcopy(draw(valid))   # a fresh object, so hypothesis reports it as it is
    for _ in range(draw(st.integers(0, edits))):
        places = _places(value)
        if not places:
            break
        container, key = places[draw(st.integers(0, len(places) - 1))]
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(junk)
    return value
