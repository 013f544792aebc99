"""What every KV store is: the KVStore protocol, the Entry it writes, and bulk batches within Cloudflare's limits.

A `KVStore` is anything with three methods:

    put_many(entries, progress=None)   write Entry objects (key, value bytes, optional TTL)
    get(key) -> bytes | None           read one value
    list(prefix) -> iterator           (key, metadata) of every key under prefix, all pages

Two stores implement it: `LocalKV` (local.py: the local KV that `wrangler dev` reads) and
`CloudflareKV` (cloudflare.py: the account's namespace through Cloudflare's REST API).

Every entry is written with the metadata {"sha256": <hex of its value>}, so a sync can list a
prefix (metadata comes with the listing, values do not) and skip the entries already there.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Protocol, Sequence

# Cloudflare's limits for one bulk write: pairs and request size; a value may hold up to 25 MiB.
MAX_BULK_ITEMS = 10_000
MAX_BULK_BYTES = 100_000_000
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_KEY_BYTES = 512
MIN_EXPIRATION_TTL = 60


@dataclass(frozen=True)
class Entry:
    """One key to write: its value bytes, an optional TTL, and the metadata that identifies the value."""

    key: str
    value: bytes
    expiration_ttl: int | None = None
    sha256: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key or self.key in (".", ".."):
            raise ValueError(f"KV key must be a non-empty string other than '.' and '..', found {self.key!r}")
        if len(self.key.encode()) > MAX_KEY_BYTES:
            raise ValueError(f"KV key {self.key[:40]!r}...: longer than {MAX_KEY_BYTES} bytes")
        if not isinstance(self.value, (bytes, bytearray, memoryview)):
            raise ValueError(f"KV key {self.key!r}: value must be bytes, found {type(self.value).__name__}")
        if len(self.value) > MAX_VALUE_BYTES:
            raise ValueError(f"KV key {self.key!r}: value of {len(self.value)} bytes exceeds KV's 25 MiB")
        ttl = self.expiration_ttl
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < MIN_EXPIRATION_TTL):
            raise ValueError(f"KV key {self.key!r}: expiration_ttl must be an integer >= {MIN_EXPIRATION_TTL} "
                             f"seconds, found {ttl!r}")
        object.__setattr__(self, "value", bytes(self.value))
        object.__setattr__(self, "sha256", hashlib.sha256(self.value).hexdigest())

    @property
    def metadata(self) -> dict:
        return {"sha256": self.sha256}

    def to_bulk_item(self) -> dict:
        """The JSON object of this entry in a bulk write (Cloudflare's REST API and `wrangler kv bulk put`)."""
        item = {"key": self.key, "value": base64.b64encode(self.value).decode("ascii"), "base64": True,
                "metadata": self.metadata}
        if self.expiration_ttl is not None:
            item["expiration_ttl"] = self.expiration_ttl
        return item


class WriteProgress(Protocol):
    """What a store reports while it writes."""

    def advance(self, items: int, nbytes: int) -> None: ...

    def retry(self, message: str) -> None: ...


class KVStore(Protocol):
    def put_many(self, entries: Sequence[Entry], progress: WriteProgress | None = None) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def list(self, prefix: str) -> Iterator[tuple[str, dict | None]]: ...


def batches(entries: Sequence[Entry], *, max_items: int = MAX_BULK_ITEMS,
            max_bytes: int = MAX_BULK_BYTES) -> Iterator[tuple[list[Entry], bytes]]:
    """Consecutive runs of `entries` with their JSON bulk body, each within both limits, order kept."""
    if max_items < 1 or max_bytes < 3:
        raise ValueError(f"batch limits must allow one item, found max_items={max_items}, max_bytes={max_bytes}")
    batch: list[Entry] = []
    items: list[bytes] = []
    size = 2  # the brackets; each item adds its length plus a comma after the first
    for entry in entries:
        item = bulk_json(entry)
        if 2 + len(item) > max_bytes:
            raise ValueError(f"KV key {entry.key!r}: its bulk item of {len(item)} bytes exceeds the request "
                             f"limit of {max_bytes} bytes")
        grown = size + len(item) + (1 if items else 0)
        if items and (len(items) == max_items or grown > max_bytes):
            yield batch, bulk_body(items)
            batch, items, size = [], [], 2
            grown = size + len(item)
        batch.append(entry)
        items.append(item)
        size = grown
    if items:
        yield batch, bulk_body(items)


def bulk_json(entry: Entry) -> bytes:
    return json.dumps(entry.to_bulk_item(), separators=(",", ":")).encode()


def bulk_body(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"
