"""CloudflareKV: a Workers KV namespace through Cloudflare's REST API, in bulk, with retries.

    store = CloudflareKV.from_env()        # CLOUDFLARE_ACCOUNT_ID, INTENTEDGE_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN

It sends every request through a transport (transport.py): urllib's by default, a fake in tests.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

from intentedge.secret import Secret

from .errors import KVConfigError, KVRequestError, KVUnavailable
from .store import MAX_BULK_BYTES, MAX_BULK_ITEMS, Entry, WriteProgress, batches, bulk_body, bulk_json
from .transport import Request, Response, Transport, TransportError, urllib_transport

API_BASE_URL = "https://api.cloudflare.com/client/v4"
ENV_ACCOUNT_ID = "CLOUDFLARE_ACCOUNT_ID"
ENV_NAMESPACE_ID = "INTENTEDGE_KV_NAMESPACE_ID"
ENV_API_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_BASE_URL = "CLOUDFLARE_API_BASE_URL"  # the variable wrangler reads for the same purpose


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
    `transport` sends each request (default: urllib_transport).
    """

    def __init__(self, account_id: str, namespace_id: str, token: str | Secret, *,
                 base_url: str = API_BASE_URL, retry: RetryPolicy = RetryPolicy(), timeout: float = 60.0,
                 max_items: int = MAX_BULK_ITEMS, max_bytes: int = MAX_BULK_BYTES,
                 transport: Transport | None = None,
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
        self._transport = transport if transport is not None else urllib_transport
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

    def put_many(self, entries: Sequence[Entry], progress: WriteProgress | None = None) -> None:
        progress = progress if progress is not None else _Unreported()
        for batch, body in batches(entries, max_items=self.max_items, max_bytes=self.max_bytes):
            self._put_batch(batch, body, progress)
            progress.advance(len(batch), sum(len(entry.value) for entry in batch))

    def get(self, key: str) -> bytes | None:
        response = self._request("GET", "/values/" + urllib.parse.quote(key, safe=""), what=f"read of {key!r}",
                                 absent_ok=True)
        return None if response.status == 404 else response.body

    def list(self, prefix: str) -> Iterator[tuple[str, dict | None]]:
        cursor = ""
        while True:
            query = {"prefix": prefix, "limit": "1000", **({"cursor": cursor} if cursor else {})}
            response = self._request("GET", "/keys?" + urllib.parse.urlencode(query),
                                     what=f"listing of keys under {prefix!r}")
            page = self._json(response.body, "listing")
            for item in page.get("result") or []:
                yield item["name"], item.get("metadata")
            cursor = (page.get("result_info") or {}).get("cursor") or ""
            if not cursor:
                return

    # -- one request, with retries

    def _put_batch(self, batch: Sequence[Entry], body: bytes, progress: WriteProgress) -> None:
        """One bulk write; keys Cloudflare reports as unsuccessful are sent again, within the same attempts."""
        attempts = self.retry_policy.attempts
        for attempt in range(1, attempts + 1):
            response = self._request("PUT", "/bulk", body=body, what=f"bulk write of {len(batch)} keys",
                                     progress=progress)
            result = self._json(response.body, "bulk write").get("result")
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
            body = bulk_body(bulk_json(entry) for entry in batch)

    def _request(self, method: str, path: str, *, what: str, body: bytes | None = None,
                 absent_ok: bool = False, progress: WriteProgress | None = None) -> Response:
        headers = {"Authorization": f"Bearer {self._token.reveal()}", "User-Agent": "intentedge-jobs"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = Request(method, f"{self.base_url}/accounts/{self.account_id}/storage/kv/namespaces/"
                                  f"{self.namespace_id}{path}", headers, body, self.timeout)
        attempts = self.retry_policy.attempts
        for attempt in range(1, attempts + 1):
            retry_after = None
            try:
                response = self._transport(request)
            except TransportError as exc:
                reason = f"connection failed ({self._redact(str(exc))})"
                if not exc.retryable:
                    raise KVRequestError(f"the {what} failed: {reason}") from None
            else:
                status = response.status
                if 200 <= status < 300 or (status == 404 and absent_ok):
                    return response
                if status != 429 and status < 500:
                    raise KVRequestError(f"Cloudflare refused the {what}: HTTP {status}"
                                         f"{self._errors(response.body)}{_hint(status)}")
                reason = f"HTTP {status}{self._errors(response.body)}"
                retry_after = _retry_after(response.header("Retry-After"))
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


class _Unreported:
    """The progress of a write nobody follows (its retries do not go to `on_retry`, which is for reads)."""

    def advance(self, items: int, nbytes: int) -> None:
        pass

    def retry(self, message: str) -> None:
        pass


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
