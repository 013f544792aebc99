"""Writing the backend jobs' output to Workers KV, locally or remotely, in bulk and idempotently.

A `KVStore` is anything with three methods:

    put_many(entries, progress=None)   write Entry objects (key, value bytes, optional TTL)
    get(key) -> bytes | None           read one value
    list(prefix) -> iterator           (key, metadata) of every key under prefix, all pages

Two stores implement it: `LocalKV` (wranglerkv.py: the local KV that `wrangler dev`
reads) and `CloudflareKV` (below: the account's namespace through Cloudflare's REST API).
`open_store("local" | "remote")` picks one.

Every entry is written with the metadata {"sha256": <hex of its value>}, so `sync`
can list a prefix (metadata comes with the listing, values do not) and skip the
entries that are already there, byte for byte:

    report = sync(store, entries, prefix="profile/", progress=Console())

`publish_config` writes a config bundle in two steps, the content-addressed bundle
first and the `config/current` pointer last, each skipped when KV already holds it.

Errors:

    KVError
    ├── KVConfigError    the store cannot be set up (missing environment, bad base URL)
    ├── KVRequestError   Cloudflare refused a request (a 4xx other than 429): not retried
    ├── KVUnavailable    429, 5xx or connection failures outlasted every attempt
    ├── WriteFailed      a sync stopped part-way; `.report` says what was written before
    └── WranglerError    wrangler or its local KV failed (wranglerkv.py)
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import os
import random
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TextIO

import click

from intentedge import SchemaError
from intentedge.secret import Secret
from intentedge.contract.bundles import pointer_target, publication

# Cloudflare's limits for one bulk write: pairs and request size; a value may hold up to 25 MiB.
MAX_BULK_ITEMS = 10_000
MAX_BULK_BYTES = 100_000_000
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_KEY_BYTES = 512
MIN_EXPIRATION_TTL = 60

API_BASE_URL = "https://api.cloudflare.com/client/v4"
ENV_ACCOUNT_ID = "CLOUDFLARE_ACCOUNT_ID"
ENV_NAMESPACE_ID = "INTENTEDGE_KV_NAMESPACE_ID"
ENV_API_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_BASE_URL = "CLOUDFLARE_API_BASE_URL"  # the variable wrangler reads for the same purpose


class KVError(Exception):
    """Base class of the errors below."""


class KVConfigError(KVError):
    """A store cannot be set up as asked."""


class KVRequestError(KVError):
    """Cloudflare refused a request with a 4xx other than 429; retrying would not help."""


class KVUnavailable(KVError):
    """Rate limits, server errors or dropped connections outlasted every attempt."""


class WriteFailed(KVError):
    """A sync stopped part-way; `report` holds the plan and what was written before the failure."""

    def __init__(self, message: str, report: Report):
        super().__init__(message)
        self.report = report


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


class Progress(Protocol):
    """What a store reports while it writes."""

    def advance(self, items: int, nbytes: int) -> None: ...

    def retry(self, message: str) -> None: ...


class KVStore(Protocol):
    def put_many(self, entries: Sequence[Entry], progress: Progress | None = None) -> None: ...

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
        item = _bulk_json(entry)
        if 2 + len(item) > max_bytes:
            raise ValueError(f"KV key {entry.key!r}: its bulk item of {len(item)} bytes exceeds the request "
                             f"limit of {max_bytes} bytes")
        grown = size + len(item) + (1 if items else 0)
        if items and (len(items) == max_items or grown > max_bytes):
            yield batch, _bulk_body(items)
            batch, items, size = [], [], 2
            grown = size + len(item)
        batch.append(entry)
        items.append(item)
        size = grown
    if items:
        yield batch, _bulk_body(items)


def _bulk_json(entry: Entry) -> bytes:
    return json.dumps(entry.to_bulk_item(), separators=(",", ":")).encode()


def _bulk_body(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


# -- planning and writing ---------------------------------------------------------------------------


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
        return (f"wrote {self.items} {keys}, {_human_bytes(self.bytes)} in {self.seconds:.2f} s; "
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


# -- what a run prints ------------------------------------------------------------------------------


class Reporter:
    """What a run reports as it goes; this base reports nothing (see Console)."""

    def plan(self, label: str, plan: Plan, *, dry_run: bool) -> None: ...

    def start(self, label: str, items: int, nbytes: int) -> None: ...

    def advance(self, items: int, nbytes: int) -> None: ...

    def retry(self, message: str) -> None: ...

    def finish(self, label: str, summary: Summary) -> None: ...


class Console(Reporter):
    """The plan and the summary on `out`; progress and retries on `err`.

    On a terminal `err` shows click's progress bar; otherwise one plain line per batch.
    A dry run lists every key with its verdict.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, tty: bool | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tty = _isatty(self.err) if tty is None else tty
        self._bar = None
        self._label = ""
        self._total = (0, 0)
        self._done = (0, 0)

    def plan(self, label: str, plan: Plan, *, dry_run: bool) -> None:
        prefix = "would write" if dry_run else "plan"
        click.echo(f"{label}: {prefix} {plan.counts()}", file=self.out)
        if dry_run:
            for line in plan.lines():
                click.echo(f"  {line}", file=self.out)

    def start(self, label: str, items: int, nbytes: int) -> None:
        self._label, self._total, self._done = label, (items, nbytes), (0, 0)
        if self.tty:
            self._bar = click.progressbar(length=items, label=label, file=self.err, show_pos=True)
            self._bar.__enter__()

    def advance(self, items: int, nbytes: int) -> None:
        self._done = (self._done[0] + items, self._done[1] + nbytes)
        if self._bar is not None:
            self._bar.update(items)
        else:
            click.echo(f"{self._label}: {self._done[0]}/{self._total[0]} keys, "
                       f"{_human_bytes(self._done[1])}/{_human_bytes(self._total[1])}", file=self.err)

    def retry(self, message: str) -> None:
        click.echo(("\n" if self._bar is not None else "") + message, file=self.err)

    def finish(self, label: str, summary: Summary) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        click.echo(f"{label}: {summary}", file=self.out)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _human_bytes(count: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


# -- Cloudflare's REST API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits random() * min(cap, base * 2**(n-1)) seconds,
    or what Retry-After asks (up to `max_retry_after`)."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError(f"retry policy needs attempts >= 1 and non-negative delays, found {self}")

    def delay(self, attempt: int, retry_after: float | None, random_: Callable[[], float]) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return random_() * min(self.cap, self.base * 2 ** (attempt - 1))


class CloudflareKV:
    """A Workers KV namespace through Cloudflare's REST API (API token with Workers KV Storage: Edit).

    Bulk writes go out in batches within Cloudflare's limits. 429, 5xx and connection failures
    are retried with backoff (honouring Retry-After) up to `retry.attempts` times per request;
    any other 4xx fails at once. The token stays out of reprs, messages and progress lines.
    """

    def __init__(self, account_id: str, namespace_id: str, token: str | Secret, *,
                 base_url: str = API_BASE_URL, retry: RetryPolicy = RetryPolicy(), timeout: float = 60.0,
                 max_items: int = MAX_BULK_ITEMS, max_bytes: int = MAX_BULK_BYTES,
                 sleep: Callable[[float], None] = time.sleep, random_: Callable[[], float] = random.random,
                 on_retry: Callable[[str], None] | None = None):
        problems = [name for name, value in (("account id", account_id), ("namespace id", namespace_id))
                    if not (isinstance(value, str) and value and value.isprintable() and "/" not in value)]
        if problems:
            raise KVConfigError(f"Cloudflare KV: {' and '.join(problems)} must be a non-empty id without '/', "
                                f"found account id {account_id!r}, namespace id {namespace_id!r}")
        self._token = token if isinstance(token, Secret) else Secret(token)
        if not self._token.reveal():
            raise KVConfigError("Cloudflare KV: the API token is empty")
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise KVConfigError(f"Cloudflare KV: base URL must be an http(s) URL, found {base_url!r}")
        if not 1 <= max_items <= MAX_BULK_ITEMS or not 3 <= max_bytes <= MAX_BULK_BYTES:
            raise KVConfigError(f"Cloudflare KV: batch limits must be within 1..{MAX_BULK_ITEMS} items and "
                                f"3..{MAX_BULK_BYTES} bytes, found {max_items} and {max_bytes}")
        self.account_id = account_id
        self.namespace_id = namespace_id
        self.base_url = base_url.rstrip("/")
        self.retry_policy = retry
        self.timeout = timeout
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._sleep = sleep
        self._random = random_
        self.on_retry = on_retry  # told of retries of reads (writes tell their `progress`)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options) -> CloudflareKV:
        """The namespace named by CLOUDFLARE_ACCOUNT_ID, INTENTEDGE_KV_NAMESPACE_ID and CLOUDFLARE_API_TOKEN
        (CLOUDFLARE_API_BASE_URL overrides the API's address)."""
        environ = os.environ if environ is None else environ
        missing = [name for name in (ENV_ACCOUNT_ID, ENV_NAMESPACE_ID, ENV_API_TOKEN) if not environ.get(name)]
        if missing:
            raise KVConfigError(f"--remote needs {', '.join(missing)} in the environment "
                                "(hint: the token needs the Workers KV Storage: Edit permission)")
        options.setdefault("base_url", environ.get(ENV_BASE_URL) or API_BASE_URL)
        return cls(environ[ENV_ACCOUNT_ID], environ[ENV_NAMESPACE_ID], Secret(environ[ENV_API_TOKEN]), **options)

    def __repr__(self) -> str:
        return (f"CloudflareKV(account_id={self.account_id!r}, namespace_id={self.namespace_id!r}, "
                f"base_url={self.base_url!r}, token={self._token!r})")

    # -- the three operations

    def put_many(self, entries: Sequence[Entry], progress: Progress | None = None) -> None:
        progress = progress or Reporter()
        for batch, body in batches(entries, max_items=self.max_items, max_bytes=self.max_bytes):
            self._put_batch(batch, body, progress)
            progress.advance(len(batch), sum(len(entry.value) for entry in batch))

    def get(self, key: str) -> bytes | None:
        status, body = self._request("GET", "/values/" + urllib.parse.quote(key, safe=""), what=f"read of {key!r}",
                                     absent_ok=True)
        return None if status == 404 else body

    def list(self, prefix: str) -> Iterator[tuple[str, dict | None]]:
        cursor = ""
        while True:
            query = {"prefix": prefix, "limit": "1000", **({"cursor": cursor} if cursor else {})}
            _, body = self._request("GET", "/keys?" + urllib.parse.urlencode(query),
                                    what=f"listing of keys under {prefix!r}")
            page = self._json(body, "listing")
            for item in page.get("result") or []:
                yield item["name"], item.get("metadata")
            cursor = (page.get("result_info") or {}).get("cursor") or ""
            if not cursor:
                return

    # -- one request, with retries

    def _put_batch(self, batch: Sequence[Entry], body: bytes, progress: Progress) -> None:
        """One bulk write; keys Cloudflare reports as unsuccessful are sent again, within the same attempts."""
        attempts = self.retry_policy.attempts
        for attempt in range(1, attempts + 1):
            _, response = self._request("PUT", "/bulk", body=body, what=f"bulk write of {len(batch)} keys",
                                        progress=progress)
            result = self._json(response, "bulk write").get("result")
            failed = set(result.get("unsuccessful_keys") or []) if isinstance(result, dict) else set()
            if not failed:
                return
            batch = [entry for entry in batch if entry.key in failed]
            shown = ", ".join(repr(entry.key) for entry in batch[:3]) + (" ..." if len(batch) > 3 else "")
            reason = f"Cloudflare did not write {len(batch)} keys ({shown})"
            if attempt == attempts:
                raise KVUnavailable(f"bulk write: {reason} after {attempts} attempts")
            delay = self.retry_policy.delay(attempt, None, self._random)
            progress.retry(f"bulk write: {reason}; retrying them in {delay:.1f} s "
                           f"(attempt {attempt + 1} of {attempts})")
            self._sleep(delay)
            body = _bulk_body(_bulk_json(entry) for entry in batch)

    def _request(self, method: str, path: str, *, what: str, body: bytes | None = None,
                 absent_ok: bool = False, progress: Progress | None = None) -> tuple[int, bytes]:
        url = f"{self.base_url}/accounts/{self.account_id}/storage/kv/namespaces/{self.namespace_id}{path}"
        headers = {"Authorization": f"Bearer {self._token.reveal()}", "User-Agent": "intentedge-jobs"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        attempts = self.retry_policy.attempts
        for attempt in range(1, attempts + 1):
            retry_after = None
            try:
                request = urllib.request.Request(url, data=body, method=method, headers=headers)
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, payload = exc.code, _read_quietly(exc)
                if status == 404 and absent_ok:
                    return 404, b""
                if status != 429 and status < 500:
                    raise KVRequestError(f"Cloudflare refused the {what}: HTTP {status}"
                                         f"{self._errors(payload)}{_hint(status)}") from None
                reason = f"HTTP {status}{self._errors(payload)}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = f"connection failed ({self._redact(_describe(exc))})"
                if isinstance(getattr(exc, "reason", exc), ssl.SSLCertVerificationError):
                    raise KVRequestError(f"the {what} failed: {reason}") from None
            if attempt == attempts:
                raise KVUnavailable(f"{what} failed after {attempts} attempts: {reason}")
            delay = self.retry_policy.delay(attempt, retry_after, self._random)
            tell = progress.retry if progress is not None else self.on_retry
            if tell is not None:
                tell(f"{what}: {reason}; retrying in {delay:.1f} s (attempt {attempt + 1} of {attempts})")
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _json(self, body: bytes, what: str) -> dict:
        try:
            page = json.loads(body)
        except ValueError:
            raise KVRequestError(f"Cloudflare's answer to the {what} is not JSON: "
                                 f"{self._redact(repr(body[:100]))}") from None
        if not isinstance(page, dict) or page.get("success") is False:
            raise KVRequestError(f"Cloudflare reports the {what} failed{self._errors(body)}")
        return page

    def _errors(self, payload: bytes) -> str:
        """Cloudflare's error messages from a response body, token removed."""
        try:
            errors = json.loads(payload).get("errors") or []
            text = "; ".join(f"{e.get('message', '?')} [{e.get('code', '?')}]" for e in errors if isinstance(e, dict))
        except (ValueError, AttributeError):
            text = payload[:200].decode("utf-8", "replace").strip()
        return f": {self._redact(text)}" if text else ""

    def _redact(self, text: str) -> str:
        token = self._token.reveal()
        return text.replace(token, "[token]") if token else text


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    return f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _hint(status: int) -> str:
    if status in (401, 403):
        return f" (hint: check {ENV_API_TOKEN}: it needs Workers KV Storage: Edit on the account)"
    if status == 404:
        return f" (hint: check {ENV_ACCOUNT_ID} and {ENV_NAMESPACE_ID})"
    return ""


# -- choosing a store -------------------------------------------------------------------------------------


def open_store(target: str, *, persist_to: Path | None = None, project: Path | None = None,
               environ: Mapping[str, str] | None = None, on_retry: Callable[[str], None] | None = None) -> KVStore:
    """`local`: wrangler's local KV under `persist_to` (default: the project's .wrangler/state);
    `remote`: the namespace named by the environment (see CloudflareKV.from_env), telling
    `on_retry` (for instance `Console().retry`) of each retried read."""
    if target == "remote":
        if persist_to is not None:
            raise KVConfigError("--persist-to only applies to --local")
        return CloudflareKV.from_env(environ, on_retry=on_retry)
    if target == "local":
        from .wranglerkv import LocalKV, find_project  # wranglerkv imports this module

        return LocalKV(project or find_project(), persist_to)
    raise KVConfigError(f"target must be 'local' or 'remote', found {target!r}")

