"""The msgpack envelope: encode/decode round trips, every refusal is a SchemaError, digest is canonical."""

from __future__ import annotations

import contextlib
import hashlib
import math
import types

import msgpack
import msgpack.fallback
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentedge import SchemaError, VersionError
from intentedge.contract import schema
from intentedge.contract.schema import CONFIG, POINTER, Envelope, Schema, decode, digest, encode

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Everything msgpack can carry and that reads back as an equal Python value.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
payloads = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


_DROP = object()  # marks an envelope field raw_envelope() leaves out


def raw_envelope(**overrides) -> bytes:
    """A hand-packed envelope, so tests can break one field at a time."""
    fields = {
        "schema": CONFIG.name,
        "version": [CONFIG.major, CONFIG.minor],
        "written_at": 1_790_000_000,
        "producer": "tests/1",
        "payload": {"slots": {}},
    }
    fields.update(overrides)
    return msgpack.packb({k: v for k, v in fields.items() if v is not _DROP}, use_bin_type=True)


# -- encode / decode --------------------------------------------------------------------------


def test_encode_decode_returns_every_field():
    data = encode(CONFIG, {"slots": {"hero": {}}}, written_at=1_790_000_000, producer="cli/0.1.0")

    assert decode(CONFIG, data) == Envelope(
        schema="intentedge.config",
        version=(1, 0),
        written_at=1_790_000_000,
        producer="cli/0.1.0",
        payload={"slots": {"hero": {}}},
    )


def test_encoded_envelope_is_a_plain_msgpack_map_with_the_documented_fields():
    data = encode(POINTER, {"key": "config/x"}, written_at=7, producer="p")

    assert msgpack.unpackb(data, raw=False) == {
        "schema": "intentedge.pointer",
        "version": [1, 0],
        "written_at": 7,
        "producer": "p",
        "payload": {"key": "config/x"},
    }


def test_schema_str_names_the_version():
    assert str(CONFIG) == "intentedge.config v1.0"
    assert str(Schema("x", 3, 12)) == "x v3.12"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"when": object()}, id="arbitrary-object"),
        pytest.param({"big": 2**64}, id="int-above-uint64"),
        pytest.param({"small": -(2**63) - 1}, id="int-below-int64"),
        pytest.param({1j}, id="set-of-complex"),
    ],
)
def test_encode_refuses_unpackable_payloads_with_schema_error(payload):
    with pytest.raises(SchemaError, match=r"^intentedge\.config v1\.0: payload cannot be encoded: "):
        encode(CONFIG, payload, written_at=1, producer="p")


def test_encode_truncates_written_at_to_int():
    data = encode(CONFIG, None, written_at=12.9, producer="p")  # type: ignore[arg-type]
    assert decode(CONFIG, data).written_at == 12


@pytest.mark.parametrize("minor", [0, 1, 99], ids=["same-minor", "next-minor", "far-minor"])
def test_decode_accepts_any_minor_of_its_major(minor):
    envelope = decode(CONFIG, raw_envelope(version=[1, minor], payload={"new": "field"}))
    assert envelope.version == (1, minor)
    assert envelope.payload == {"new": "field"}


@pytest.mark.parametrize(
    "version",
    [
        pytest.param([2, 0], id="next-major"),
        pytest.param([0, 9], id="older-major"),
        pytest.param([2**40, 0], id="huge-major"),
    ],
)
def test_decode_refuses_another_major_with_version_error(version):
    with pytest.raises(VersionError, match=rf"major version {version[0]} cannot be read by a v1 reader"):
        decode(CONFIG, raw_envelope(version=version))


