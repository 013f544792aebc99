// Reference: a JavaScript Worker that serves the page from the Cache API (caches.default), filling
// it from the origin on a miss. Under miniflare that cache is a local service in the same workerd;
// bench/cache_floor.py compares it with js_passthrough.mjs to show what one cache hit costs here.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const upstream = env.ORIGIN_URL + url.pathname + url.search;
    const hit = await caches.default.match(upstream);
    if (hit) return hit;
    const response = await fetch(upstream);
    const stored = new Response(response.clone().body, response);
    stored.headers.set("cache-control", "public, max-age=3600");
    ctx.waitUntil(caches.default.put(upstream, stored));
    return response;
  },
};
