"""Writing entries to a store so that it ends up holding them, byte for byte, writing only what differs.

    report = sync(store, entries, prefix="profile/", progress=Console())

`sync` lists the prefix (with each key's sha256 metadata, see store.py) and writes only the
entries KV lacks or holds with other bytes. `publish_config` writes a config bundle in two steps,
the content-addressed bundle first and the `config/current` pointer last, each skipped when KV
already holds it. A run tells a `Reporter` what it plans and does (console.py prints it).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from intentedge import SchemaError
from intentedge.contract import pointer_target, publication

from .errors import KVError, WriteFailed
from .store import Entry, KVStore


@dataclass
class Plan:
    """Which entries a run writes (new, changed) and which it skips (unchanged)."""

    new: list[Entry] = field(default_factory=list)
    changed: list[Entry] = field(default_factory=list)
    unchanged: list[Entry] = field(default_factory=list)

    @property
    def writes(self) -> list[Entry]:
        return self.new + self.changed

    def counts(self) -> str:
        return f"{len(self.new)} new, {len(self.changed)} changed, {len(self.unchanged)} unchanged"

    def lines(self) -> Iterator[str]:
        """One line per key: what the run does with it."""
        for verdict, entries in (("new", self.new), ("changed", self.changed), ("unchanged", self.unchanged)):
            for entry in entries:
                yield f"{verdict:<9} {entry.key} ({len(entry.value)} bytes)"


@dataclass
class Summary:
    items: int = 0
    bytes: int = 0
    seconds: float = 0.0
    errors: int = 0
    retries: int = 0

    def __str__(self) -> str:
        keys = "key" if self.items == 1 else "keys"
        return (f"wrote {self.items} {keys}, {human_bytes(self.bytes)} in {self.seconds:.2f} s; "
                f"{self.errors} error{'' if self.errors == 1 else 's'}, "
                f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}")


@dataclass
class Report:
    label: str
    plan: Plan
    summary: Summary
    dry_run: bool = False


def plan(store: KVStore, entries: Iterable[Entry], *, prefix: str | None = None) -> Plan:
    """Compare `entries` with what KV holds under `prefix` (default: the keys' common prefix)."""
    entries = list(entries)
    _refuse_duplicates(entries)
    result = Plan()
    if not entries:
        return result
    if prefix is None:
        prefix = os.path.commonprefix([entry.key for entry in entries])
    elif not all(entry.key.startswith(prefix) for entry in entries):
        outside = next(entry.key for entry in entries if not entry.key.startswith(prefix))
        raise ValueError(f"key {outside!r} is not under the prefix {prefix!r}")
    existing = dict(store.list(prefix))
    for entry in entries:
        if entry.key not in existing:
            result.new.append(entry)
        elif _listed_sha256(existing[entry.key]) == entry.sha256:
            result.unchanged.append(entry)
        else:
            result.changed.append(entry)
    return result


def sync(store: KVStore, entries: Iterable[Entry], *, prefix: str | None = None, dry_run: bool = False,
         progress: Reporter | None = None, label: str | None = None,
         clock: Callable[[], float] = time.monotonic) -> Report:
    """Write the entries KV lacks or holds with other bytes; skip the rest. Nothing is written on a dry run."""
    started = clock()
    entries = list(entries)
    the_plan = plan(store, entries, prefix=prefix)
    if label is None:
        common = prefix if prefix is not None else os.path.commonprefix([entry.key for entry in entries])
        label = common[:common.rfind("/") + 1] or "keys"  # "profile/", not "profile/0000"
    return _execute(store, label, the_plan, started=started, dry_run=dry_run, progress=progress, clock=clock)


def publish_config(store: KVStore, config: dict, *, written_at: int, producer: str, dry_run: bool = False,
                   progress: Reporter | None = None,
                   clock: Callable[[], float] = time.monotonic) -> list[Report]:
    """Publish a validated config: the content-addressed bundle, then the pointer, in two separate writes.

    The bundle is skipped when its key exists (its name is the digest of its content) and the
    pointer when it already names that bundle, so publishing the same config twice writes nothing.
    """
    started = clock()
    (bundle_key, bundle), (pointer_key, pointer) = publication(config, written_at=written_at, producer=producer)
    bundle_entry, pointer_entry = Entry(bundle_key, bundle), Entry(pointer_key, pointer)

    bundle_plan = Plan()
    exists = any(key == bundle_key for key, _ in store.list(bundle_key))
    (bundle_plan.unchanged if exists else bundle_plan.new).append(bundle_entry)

    pointer_plan = Plan()
    current = store.get(pointer_key)
    if current is None:
        pointer_plan.new.append(pointer_entry)
    elif _names(current) == bundle_key:
        pointer_plan.unchanged.append(pointer_entry)
    else:
        pointer_plan.changed.append(pointer_entry)

    options = {"dry_run": dry_run, "progress": progress, "clock": clock}
    reports = [_execute(store, "config bundle", bundle_plan, started=started, **options)]
    reports.append(_execute(store, "config pointer", pointer_plan, started=clock(), **options))
    return reports


def _execute(store: KVStore, label: str, the_plan: Plan, *, started: float, dry_run: bool,
             progress: Reporter | None, clock: Callable[[], float]) -> Report:
    """Write what the plan says, reporting as it goes; the summary's seconds count from `started`."""
    console = progress or Reporter()
    console.plan(label, the_plan, dry_run=dry_run)
    report = Report(label, the_plan, Summary(), dry_run)
    if dry_run:
        return report
    writes = the_plan.writes
    if writes:
        console.start(label, len(writes), sum(len(entry.value) for entry in writes))
        try:
            store.put_many(writes, _Tally(console, report.summary))
        except KVError as exc:
            report.summary.errors += 1
            report.summary.seconds = clock() - started
            console.finish(label, report.summary)
            raise WriteFailed(f"{label}: {exc} (wrote {report.summary.items} of {len(writes)} keys before the "
                              "failure; run again to write the rest)", report) from None
    report.summary.seconds = clock() - started
    console.finish(label, report.summary)
    return report


class _Tally:
    """Counts what the store reports into the summary and passes it on to the console."""

    def __init__(self, console: Reporter, summary: Summary):
        self.console = console
        self.summary = summary

    def advance(self, items: int, nbytes: int) -> None:
        self.summary.items += items
        self.summary.bytes += nbytes
        self.console.advance(items, nbytes)

    def retry(self, message: str) -> None:
        self.summary.retries += 1
        self.console.retry(message)


def _listed_sha256(metadata: object) -> str | None:
    return metadata.get("sha256") if isinstance(metadata, dict) else None


def _names(pointer: bytes) -> str | None:
    try:
        return pointer_target(pointer)
    except SchemaError:
        return None  # an unreadable pointer is replaced


def _refuse_duplicates(entries: list[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            raise ValueError(f"key {entry.key!r} appears twice in one write")
        seen.add(entry.key)


class Reporter:
    """What a run reports as it goes; this base reports nothing (console.Console prints it)."""

    def plan(self, label: str, plan: Plan, *, dry_run: bool) -> None: ...

    def start(self, label: str, items: int, nbytes: int) -> None: ...

    def advance(self, items: int, nbytes: int) -> None: ...

    def retry(self, message: str) -> None: ...

    def finish(self, label: str, summary: Summary) -> None: ...


def human_bytes(count: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")