def test_version_error_is_a_schema_error():
    # Callers that only catch SchemaError must still catch a VersionError.
    assert issubclass(VersionError, SchemaError)


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(b"", r"^intentedge\.config: not msgpack \(", id="empty"),
        pytest.param(b"\xc1", r"not msgpack", id="reserved-byte"),
        pytest.param(b"\x92\x01", r"not msgpack", id="truncated-array"),
        pytest.param(msgpack.packb({}) + b"\x00", r"not msgpack", id="trailing-bytes"),
        # strict_map_key: an int map key is not a valid envelope at all
        pytest.param(msgpack.packb({1: 2}), r"not msgpack", id="int-map-key"),
        pytest.param(msgpack.packb([1, 2]), r"envelope is a list, expected a map", id="array"),
        pytest.param(msgpack.packb(5), r"envelope is a int, expected a map", id="int"),
        pytest.param(msgpack.packb(None), r"envelope is a NoneType, expected a map", id="nil"),
        pytest.param(msgpack.packb({}), r"lacks schema, version, written_at, producer, payload", id="empty-map"),
        pytest.param(raw_envelope(payload=_DROP), r"lacks payload$", id="no-payload"),
        pytest.param(raw_envelope(producer=_DROP, written_at=_DROP), r"lacks written_at, producer$",
                     id="two-missing"),
        pytest.param(raw_envelope(schema="intentedge.pointer"),
                     r"expected schema 'intentedge\.config', found 'intentedge\.pointer'", id="other-schema"),
        pytest.param(raw_envelope(schema=None), r"expected schema 'intentedge\.config', found None",
                     id="nil-schema"),
        pytest.param(raw_envelope(version="1.0"), r"version must be \[major, minor\], found '1\.0'",
                     id="version-string"),
        pytest.param(raw_envelope(version=[1]), r"version must be \[major, minor\], found \[1\]", id="version-short"),
        pytest.param(raw_envelope(version=[1, 0, 0]), r"version must be", id="version-long"),
        pytest.param(raw_envelope(version=[1, -1]), r"version must be", id="negative-minor"),
        pytest.param(raw_envelope(version=[1.0, 0]), r"version must be", id="float-major"),
        # bool is an int subclass in Python: True must not pass for major 1
        pytest.param(raw_envelope(version=[True, 0]), r"version must be", id="bool-major"),
        pytest.param(raw_envelope(written_at=-1), r"written_at must be an integer and producer a string",
                     id="negative-written-at"),
        pytest.param(raw_envelope(written_at="2026-01-01"), r"written_at must be an integer", id="string-written-at"),
        pytest.param(raw_envelope(written_at=False), r"written_at must be an integer", id="bool-written-at"),
        pytest.param(raw_envelope(producer=b"cli"), r"producer a string", id="bytes-producer"),
        pytest.param(raw_envelope(producer=None), r"producer a string", id="nil-producer"),
    ],
)
def test_decode_refuses_bad_envelopes_with_schema_error(data, message):
    with pytest.raises(SchemaError, match=message) as caught:
        decode(CONFIG, data)
    assert type(caught.value) is SchemaError  # not a VersionError: nothing here is a version mismatch


def test_decode_reads_a_pointer_as_pointer_but_not_as_config():
    data = encode(POINTER, {"key": "k"}, written_at=1, producer="p")
    assert decode(POINTER, data).payload == {"key": "k"}
    with pytest.raises(SchemaError, match="expected schema 'intentedge.config'"):
        decode(CONFIG, data)


def test_decode_ignores_extra_envelope_fields():
    # A newer writer may add envelope fields; this reader must not choke on them.
    data = raw_envelope(signature=b"\x00" * 4)
    assert decode(CONFIG, data).payload == {"slots": {}}


def test_decode_keeps_bytes_and_nil_payloads():
    assert decode(CONFIG, raw_envelope(payload=b"\x00\xff")).payload == b"\x00\xff"
    assert decode(CONFIG, raw_envelope(payload=None)).payload is None


# -- properties ---------------------------------------------------------------------------------
#
# The Worker bundles msgpack's pure-Python modules (no C extension in Pyodide), the jobs use the
# C extension: every property runs against both implementations.

IMPLEMENTATIONS = pytest.mark.parametrize("impl", ["c-extension", "pure-python"])


@contextlib.contextmanager
def msgpack_implementation(impl: str):
    if impl == "c-extension":
        assert msgpack.unpackb is not msgpack.fallback.unpackb
        yield
        return
    pure = types.SimpleNamespace(
        packb=lambda obj, **kw: msgpack.fallback.Packer(**kw).pack(obj),
        unpackb=msgpack.fallback.unpackb,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema, "msgpack", pure)
        yield


@IMPLEMENTATIONS
@PROPERTY
@given(
    payload=payloads,
    written_at=st.integers(min_value=0, max_value=2**64 - 1),
    producer=st.text(),
)
def test_round_trip(impl, payload, written_at, producer):
    with msgpack_implementation(impl):
        data = encode(CONFIG, payload, written_at=written_at, producer=producer)
        envelope = decode(CONFIG, data)
        again = encode(CONFIG, envelope.payload, written_at=envelope.written_at, producer=envelope.producer)

    assert envelope.payload == payload
    assert (envelope.written_at, envelope.producer, envelope.version) == (written_at, producer, (1, 0))
    assert again == data
    # Both implementations write the same bytes, so either side can read the other.
    assert msgpack.packb(msgpack.unpackb(data, raw=False), use_bin_type=True) == data


