"""The local KV that `wrangler dev` reads, through wrangler itself (the account's namespace is
cloudflare.CloudflareKV's, through the REST API).

Going through wrangler (rather than miniflare's storage files) keeps us on the
storage format the pinned runtime really uses.

`WranglerKV` puts, gets and deletes one key per wrangler call (about a second each).
`LocalKV` is the bulk store (store.KVStore) over the same local KV. It writes and lists
through the miniflare that wrangler itself loads, opened exactly as
`wrangler kv ... --local` opens it, because wrangler 3.68's own bulk commands fall
short locally: `kv bulk put --local` stores `"base64": true` values as their base64
text rather than the bytes, and `kv key list --local` returns the first 1000 keys only.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Iterator, Sequence

from intentedge.contract import KV_BINDING

from ..wrangler import wrangler_bin, wrangler_env
from .errors import WranglerError
from .store import MAX_BULK_BYTES, MAX_BULK_ITEMS, Entry, WriteProgress, batches

_LOCAL_NOT_FOUND = b"Value not found\n"


class WranglerKV:
    """The local INTENT_KV binding of the project's wrangler.toml, one key at a time."""

    def __init__(self, project: Path, persist_to: Path | None = None):
        self.project = project
        # wrangler reads --persist-to relative to its cwd, which is the project, not ours
        self.persist_to = None if persist_to is None else Path(persist_to).resolve()

    def put(self, key: str, value: bytes) -> None:
        with tempfile.NamedTemporaryFile(prefix="intentedge-kv-") as file:
            file.write(value)
            file.flush()
            self._wrangler("kv", "key", "put", key, "--path", file.name)

    def get(self, key: str) -> bytes | None:
        try:
            value = self._wrangler("kv", "key", "get", key)
        except WranglerError as exc:
            if "Value not found" in str(exc):
                return None
            raise
        # wrangler 3.68 --local prints this and exits 0 for a missing key (a value of exactly
        # these bytes reads as missing: LocalKV.get has no such ambiguity)
        if value == _LOCAL_NOT_FOUND:
            return None
        return value

    def delete(self, key: str) -> None:
        self._wrangler("kv", "key", "delete", key)

    def _wrangler(self, *args: str) -> bytes:
        command = [str(wrangler_bin(self.project)), *args, "--binding", KV_BINDING, "--local"]
        if self.persist_to is not None:
            command += ["--persist-to", str(self.persist_to)]
        done = subprocess.run(command, cwd=self.project, capture_output=True, env=wrangler_env())
        if done.returncode != 0:
            output = (done.stderr + done.stdout).decode("utf-8", "replace").strip()
            raise WranglerError(f"wrangler {' '.join(args[:3])} failed: {output[-500:]}")
        return done.stdout


class LocalKV:
    """The local KV of the INTENT_KV binding (what `wrangler dev --persist-to DIR` reads), in bulk.

    Implements store.KVStore. Each call starts one miniflare (about half a second, plus
    about two seconds per thousand keys written); `put_many` starts one per batch.
    """

    def __init__(self, project: Path, persist_to: Path | None = None, *,
                 max_items: int = MAX_BULK_ITEMS, max_bytes: int = MAX_BULK_BYTES, page_size: int = 1000):
        self.project = Path(project)
        self.persist_to = Path(persist_to).resolve() if persist_to is not None else default_persist_to(self.project)
        self.namespace_id = local_namespace_id(self.project)
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.page_size = page_size  # keys per page while listing (1000, as Cloudflare's API)

    def __repr__(self) -> str:
        return f"LocalKV(project={str(self.project)!r}, persist_to={str(self.persist_to)!r})"

    def put_many(self, entries: Sequence[Entry], progress: WriteProgress | None = None) -> None:
        for batch, body in batches(entries, max_items=self.max_items, max_bytes=self.max_bytes):
            self._miniflare("put", stdin=body)
            if progress is not None:
                progress.advance(len(batch), sum(len(entry.value) for entry in batch))

    def get(self, key: str) -> bytes | None:
        return self.get_many([key])[key]

    def list(self, prefix: str) -> Iterator[tuple[str, dict | None]]:
        for item in json.loads(self._miniflare("list", prefix, str(self.page_size))):
            yield item["name"], item.get("metadata")

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """Several values with one miniflare start."""
        found = json.loads(self._miniflare("get", stdin=json.dumps(list(keys)).encode()))
        return {key: None if value is None else base64.b64decode(value) for key, value in found.items()}

    def _miniflare(self, op: str, *args: str, stdin: bytes = b"") -> bytes:
        node = shutil.which("node")
        if node is None:
            raise WranglerError("node is not on PATH: wrangler's local KV needs Node.js")
        wrangler_bin(self.project)  # a clear error when `npm ci` has not run
        command = [node, "-e", _MINIFLARE_KV, str(self.project), str(self.persist_to), self.namespace_id, op, *args]
        done = subprocess.run(command, cwd=self.project, input=stdin, capture_output=True, env=wrangler_env())
        if done.returncode != 0:
            output = (done.stderr + done.stdout).decode("utf-8", "replace").strip()
            raise WranglerError(f"local KV {op} failed: {output[-500:]}")
        return done.stdout


