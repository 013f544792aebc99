"""The versioned msgpack envelope shared by the backend jobs (writers) and the Worker (reader).

An envelope is a msgpack map:

    {"schema": "intentedge.config", "version": [1, 0], "written_at": 1790000000,
     "producer": "intentedge-cli/0.1.0", "payload": {...}}

A reader accepts its own major version with any minor (newer minors only add fields,
which readers ignore) and refuses any other major with a VersionError.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgpack

from intentedge.errors import SchemaError, VersionError

_FIELDS = ("schema", "version", "written_at", "producer", "payload")


@dataclass(frozen=True)
class Schema:
    name: str
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.name} v{self.major}.{self.minor}"


CONFIG = Schema("intentedge.config", 1, 0)
POINTER = Schema("intentedge.pointer", 1, 0)
PROFILE = Schema("intentedge.profile", 1, 0)


@dataclass(frozen=True)
class Envelope:
    schema: str
    version: tuple[int, int]
    written_at: int
    producer: str
    payload: Any


def encode(schema: Schema, payload: Any, *, written_at: int, producer: str) -> bytes:
    """Wrap `payload` in an envelope of `schema` and pack it."""
    envelope = {
        "schema": schema.name,
        "version": [schema.major, schema.minor],
        "written_at": int(written_at),
        "producer": producer,
        "payload": payload,
    }
    try:
        data = msgpack.packb(envelope, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"{schema}: payload cannot be encoded: {exc}") from None
    decode(schema, data)  # a writer never publishes what the reader would refuse
    return data


def decode(schema: Schema, data: bytes) -> Envelope:
    """Unpack and check an envelope of `schema`; raise SchemaError for anything else."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many unrelated types for garbage input
        raise SchemaError(f"{schema.name}: not msgpack ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise SchemaError(f"{schema.name}: envelope is a {type(raw).__name__}, expected a map")
    missing = [field for field in _FIELDS if field not in raw]
    if missing:
        raise SchemaError(f"{schema.name}: envelope lacks {', '.join(missing)}")
    if raw["schema"] != schema.name:
        raise SchemaError(f"expected schema {schema.name!r}, found {raw['schema']!r}")
    version = raw["version"]
    if not (isinstance(version, list) and len(version) == 2 and all(_is_uint(v) for v in version)):
        raise SchemaError(f"{schema.name}: version must be [major, minor], found {version!r}")
    if version[0] != schema.major:
        raise VersionError(
            f"{schema.name}: major version {version[0]} cannot be read by a v{schema.major} reader"
        )
    if not _is_uint(raw["written_at"]) or not isinstance(raw["producer"], str):
        raise SchemaError(f"{schema.name}: written_at must be an integer and producer a string")
    return Envelope(raw["schema"], (version[0], version[1]), raw["written_at"], raw["producer"], raw["payload"])


def digest(payload: Any) -> str:
    """A content address for `payload`: the SHA-256 of its canonical msgpack encoding."""
    try:
        return hashlib.sha256(msgpack.packb(_canonical(payload), use_bin_type=True)).hexdigest()
    except (TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"payload cannot be encoded: {exc}") from None


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
