"""`intentedge build-profiles`: fold an events file into visitor profiles, ready to publish to KV.

    intentedge build-profiles events.jsonl.gz --config demo/config.toml --out profiles.jsonl

Input: JSON Lines (gzip if the name ends in .gz), one batch per line:

    {"userId": "...", "sessionId": "...", "events": [{"type": "page_view", "url": "/products/x/",
     "productId": "x", "quantity": 1, "value": 249.0, "timestamp": 1790000000}, ...]}

Output: JSON Lines, one profile per line, sorted by key, for `publish` to send as-is:

    {"key": "profile/<32 hex>", "value_b64": "<profile envelope>", "expiration_ttl": 2592000}

Memory stays bounded however large the input. Pass 1 streams the file line by line
(a line over MAX_LINE_BYTES is never held whole), validates each batch and appends it,
msgpack-packed, to one of N spill files in a temporary folder, chosen by the visitor's
profile key (in-memory buffers of SPILL_BUFFER_BYTES in all, so no file stays open).
Pass 2 folds one spill file at a time (intentedge.fold: a bounded partial per visitor)
and writes its profiles. Spill files are range partitions of the key, so the output
is sorted without sorting the whole, and N grows with the input (one per
PARTITION_INPUT_BYTES of JSON, up to MAX_PARTITIONS), so a partition's visitors fit in
memory. Raw ids never leave pass 1: spill files carry the salted key and a 64-bit hash
of the session id, never a user id, a session id or a search query.

A malformed line (bad JSON, wrong shape or types, hostile values) is counted under its
reason with its line number and skipped; it never stops the run nor touches another
visitor's profile. With the same input, config, salt and --written-at, two runs write
identical bytes.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import tempfile
import time
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, TextIO

import click
import msgpack

from intentedge import Bundle, ConfigError, __version__
from intentedge.contract import schema
from intentedge.events import fold as bounds
from intentedge.events.fold import (Clamps, EventError, Folder, batch_from_json, clamps, merge, profile_from_partial,
                                     session_tag)
from intentedge.contract import PROFILE_PREFIX, profile_key
from intentedge.profile import profile_to_payload

from .configfile import read_config_file
from .cookies import dev_vars
from .kv.errors import WranglerError
from .progress import Progress
from .wrangler import find_project

PRODUCER = f"intentedge-cli/{__version__}"
DEFAULT_TTL = 30 * 24 * 3600
MIN_TTL = 60                          # KV's minimum expiration_ttl
MAX_LINE_BYTES = 1 << 20              # a longer line is malformed ("too_long") and never held whole
REPORTED_LINES = 20                   # line numbers kept per reason
REPORTED_TYPES = 20                   # unknown event types named in the report; the rest are "(other)"
PARTITION_INPUT_BYTES = 16 << 20      # JSON per spill partition (pass 2 holds one partition's visitors)
GZIP_RATIO = 8                        # a guess of JSON Lines' gzip ratio, to size partitions
MAX_PARTITIONS = 4096                 # 64 GB of JSON at 16 MB each; past that partitions grow
_KEY_CACHE = 4096                     # visitor id -> profile key and partition, for runs of one visitor's batches
SPILL_BUFFER_BYTES = 16 << 20         # spill data held in memory before it is appended, all partitions


@dataclass
class Report:
    """What a run read, skipped and wrote."""

    source: str
    lines: int = 0
    blank: int = 0
    batches: int = 0
    events: int = 0
    unknown_events: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, list] = field(default_factory=dict)   # reason -> [count, first line numbers]
    visitors: int = 0
    partitions: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    clamps: Clamps = Clamps(0, 0)   # what the fold's bounds kept out of the profiles (a flood's forged events)

    @property
    def malformed_lines(self) -> int:
        return sum(count for count, _ in self.malformed.values())

    def bad_line(self, reason: str, line: int) -> None:
        entry = self.malformed.setdefault(reason, [0, []])
        entry[0] += 1
        if len(entry[1]) < REPORTED_LINES:
            entry[1].append(line)

    def unknown(self, types: list[str]) -> None:
        self.unknown_events += len(types)
        for name in types:
            if name not in self.unknown_types and len(self.unknown_types) >= REPORTED_TYPES:
                name = "(other)"
            self.unknown_types[name] = self.unknown_types.get(name, 0) + 1

    def to_json(self) -> dict:
        return {
            "source": self.source, "lines": self.lines, "blank_lines": self.blank, "batches": self.batches,
            "events": self.events, "unknown_events": self.unknown_events, "unknown_types": self.unknown_types,
            "malformed": {reason: {"count": count, "lines": lines}
                          for reason, (count, lines) in sorted(self.malformed.items())},
            "visitors": self.visitors, "partitions": self.partitions, "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written, "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
            "bounded": {"purchases": self.clamps.purchases, "carts": self.clamps.carts},
        }

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def summary(self, out: Path) -> list[str]:
        lines = [
            f"build-profiles: {self.source} -> {out}",
            f"  read     {self.lines:,} lines ({self.bytes_read:,} bytes of JSON): {self.batches:,} batches, "
            f"{self.events:,} events",
        ]
        if self.unknown_events:
            names = ", ".join(f"{name} {count:,}" for name, count in
                              sorted(self.unknown_types.items(), key=lambda item: (-item[1], item[0])))
            lines.append(f"  ignored  {self.unknown_events:,} events of unknown types ({names})")
        if self.malformed:
            lines.append(f"  skipped  {self.malformed_lines:,} malformed lines:")
            for reason, (count, numbers) in sorted(self.malformed.items()):
                more = ", ..." if count > len(numbers) else ""
                lines.append(f"    {reason}: {count:,} (lines {', '.join(map(str, numbers))}{more})")
        if any(self.clamps):
            lines.append(f"  bounded  {self.clamps.purchases:,} purchases not counted (over "
                         f"{bounds.MAX_LINE_PURCHASES} a line or {bounds.MAX_DAILY_PURCHASES} a visitor a day), "
                         f"{self.clamps.carts:,} carts cut to {bounds.MAX_CART_VALUE:,} or "
                         f"{bounds.MAX_CART_ITEMS:,} items")
        lines.append(f"  wrote    {self.visitors:,} profiles, {self.bytes_written:,} bytes "
                     f"({self.partitions} partition{'s' if self.partitions != 1 else ''})")
        lines.append(f"  took     {self.seconds:.2f} s: {self.events_per_second:,.0f} events/s")
        return lines


class BuildError(Exception):
    """The run cannot go on: the input cannot be read or the output cannot be written."""


def build(source: Path, out: Path, *, bundle: Bundle, salt: bytes, written_at: int, ttl: int = DEFAULT_TTL,
          partitions: int | None = None, tmp_dir: Path | None = None, progress_file: TextIO | None = None,
          clock: Callable[[], float] = time.perf_counter) -> Report:
    """Read `source`, write the profiles of `bundle`'s page signals and products to `out` (atomically),
    return the report. BuildError on I/O failures.

    Progress goes to `progress_file` (default: stderr) as one bar: reading the input is its first
    half, folding the partitions the second (see progress.py for what a non-terminal gets)."""
    if not salt:
        raise BuildError("the profile salt is empty")
    started = clock()
    report = Report(str(source))
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise BuildError(f"{source}: cannot be read: {exc.strerror or exc}") from None
    gzipped = source.name.endswith(".gz")
    if partitions is None:
        partitions = _partitions_for(size * (GZIP_RATIO if gzipped else 1))
    report.partitions = partitions
    folder = Folder(bundle.signals, bundle.products)
    partial_out = out.with_name(out.name + ".partial")     # renamed to `out` once complete
    with ExitStack() as stack:
        progress = stack.enter_context(Progress(2 * max(size, 1), label="build-profiles", file=progress_file))
        try:
            sink = stack.enter_context(open(partial_out, "w", encoding="ascii", newline="\n"))
            spill_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="intentedge-profiles-",
                                                                            dir=tmp_dir)))
        except OSError as exc:
            raise BuildError(f"{exc.filename or out}: cannot be written: {exc.strerror or exc}") from None
        stack.callback(partial_out.unlink, missing_ok=True)
        spills = [spill_dir / f"part-{index:04d}.msgpack" for index in range(partitions)]
        _spill(source, gzipped, size, spills, salt, report, progress)
        try:
            for index, spill in enumerate(spills):
                progress.update(size + size * index // partitions,
                                f"build-profiles: folding partition {index + 1} of {partitions}")
                _fold_partition(spill, sink, folder, written_at, ttl, report)
                spill.unlink()
            sink.close()
            os.replace(partial_out, out)
        except OSError as exc:
            raise BuildError(f"{out}: cannot be written: {exc.strerror or exc}") from None
        progress.update(progress.length)
    report.bytes_written = out.stat().st_size
    report.seconds = clock() - started
    return report


def read_profiles(path: Path) -> Iterator[tuple[str, bytes, int]]:
    """(key, envelope bytes, expiration TTL) of every line of a build-profiles output file."""
    with open(path, encoding="ascii") as lines:
        for line in lines:
            item = json.loads(line)
            yield item["key"], base64.b64decode(item["value_b64"]), item["expiration_ttl"]


def _partitions_for(json_bytes: int) -> int:
    return max(1, min(MAX_PARTITIONS, math.ceil(json_bytes / PARTITION_INPUT_BYTES)))


def _open_input(source: Path, gzipped: bool, stack: ExitStack) -> tuple[BinaryIO, BinaryIO]:
    """(the decoded stream, the file under it, whose position tells the progress)."""
    try:
        raw = stack.enter_context(open(source, "rb"))
    except OSError as exc:
        raise BuildError(f"{source}: cannot be read: {exc.strerror or exc}") from None
    return (stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")) if gzipped else raw), raw


def _spill(source: Path, gzipped: bool, size: int, spills: list[Path], salt: bytes, report: Report,
           progress: Progress) -> None:
    """Pass 1: validate every line and append each batch to the spill file of its visitor's key."""
    n = len(spills)
    keys: dict[str, tuple[str, int]] = {}
    loads, pack, from_json, tag_of = json.JSONDecoder().decode, msgpack.Packer().pack, batch_from_json, session_tag
    line_no = nbytes = batches = events = 0
    with ExitStack() as stack:
        stream, raw = _open_input(source, gzipped, stack)
        buffers = [bytearray() for _ in spills]       # appended to their files when full: no file stays open
        flush_at = max(8192, SPILL_BUFFER_BYTES // n)
        readline = stream.readline
        try:
            while True:
                line = readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                line_no += 1
                nbytes += len(line)
                if not line_no & 0xFFF:
                    _reading(progress, raw.tell(), size, events)
                if len(line) > MAX_LINE_BYTES and line[-1] != 0x0A:
                    nbytes += _skip_rest(readline)
                    report.bad_line("too_long", line_no)
                    continue
                try:
                    batch = from_json(loads(line.decode()))
                except EventError as exc:
                    report.bad_line(exc.reason, line_no)
                    continue
                except (ValueError, RecursionError):    # JSON, encoding, 4300+ digit numbers, deep nesting
                    if line.isspace():
                        report.blank += 1
                    else:
                        report.bad_line("json", line_no)
                    continue
                if batch.unknown:
                    report.unknown(batch.unknown)
                batches += 1
                if not batch.events:
                    continue
                events += len(batch.events)
                found = keys.get(batch.visitor_id)
                if found is None:
                    if len(keys) >= _KEY_CACHE:
                        keys.clear()
                    key = profile_key(batch.visitor_id, salt)
                    found = keys[batch.visitor_id] = (key, int(key[len(PROFILE_PREFIX):][:8], 16) * n >> 32)
                buffer = buffers[found[1]]
                buffer += pack((found[0], tag_of(batch.session_id), batch.events))
                if len(buffer) >= flush_at:
                    _append(spills[found[1]], buffer)
        except (OSError, EOFError, zlib.error) as exc:     # a damaged gzip stream, a failing disk
            raise BuildError(f"{source}: cannot be read after line {line_no}: {exc}") from None
    for spill, buffer in zip(spills, buffers):
        _append(spill, buffer)
    report.lines, report.bytes_read, report.batches, report.events = line_no, nbytes, batches, events
    _reading(progress, size, size, events)


def _reading(progress: Progress, position: int, size: int, events: int) -> None:
    share = f" ({100 * position / size:.0f} %)" if size else ""
    progress.update(position, f"build-profiles: read {position:,} of {size:,} bytes{share}, {events:,} events")


def _append(spill: Path, buffer: bytearray) -> None:
    try:
        with open(spill, "ab") as file:
            file.write(buffer)
    except OSError as exc:
        raise BuildError(f"{spill}: cannot be written: {exc.strerror or exc}") from None
    buffer.clear()


def _skip_rest(readline: Callable[[int], bytes]) -> int:
    skipped = 0
    while True:
        chunk = readline(MAX_LINE_BYTES)
        skipped += len(chunk)
        if not chunk or chunk[-1] == 0x0A:
            return skipped


def _fold_partition(spill: Path, sink: TextIO, folder: Folder, written_at: int, ttl: int, report: Report) -> None:
    """Pass 2 for one partition: fold its batches per visitor, write its profiles sorted by key."""
    partials: dict = {}
    fold = folder.fold
    with open(spill, "rb") as data:
        for key, tag, events in msgpack.Unpacker(data, use_list=False, raw=False):
            partial = fold(tag, events)
            previous = partials.get(key)
            partials[key] = partial if previous is None else merge(previous, partial)
    lines = []
    for key in sorted(partials):
        partial = partials.pop(key)
        report.clamps += clamps(partial)
        profile = profile_from_partial(partial, updated_at=written_at)
        value = schema.encode(schema.PROFILE, profile_to_payload(profile), written_at=written_at, producer=PRODUCER)
        lines.append(f'{{"key":"{key}","value_b64":"{base64.b64encode(value).decode()}","expiration_ttl":{ttl}}}\n')
    sink.writelines(lines)
    report.visitors += len(lines)


def _salt(option: str | None) -> bytes:
    salt = option or os.environ.get("PROFILE_SALT")
    if not salt:
        try:
            salt = dev_vars(find_project()).get("PROFILE_SALT")
        except (WranglerError, OSError):
            salt = None
    if not salt:
        raise click.ClickException(
            "no profile salt: pass --salt, set $PROFILE_SALT, or add it to the project's .dev.vars")
    return salt.encode()


def _bundle(config: Path) -> Bundle:
    try:
        return read_config_file(config).bundle
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("build-profiles")
@click.argument("events", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--config", "config", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The site's config (TOML): its page signals map urls to stages and categories.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Output: JSON Lines of {key, value_b64, expiration_ttl}, sorted by key.")
@click.option("--salt", help="PROFILE_SALT that keys profiles; default: $PROFILE_SALT, then .dev.vars.")
@click.option("--ttl", default=DEFAULT_TTL, show_default=True, type=click.IntRange(min=MIN_TTL),
              help="Seconds until KV expires a profile that is not rewritten.")
@click.option("--written-at", type=click.IntRange(min=0),
              help="Epoch seconds for updated_at and the envelopes (default: now); fix it for reproducible output.")
@click.option("--partitions", type=click.IntRange(1, MAX_PARTITIONS),
              help=f"Spill files (default: one per {PARTITION_INPUT_BYTES >> 20} MB of JSON).")
@click.option("--tmp-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where spill files go (default: the system's temporary folder).")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the summary as JSON to this file.")
def build_profiles(events: Path, config: Path, out: Path, salt: str | None, ttl: int, written_at: int | None,
                   partitions: int | None, tmp_dir: Path | None, report_path: Path | None) -> None:
    """Fold the event batches of EVENTS (JSON Lines, .gz too) into visitor profiles for KV."""
    bundle = _bundle(config)
    salt_bytes = _salt(salt)
    try:
        report = build(events, out, bundle=bundle, salt=salt_bytes,
                       written_at=int(time.time()) if written_at is None else written_at, ttl=ttl,
                       partitions=partitions, tmp_dir=tmp_dir)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.summary(out):
        click.echo(line)
    if report_path is not None:
        try:
            report_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"{report_path}: cannot be written: {exc.strerror or exc}") from None