@IMPLEMENTATIONS
@PROPERTY
@given(data=st.binary(max_size=256))
def test_decode_of_random_bytes_succeeds_or_raises_schema_error(impl, data):
    with msgpack_implementation(impl):
        try:
            decode(CONFIG, data)
        except SchemaError:
            pass


# msgpack values a hostile or buggy writer could store, including near-envelopes.
msgpack_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=3) | st.binary(max_size=3) | st.integers(-3, 3), children, max_size=4),
    max_leaves=15,
)
near_envelopes = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.sampled_from([CONFIG.name, POINTER.name]) | msgpack_values,
        "version": st.lists(st.integers(-2, 3) | st.booleans() | st.floats(-1, 3), max_size=3) | msgpack_values,
        "written_at": st.integers(-5, 2**64 - 1) | msgpack_values,
        "producer": st.text(max_size=5) | msgpack_values,
        "payload": msgpack_values,
    },
)


@IMPLEMENTATIONS
@PROPERTY
@given(value=msgpack_values | near_envelopes)
def test_decode_of_random_msgpack_succeeds_or_raises_schema_error(impl, value):
    data = msgpack.packb(value, use_bin_type=True)
    try:
        with msgpack_implementation(impl):
            envelope = decode(CONFIG, data)
    except SchemaError:
        return
    assert envelope.schema == CONFIG.name and envelope.version[0] == CONFIG.major


# -- digest -----------------------------------------------------------------------------------


def test_digest_is_sha256_of_the_key_sorted_packing():
    expected = hashlib.sha256(msgpack.packb({"a": 1, "b": [{"c": 2, "d": 3}]}, use_bin_type=True)).hexdigest()
    assert digest({"b": [{"d": 3, "c": 2}], "a": 1}) == expected


def test_digest_of_empty_map_is_a_known_value():
    assert digest({}) == hashlib.sha256(b"\x80").hexdigest()


def test_digest_treats_tuples_as_lists():
    # They pack identically, so they must address the same content.
    assert digest({"x": (1, (2, 3))}) == digest({"x": [1, [2, 3]]})


@pytest.mark.parametrize(
    "left, right",
    [
        pytest.param({"a": 1}, {"a": "1"}, id="int-vs-str"),
        pytest.param({"a": b"x"}, {"a": "x"}, id="bytes-vs-str"),
        pytest.param([1, 2], [2, 1], id="list-order-matters"),
        pytest.param({"a": {"b": 1}}, {"a": {"b": 2}}, id="nested-value"),
    ],
)
def test_digest_distinguishes_different_content(left, right):
    assert digest(left) != digest(right)


def _reordered(value, draw_permutation):
    if isinstance(value, dict):
        keys = draw_permutation(list(value))
        return {key: _reordered(value[key], draw_permutation) for key in keys}
    if isinstance(value, list):
        return [_reordered(item, draw_permutation) for item in value]
    return value


@PROPERTY
@given(payload=payloads, data=st.data())
def test_digest_is_stable_under_dict_key_order(payload, data):
    shuffled = _reordered(payload, lambda keys: data.draw(st.permutations(keys)))
    result = digest(shuffled)
    assert result == digest(payload)
    assert len(result) == 64 and set(result) <= set("0123456789abcdef")


def test_floats_survive_bit_for_bit():
    payload = {"neg_zero": -0.0, "tiny": 5e-324, "inf": math.inf}
    decoded = decode(CONFIG, encode(CONFIG, payload, written_at=0, producer="")).payload
    assert decoded == payload
    assert math.copysign(1.0, decoded["neg_zero"]) == -1.0


@pytest.mark.parametrize("payload, written_at, producer", [
    ({1: "a"}, 0, "p"),          # integer map keys: the reader's strict_map_key would refuse them
    ({"a": 1}, -1, "p"),         # negative time
    ({"a": 1}, 0, None),         # producer must be a string
], ids=["int-key", "negative-time", "no-producer"])
def test_encode_refuses_what_decode_would_refuse(payload, written_at, producer):
    with pytest.raises(SchemaError):
        schema.encode(schema.CONFIG, payload, written_at=written_at, producer=producer)


@pytest.mark.parametrize("payload", [{1: "a", "b": 2}, {"a": object()}, {"a": 2**70}],
                         ids=["mixed-keys", "object", "too-big"])
def test_digest_of_unencodable_payload_is_a_schema_error(payload):
    with pytest.raises(SchemaError):
        schema.digest(payload)
