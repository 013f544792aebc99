"""Reference worker for bench/compare.py: GrowthBook's Cloudflare edge app (@growthbook/edge-cloudflare).

    .venv/bin/python bench/growthbook.py --check [--inject-sdk]

`prepare(work, origin_url, selector, fragment_html)` installs bench/growthbook (its own npm project,
`npm ci`), bundles bench/growthbook/worker.js (a Worker whose fetch hands every request to the app's
`handleRequest(request, env)`) with esbuild into one ES module in `work/`, and returns the
jobs/intentedge_jobs/run_worker.mjs options for `start_miniflare(..., extra=...)` plus a
"bindings" dict (the app's env vars); bench/harness/workers.py calls it to start the growthbook
subject. It runs on workerd with compatibility date 2024-07-25 and no compatibility flag (no
nodejs_compat needed).

Configuration: the app reads its SDK payload from KV (binding KV_GB_PAYLOAD, key "gb_payload", which
`init()` reads on every request), so nothing is fetched from GrowthBook's API; GROWTHBOOK_API_HOST
points at the origin, so an unexpected SDK fetch would show up there (--check asserts none). The
payload holds one visual-editor auto-experiment on every URL, coverage 1, weights [0, 1]: every
visitor gets variation 1, whose DOM mutation sets the inner HTML of `selector` to the fragment (a
single-variation experiment is never run by the SDK, and `force` puts nobody "in" it, so no change).
Visual experiments run on the edge only, URL redirect experiments are skipped, and DISABLE_INJECTIONS
keeps the app from adding its front-end SDK. No tracking callback is configured: the SDK only defers
the tracking call (it would be handed to the front-end SDK), so no tracking request is sent. ROUTES
sends paths with a file extension straight to the origin (otherwise it rewrites them as HTML too).

How the app behaves (edge-utils 0.1.7): it fetches the origin page with a bare `fetch(url)` (no
request headers: no cookies, no If-None-Match), buffers the whole body (`.text()`), parses it with
node-html-parser, applies the mutation, re-serializes, and answers 200 with only
`Content-Type: text/html` (no charset): it means to forward the origin's headers but spreads a
Headers object (`{...response.headers}`), which copies none, so ETag, Last-Modified, Cache-Control and
the rest are dropped. It sets no cookie (PERSIST_UUID off). A non-GET request is passed through
with its headers. With its defaults (what --inject-sdk keeps) it also injects a <script> before
</head>: the whole GrowthBook browser SDK plus the hydrated payload, about 47 KB per page.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

APP = Path(__file__).resolve().parent / "growthbook"
ROOT = APP.parent.parent
DEFAULT_SELECTOR = '[data-personalized-region="hero"]'
DEFAULT_FRAGMENT = ('<section class="pz-offer"><h2>Compare pro cameras</h2>'
                    '<a href="/guides/pro/">Read the guide</a></section>')

# esbuild's JS API: one ES module for workerd, as wrangler would bundle it.
BUILD = """
const [entry, outfile] = process.argv.slice(1);
require("esbuild").build({
  entryPoints: [entry], outfile, bundle: true, format: "esm", target: "es2022",
  platform: "browser", conditions: ["workerd", "worker", "browser"],
  define: { "process.env.NODE_ENV": '"production"' }, logLevel: "warning",
}).catch(() => process.exit(1));
"""


def install() -> None:
    """`npm ci` in bench/growthbook when node_modules is missing or older than the lockfile."""
    lock = APP / "package-lock.json"
    installed = APP / "node_modules" / ".package-lock.json"   # written by npm at install time
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APP, check=True)


def payload(selector: str, fragment_html: str) -> dict:
    """A GrowthBook SDK payload: no features, one visual experiment every visitor is in (variation 1)."""
    experiment = {
        "key": "bench-hero-fragment",
        "changeId": "bench-hero-fragment-1",
        "status": "running",
        "urlPatterns": [{"include": True, "type": "simple", "pattern": "*"}],
        "hashAttribute": "id",
        "hashVersion": 2,
        "coverage": 1,
        "weights": [0, 1],
        "variations": [
            {"css": "", "domMutations": []},
            {"css": "", "domMutations": [
                {"selector": selector, "action": "set", "attribute": "html", "value": fragment_html}]},
        ],
    }
    return {"status": 200, "features": {}, "experiments": [experiment],
            "dateUpdated": "2024-07-25T00:00:00.000Z"}


def prepare(work: Path, origin_url: str, selector: str = DEFAULT_SELECTOR,
            fragment_html: str = DEFAULT_FRAGMENT, *, inject_sdk: bool = False) -> dict:
    """Install, bundle into `work`, and return run_worker.mjs options plus "bindings" (env vars)."""
    install()
    work.mkdir(parents=True, exist_ok=True)
    script = work / "growthbook-worker.mjs"
    subprocess.run(["node", "-e", BUILD, str(APP / "worker.js"), str(script)], cwd=APP, check=True)
    bindings = {
        "PROXY_TARGET": origin_url,
        "GROWTHBOOK_API_HOST": origin_url,         # never used: the payload comes from KV
        "GROWTHBOOK_CLIENT_KEY": "sdk-bench",
        "NODE_ENV": "production",
        "RUN_VISUAL_EDITOR_EXPERIMENTS": "edge",
        "RUN_URL_REDIRECT_EXPERIMENTS": "skip",
        "RUN_CROSS_ORIGIN_URL_REDIRECT_EXPERIMENTS": "skip",
        "DISABLE_JS_INJECTION": "true",
        "DISABLE_INJECTIONS": "false" if inject_sdk else "true",
        "ROUTES": json.dumps([{"pattern": "*", "type": "simple", "behavior": "intercept"}]),
    }
    return {"script": str(script),
            "kvNamespaces": {"KV_GB_PAYLOAD": "bench-gb-payload"},
            "kvSeed": {"KV_GB_PAYLOAD": {"gb_payload": json.dumps(payload(selector, fragment_html))}},
            "bindings": bindings}


PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Cameras</title></head>
<body><h1>Cameras</h1>
<div data-personalized-region="hero"><p>Origin content</p></div>
<p>Footer</p></body></html>
"""
ORIGIN_HEADERS = {"Content-Type": "text/html; charset=utf-8", "ETag": '"page-v1"',
                  "Last-Modified": "Thu, 25 Jul 2024 00:00:00 GMT",
                  "Cache-Control": "public, max-age=60"}


