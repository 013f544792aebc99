// Reference: JavaScript HTMLRewriter injecting one fragment into the hero slot, streaming.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const response = await fetch(env.ORIGIN_URL + url.pathname + url.search);
    return new HTMLRewriter()
      .on(env.SLOT_SELECTOR, {
        element(element) {
          element.setInnerContent(env.FRAGMENT_HTML, { html: true });
        },
      })
      .transform(response);
  },
};
