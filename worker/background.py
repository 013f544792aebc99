"""Work that runs after the response, through `ctx.waitUntil`."""

import asyncio

from pyodide.ffi import create_proxy


def run_in_background(ctx, coroutine) -> None:
    """`ctx.waitUntil(coroutine)` silently drops the work: it needs a proxy of a scheduled future.
    The proxy is destroyed once the future is done (the runtime cannot collect it by itself)."""
    future = asyncio.ensure_future(coroutine)
    proxy = create_proxy(future)
    ctx.waitUntil(proxy)
    # after the JS side's own callbacks on the future have run
    future.add_done_callback(lambda _: asyncio.get_event_loop().call_soon(proxy.destroy))
