"""A fake of Cloudflare's KV REST API for one namespace, as a transport (kv/transport.py): a plain
function from request to response, so the client's tests need no server."""

from __future__ import annotations

import base64
import json
import urllib.parse

from intentedge_jobs.kv.transport import Request, Response, TransportError

TOKEN = "tok-5ecret-Zq9xW2vL7mN4"
ACCOUNT, NAMESPACE = "acct0123", "ns4567"
BASE = f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}"


class FakeCloudflare:
    """Cloudflare's KV endpoints for one namespace: bulk PUT, keys (paginated), values GET.

    `faults` is consumed one per request: "429" (Retry-After: 3), "500", "503", "drop" (the
    connection closes without an answer), "echo" (a 400 whose message repeats the Authorization
    header), "partial" (a 200 that reports the batch's first key as unsuccessful).
    """

    url = "https://api.cloudflare.test/client/v4"

    def __init__(self, *, page_size: int = 1000):
        self.values: dict[str, tuple[bytes, dict | None, int | None]] = {}
        self.batches: list[tuple[list[str], int]] = []  # keys and body size of each bulk write that landed
        self.requests: list[tuple[str, str]] = []
        self.faults: list[str | None] = []
        self.page_size = page_size

    def environ(self, **changes) -> dict[str, str]:
        return {"CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "INTENTEDGE_KV_NAMESPACE_ID": NAMESPACE,
                "CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_API_BASE_URL": self.url, **changes}

    def puts(self) -> list[list[str]]:
        return [keys for keys, _ in self.batches]

    def __call__(self, request: Request) -> Response:
        url = urllib.parse.urlsplit(request.url)
        self.requests.append((request.method, url.path))
        fault = self.faults.pop(0) if self.faults else None
        if fault == "drop":
            raise TransportError("RemoteDisconnected: Remote end closed connection without response")
        if fault in ("429", "500", "503"):
            headers = {"Retry-After": "3"} if fault == "429" else {}
            return _json(int(fault), _failure(10000 + int(fault), f"fault {fault}"), headers)
        authorization = request.headers.get("Authorization")
        if fault == "echo":
            return _json(400, _failure(10001, f"bad request from {authorization}"))
        if authorization != f"Bearer {TOKEN}":
            return _json(403, _failure(10000, "Authentication error"))
        if not url.path.startswith(BASE + "/"):
            return _json(404, _failure(10013, "not found"))
        rest = url.path[len(BASE):]
        if request.method == "PUT" and rest == "/bulk":
            return self._bulk(json.loads(request.body), len(request.body), partial=fault == "partial")
        if request.method == "GET" and rest == "/keys":
            return self._keys(urllib.parse.parse_qs(url.query))
        if request.method == "GET" and rest.startswith("/values/"):
            return self._value(urllib.parse.unquote(rest[len("/values/"):]))
        return _json(405, _failure(10405, "no such route"))

    def _bulk(self, items: list[dict], size: int, *, partial: bool) -> Response:
        failed = [items[0]["key"]] if partial else []
        for item in items:
            if item["key"] in failed:
                continue
            value = base64.b64decode(item["value"]) if item.get("base64") else item["value"].encode()
            self.values[item["key"]] = (value, item.get("metadata"), item.get("expiration_ttl"))
        self.batches.append(([item["key"] for item in items if item["key"] not in failed], size))
        return _json(200, {"success": True, "errors": [], "result": {
            "successful_key_count": len(items) - len(failed), "unsuccessful_keys": failed}})

    def _keys(self, query: dict) -> Response:
        prefix = query.get("prefix", [""])[0]
        start = int(query.get("cursor", ["0"])[0] or 0)
        limit = min(int(query.get("limit", ["1000"])[0]), self.page_size)
        names = sorted(key for key in self.values if key.startswith(prefix))
        page = [{"name": key, "metadata": self.values[key][1]} for key in names[start:start + limit]]
        cursor = str(start + limit) if start + limit < len(names) else ""
        return _json(200, {"success": True, "errors": [], "result": page,
                           "result_info": {"count": len(page), "cursor": cursor}})

    def _value(self, key: str) -> Response:
        found = self.values.get(key)
        if found is None:
            return _json(404, _failure(10009, "get: 'key not found'"))
        return Response(200, found[0], {"Content-Type": "application/octet-stream"})


def _failure(code: int, message: str) -> dict:
    return {"success": False, "errors": [{"code": code, "message": message}]}


def _json(status: int, doc: dict, headers: dict | None = None) -> Response:
    return Response(status, json.dumps(doc).encode(), {**(headers or {}), "Content-Type": "application/json"})
