"""Reference: the cheapest Python Worker. It fetches the same path from the origin and returns it."""

from js import URL, fetch


async def on_fetch(request, env):
    url = URL.new(request.url)
    return await fetch(env.ORIGIN_URL + url.pathname + url.search)
