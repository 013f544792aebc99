// Run the staged Python Worker (build/worker) under miniflare directly, without `wrangler dev`'s proxy.
//
//   node jobs/intentedge_jobs/run_worker.mjs '{"root": "build/worker", "entry": "entry.py",
//        "kvPersist": "DIR/v3/kv", "port": 8787, "bindings": {"ORIGIN_URL": "http://127.0.0.1:8000", ...}}'
//
// Uses the miniflare that the pinned wrangler (3.68.0) depends on, so the Worker runs on the same
// workerd (1.20240725.0, Python runtime embedded) as `wrangler dev`. Prints `ready <url>` on stdout
// once the Worker serves, then runs until SIGTERM/SIGINT, or until the process that started it is
// gone. The Worker's console output goes to stderr; with "countDecisions": true (benchmarks) its
// per-request `decision` lines are only counted (the count is printed on exit).
//
// Unlike `wrangler dev`, the socket takes a request's `cf` object from an `MF-CF-Blob` header (JSON),
// which lets tests play a verified bot or a visitor from another country.
//
// Benchmarks also run JavaScript reference Workers: {"script": "path/to/worker.mjs"} (one ES module,
// e.g. an esbuild bundle) instead of root/entry, more KV namespaces with {"kvNamespaces": {"BINDING":
// "id"}}, and values written into them before `ready` with {"kvSeed": {"BINDING": {"key": "value"}}}.
// Tests start the Worker without its INTENT_KV binding with {"withoutKv": true}.
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");   // the checkout
const wrangler = path.dirname(require.resolve("wrangler/package.json", { paths: [project] }));
const { Miniflare } = require(require.resolve("miniflare", { paths: [wrangler] }));

const options = JSON.parse(process.argv[2] ?? "{}");
const root = path.resolve(project, options.root ?? "build/worker");
const entry = options.entry ?? "entry.py";
const script = options.script ? path.resolve(project, options.script) : null;

// Every .py under root, as wrangler 3.68 uploads them; the entry module must come first.
function pythonFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((item) => {
    const full = path.join(dir, item.name);
    if (item.isDirectory()) return item.name === "__pycache__" ? [] : pythonFiles(full);
    return item.name.endsWith(".py") ? [full] : [];
  });
}
function pythonModules() {
  const files = pythonFiles(root).sort();
  const entryPath = path.join(root, entry);
  if (!files.includes(entryPath)) throw new Error(`${entryPath} not found`);
  return [entryPath, ...files.filter((file) => file !== entryPath)].map((file) => ({
    type: "PythonModule",
    path: file,
    contents: readFileSync(file, "utf8"),
  }));
}
const worker = script
  ? { modules: [{ type: "ESModule", path: script, contents: readFileSync(script, "utf8") }],
      modulesRoot: path.dirname(script) }
  : { modules: pythonModules(), modulesRoot: root };

let decisions = 0;
function handleRuntimeStdio(stdout, stderr) {
  readline.createInterface({ input: stdout }).on("line", (line) => {
    if (options.countDecisions && line.includes('{"event":"decision"')) decisions += 1;
    else process.stderr.write(`[workerd] ${line}\n`);
  });
  stderr.pipe(process.stderr);
}

const mf = new Miniflare({
  ...worker,
  compatibilityDate: options.compatibilityDate ?? "2024-07-25",
  compatibilityFlags: options.compatibilityFlags ?? (script ? [] : ["python_workers"]),
  kvNamespaces: {
    ...(options.withoutKv ? {} : { INTENT_KV: options.namespaceId ?? "intentedge-local" }),
    ...(options.kvNamespaces ?? {}),
  },
  kvPersist: options.kvPersist,            // DIR/v3/kv, as wrangler 3.68 opens `--persist-to DIR`
  cache: true,                             // caches.default, in memory (per instance)
  cachePersist: options.cachePersist ?? false,
  bindings: options.bindings ?? {},
  cf: false,                               // miniflare's placeholder Request.cf: no fetch from the internet
  host: options.host ?? "127.0.0.1",
  port: options.port ?? 0,
  handleRuntimeStdio,
});

// miniflare's own exit hook (registered first) ends the process on SIGTERM/SIGINT after stopping
// workerd; these handlers only cover a signal arriving before that hook exists.
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
process.on("exit", () => process.stderr.write(`run_worker: exiting, ${decisions} decision log lines\n`));
// Stop once whoever started us is gone, however it ended: a test run killed by a CI timeout runs no
// cleanup, and this process would otherwise keep workerd and its port. An orphan gets a new parent.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();

try {
  const url = await mf.ready;
  for (const [binding, values] of Object.entries(options.kvSeed ?? {})) {
    const namespace = await mf.getKVNamespace(binding);
    for (const [key, value] of Object.entries(values)) await namespace.put(key, value);
  }
  process.stdout.write(`ready ${url.href}\n`);
} catch (error) {
  process.stderr.write(`run_worker: ${(error && error.stack) || error}\n`);
  await mf.dispose().catch(() => {});
  process.exit(1);
}
