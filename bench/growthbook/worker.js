// GrowthBook's Cloudflare edge app: the Worker's fetch hands every request to @growthbook/edge-cloudflare's
// handleRequest(request, env). handleRequest -> init(env) reads the SDK payload from the KV binding
// KV_GB_PAYLOAD, key "gb_payload" (getPayloadFromKV), and the rest of its configuration from env vars
// (PROXY_TARGET, GROWTHBOOK_CLIENT_KEY, RUN_VISUAL_EDITOR_EXPERIMENTS, ...). bench/growthbook.py
// bundles this file with esbuild and says how the benchmark configures it.
import { handleRequest } from "@growthbook/edge-cloudflare";

export default {
  async fetch(request, env, _ctx) {
    return await handleRequest(request, env);
  },
};