def check(inject_sdk: bool) -> int:
    from intentedge_jobs.devserver import start_miniflare
    import tempfile

    seen: list[str] = []

    class Origin(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            for name, value in ORIGIN_HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    origin_url = f"http://127.0.0.1:{origin.server_address[1]}"
    failures = []
    with tempfile.TemporaryDirectory(prefix="bench-growthbook-") as tmp:
        work = Path(tmp)
        opts = prepare(work, origin_url, inject_sdk=inject_sdk)
        bindings = opts.pop("bindings")
        server, url = start_miniflare(ROOT, work, log_path=work / "miniflare.log", bindings=bindings, extra=opts)
        try:
            for attempt in (1, 2):
                start = time.perf_counter()
                with urllib.request.urlopen(url + "/", timeout=30) as response:
                    body = response.read().decode()
                    status, headers = response.status, response.headers
                elapsed = (time.perf_counter() - start) * 1000
                dropped = [name for name, value in ORIGIN_HEADERS.items() if headers.get(name) != value]
                print(f"request {attempt}: status {status}, {elapsed:.1f} ms, {len(body)} bytes, "
                      f"origin headers dropped or changed: {', '.join(dropped) or 'none'} "
                      f"(got {dict(headers)})")
                if f'<div data-personalized-region="hero">{DEFAULT_FRAGMENT}</div>' not in body:
                    failures.append(f"request {attempt}: fragment not inside the hero div:\n{body[:2000]}")
            print(f"SDK script injected: {'<script' in body}; origin saw: {seen}")
        finally:
            server.stop()
            origin.shutdown()
        if any(path != "/" for path in seen):
            failures.append(f"unexpected origin requests (SDK fetches?): {seen}")
        if failures:
            print("\n".join(failures) + "\n--- miniflare log ---\n" + (work / "miniflare.log").read_text()[-3000:])
    print("FAIL" if failures else "OK: the fragment is inside the hero div")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="run the app in front of a tiny origin")
    parser.add_argument("--inject-sdk", action="store_true", help="keep the app's front-end SDK injection")
    args = parser.parse_args()
    if not args.check:
        parser.error("nothing to do: pass --check")
    sys.exit(check(args.inject_sdk))
