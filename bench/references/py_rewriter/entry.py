"""Reference: the smallest Python HTMLRewriter Worker that injects one fragment into the hero slot.

Its one handler is made once per isolate, so it neither makes nor leaks a proxy per request: the
floor for any Python Worker that rewrites HTML.
"""

from js import URL, HTMLRewriter, Object, fetch
from pyodide.ffi import create_proxy, to_js

_handlers = None


def _hero_handlers(fragment: str):
    def element(element):
        element.setInnerContent(fragment, html=True)

    return to_js({"element": create_proxy(element)}, dict_converter=Object.fromEntries)


async def on_fetch(request, env):
    global _handlers
    if _handlers is None:
        _handlers = _hero_handlers(env.FRAGMENT_HTML)
    url = URL.new(request.url)
    response = await fetch(env.ORIGIN_URL + url.pathname + url.search)
    return HTMLRewriter.new().on(env.SLOT_SELECTOR, _handlers).transform(response)
