"""`intentedge inspect KEY`: read one KV key, locally or remotely, and print it as readable JSON.

An envelope prints as its schema, version, written_at (ISO 8601, UTC), producer and
payload (bytes as base64); a pointer also says which key it names. Bytes that are not
an envelope of a known schema fail with the key and the reason (exit 1).
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from pathlib import Path
from typing import Any

import click
import msgpack

from intentedge import SchemaError
from intentedge.contract import schema
from intentedge.contract import pointer_target

from .kv.cloudflare import CloudflareKV
from .kv.errors import KVError
from .kv.targets import open_store


def known_schemas() -> dict[str, schema.Schema]:
    """Every schema the schema module declares, by name."""
    return {value.name: value for value in vars(schema).values() if isinstance(value, schema.Schema)}


def describe(key: str, data: bytes) -> dict:
    """The readable form of the value at `key`; SchemaError when it is not an envelope we can read."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises many unrelated types for garbage input
        raise SchemaError(f"not msgpack ({type(exc).__name__}: {exc})") from None
    name = raw.get("schema") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        found = f"a {type(raw).__name__}" if not isinstance(raw, dict) else "a map without a 'schema' string"
        raise SchemaError(f"not an intentedge envelope: msgpack {found}")
    schemas = known_schemas()
    if name not in schemas:
        raise SchemaError(f"unknown schema {name!r} (known: {', '.join(sorted(schemas))})")
    envelope = schema.decode(schemas[name], data)
    doc = {
        "key": key,
        "bytes": len(data),
        "schema": envelope.schema,
        "version": f"{envelope.version[0]}.{envelope.version[1]}",
        "written_at": _iso(envelope.written_at),
        "producer": envelope.producer,
    }
    if schemas[name] == schema.POINTER:
        doc["names"] = pointer_target(data)
    doc["payload"] = to_json(envelope.payload)
    return doc


def to_json(value: Any) -> Any:
    """Decoded msgpack as JSON-ready data: bytes become base64 text."""
    if isinstance(value, dict):
        return {_json_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().isoformat().replace("+00:00", "Z")
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "data": base64.b64encode(value.data).decode("ascii")}
    return repr(value)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (bytes, bytearray)):
        return base64.b64encode(key).decode("ascii")
    return json.dumps(to_json(key))


def _iso(seconds: int) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(seconds)
    return moment.isoformat().replace("+00:00", "Z")


def _where(store: object) -> str:
    if isinstance(store, CloudflareKV):
        return f"namespace {store.namespace_id}"
    return f"local KV at {getattr(store, 'persist_to', '?')}"


@click.command("inspect")
@click.argument("key")
@click.option("--local", "target", flag_value="local",
              help="Read the local KV that `wrangler dev` reads (the default).")
@click.option("--remote", "target", flag_value="remote",
              help="Read the namespace named by CLOUDFLARE_ACCOUNT_ID and INTENTEDGE_KV_NAMESPACE_ID "
                   "through Cloudflare's API (token: CLOUDFLARE_API_TOKEN).")
@click.option("--persist-to", type=click.Path(path_type=Path, file_okay=False),
              help="wrangler's local state folder (default: the project's .wrangler/state).")
def inspect(key: str, target: str | None, persist_to: Path | None) -> None:
    """Print the value of KEY as JSON: schema, version, written_at, producer and payload."""
    if target == "remote" and persist_to is not None:
        raise click.UsageError("--persist-to only applies to --local")
    try:
        store = open_store(target or "local", persist_to=persist_to)
        data = store.get(key)
    except KVError as exc:
        raise click.ClickException(str(exc)) from None
    if data is None:
        raise click.ClickException(f"key {key!r} not found in {_where(store)}")
    try:
        doc = describe(key, data)
    except SchemaError as exc:
        raise click.ClickException(f"key {key!r} ({len(data)} bytes) cannot be read: {exc}") from None
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
