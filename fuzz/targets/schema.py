"""Fuzz targets of the msgpack envelope (intentedge.contract.schema): schema.decode and
schema.round_trip, each with msgpack's C extension and with its pure-Python fallback."""

from __future__ import annotations

import functools
import types
from contextlib import contextmanager
from typing import Any

import msgpack
import msgpack.fallback
from hypothesis import strategies as st
from intentedge.contract import schema
from intentedge.errors import SchemaError

from fuzz.targets.registry import target
from fuzz.targets.strategies import any_keyed_maps, maps, msgpack_values, sometimes

SCHEMAS = (schema.CONFIG, schema.POINTER, schema.PROFILE)
# The Worker runs msgpack's pure-Python modules (jobs/intentedge_jobs/build_worker.py), the jobs the C extension.
MSGPACKS = {"c": msgpack, "fallback": types.SimpleNamespace(unpackb=msgpack.fallback.unpackb)}


@contextmanager
def msgpack_implementation(name: str):
    """Run schema.decode with the named msgpack unpacker."""
    original = schema.msgpack
    schema.msgpack = MSGPACKS[name]
    try:
        yield
    finally:
        schema.msgpack = original


def envelope(schema_: schema.Schema, payload: Any, *, minor: int = 0) -> bytes:
    """An envelope as encode() writes it, without encode's own check, so the reader sees everything."""
    return msgpack.packb({"schema": schema_.name, "version": [schema_.major, minor], "written_at": 1_790_000_000,
                          "producer": "fuzz", "payload": payload}, use_bin_type=True)


versions = sometimes(st.lists(st.integers(-2, 3) | st.integers(-2**63, 2**64 - 1) | st.booleans(),
                              min_size=0, max_size=3))
envelope_maps = maps({
    "schema": sometimes(st.sampled_from([s.name for s in SCHEMAS])),
    "version": versions,
    "written_at": sometimes(st.integers(-2**63, 2**64 - 1)),
    "producer": sometimes(st.text(max_size=8)),
    "payload": msgpack_values,
})
# Headers of msgpack's containers and sizes, so lengths claim more than the bytes hold.
_MSGPACK_HEADERS = [b"\x91", b"\x81", b"\xdc\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xde\x00\x10",
                    b"\xdf\x7f\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\x7f\xff\xff\xff", b"\xc7\x05\xff",
                    b"\xd4\xff", b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff", b"\xc1", b"\xc0", b"\xa1a", b"\x80"]
header_soup = st.lists(st.sampled_from(_MSGPACK_HEADERS) | st.binary(max_size=4), max_size=12).map(b"".join)
deep_nesting = st.builds(lambda depth, tail: b"\x91" * depth + tail, st.integers(0, 5000), header_soup)


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    """Byte edits of a valid encoding: flips, inserts, deletions, truncation, repeated slices."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        end = draw(st.integers(at, len(data)))
        byte = bytes([draw(st.integers(0, 255))])
        data = draw(st.sampled_from([
            data[:at] + byte + data[at + 1:],
            data[:at] + byte + data[at:],
            data[:at] + data[end:],
            data[:at],
            data[:end] + data[at:end] + data[end:],
        ]))
    return data


@st.composite
def envelope_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["binary", "headers", "nesting", "map", "valid", "mutated"]))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "headers":
        return draw(header_soup)
    if kind == "nesting":
        return draw(deep_nesting)
    if kind == "map":
        return msgpack.packb(draw(envelope_maps | msgpack_values | any_keyed_maps), use_bin_type=True)
    valid = envelope(draw(st.sampled_from(SCHEMAS)), draw(msgpack_values), minor=draw(st.integers(0, 3)))
    return valid if kind == "valid" else draw(mutated_bytes(valid))


def decoded_with(implementation: str, expected: schema.Schema, data: bytes) -> schema.Envelope | SchemaError:
    """The envelope in `data`, or the SchemaError decode() raised; any other error propagates."""
    with msgpack_implementation(implementation):
        try:
            return schema.decode(expected, data)
        except SchemaError as error:
            return error


def same_envelope(a: schema.Envelope | SchemaError, b: schema.Envelope | SchemaError) -> bool:
    """The same error class, or the same envelope (payloads compared as msgpack, since NaN != NaN)."""
    if isinstance(a, SchemaError) or isinstance(b, SchemaError):
        return type(a) is type(b)
    pack = functools.partial(msgpack.packb, use_bin_type=True)
    return ((a.schema, a.version, a.written_at, a.producer) == (b.schema, b.version, b.written_at, b.producer)
            and pack(a.payload) == pack(b.payload))


@target("schema.decode", data=envelope_bytes())
def schema_decode(data: bytes) -> None:
    """decode() of any bytes: an Envelope of the expected schema and major, or SchemaError; the same
    with the C and the pure-Python msgpack, so the Worker reads exactly what the jobs read."""
    for expected in SCHEMAS:
        decoded = decoded_with("c", expected, data)
        assert same_envelope(decoded, decoded_with("fallback", expected, data)), "the two msgpacks disagree"
        if isinstance(decoded, SchemaError):
            continue
        assert decoded.schema == expected.name and decoded.version[0] == expected.major
        assert all(type(v) is int and v >= 0 for v in decoded.version)
        assert type(decoded.written_at) is int and decoded.written_at >= 0 and isinstance(decoded.producer, str)


@target("schema.round_trip", payload=msgpack_values, implementation=st.sampled_from(sorted(MSGPACKS)),
        written_at=st.integers(0, 2**64 - 1), producer=st.text(max_size=12))
def schema_round_trip(payload: Any, implementation: str, written_at: int, producer: str) -> None:
    """What a writer encodes, the reader decodes to the same payload (compared as msgpack: NaN != NaN)."""
    for expected in SCHEMAS:
        data = schema.encode(expected, payload, written_at=written_at, producer=producer)
        with msgpack_implementation(implementation):
            decoded = schema.decode(expected, data)
        assert msgpack.packb(decoded.payload, use_bin_type=True) == msgpack.packb(payload, use_bin_type=True)
        assert (decoded.written_at, decoded.producer) == (written_at, producer)
