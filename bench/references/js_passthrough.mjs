// Reference: the cheapest Worker there is. It fetches the same path from the origin and returns it.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search);
  },
};