# Opens the local KV as wrangler 3.68's `usingLocalNamespace` does (the same miniflare, the
# same v3/kv folder under the persist directory, the same namespace id), then:
#   put   stdin: a JSON array of bulk items {key, value (base64), base64, metadata, expiration_ttl}
#   list  argv: prefix, page size; stdout: every {name, expiration, metadata}, all pages
#   get   stdin: a JSON array of keys; stdout: {key: base64 value or null}
_MINIFLARE_KV = r"""
const path = require("node:path");
const [project, persist, namespaceId, op, prefix, limit] = process.argv.slice(1);
const wrangler = path.dirname(require.resolve("wrangler/package.json", { paths: [project] }));
const { Miniflare } = require(require.resolve("miniflare", { paths: [wrangler] }));
async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}
(async () => {
  const mf = new Miniflare({
    script: 'addEventListener("fetch", (e) => e.respondWith(new Response(null, { status: 404 })))',
    kvPersist: path.join(persist, "v3", "kv"),
    kvNamespaces: { NAMESPACE: namespaceId },
  });
  try {
    const kv = await mf.getKVNamespace("NAMESPACE");
    if (op === "put") {
      const items = await stdin();
      for (let i = 0; i < items.length; i += 50) {
        await Promise.all(items.slice(i, i + 50).map((item) => kv.put(
          item.key,
          item.base64 ? new Uint8Array(Buffer.from(item.value, "base64")) : item.value,
          { expirationTtl: item.expiration_ttl, metadata: item.metadata })));
      }
    } else if (op === "list") {
      const keys = [];
      let cursor;
      do {
        const page = await kv.list({ prefix, cursor, limit: Number(limit) });
        keys.push(...page.keys);
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      process.stdout.write(JSON.stringify(keys));
    } else if (op === "get") {
      const found = {};
      for (const key of await stdin()) {
        const value = await kv.get(key, "arrayBuffer");
        found[key] = value === null ? null : Buffer.from(value).toString("base64");
      }
      process.stdout.write(JSON.stringify(found));
    } else {
      throw new Error(`unknown operation ${op}`);
    }
  } finally {
    await mf.dispose();
  }
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error));
  process.exit(1);
});
"""


def default_persist_to(project: Path) -> Path:
    """Where wrangler keeps local state when --persist-to is not given: beside wrangler.toml."""
    return (Path(project) / ".wrangler" / "state").resolve()


def local_namespace_id(project: Path) -> str:
    """The namespace id wrangler's `kv ... --local --binding INTENT_KV` uses (its local KV is keyed by it)."""
    config_path = Path(project) / "wrangler.toml"
    try:
        config = tomllib.loads(config_path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WranglerError(f"{config_path}: cannot read it: {exc}") from None
    for namespace in config.get("kv_namespaces") or []:
        if isinstance(namespace, dict) and namespace.get("binding") == KV_BINDING:
            ids = [namespace[name] for name in ("id", "preview_id") if namespace.get(name)]
            if len(ids) != 1:
                raise WranglerError(f"{config_path}: the {KV_BINDING} namespace needs exactly one of id and "
                                    f"preview_id, found {len(ids)}")
            return str(ids[0])
    raise WranglerError(f"{config_path}: no [[kv_namespaces]] with binding = {KV_BINDING!r}")
