"""A test-only entry (never deployed): the real Worker, with the KV reads of a request slowed down.

    x-test-kv-delay-ms: 1500        each KV read of this request first waits 1.5 s
    x-test-kv-prefix: profile/      ... only reads of keys with this prefix (default: all)

The wrapped binding is still the real local KV, and the delay is a real timer in workerd.
"""

import asyncio

import entry


class _SlowKV:
    def __init__(self, kv, delay_s: float, prefix: str):
        self._kv, self._delay_s, self._prefix = kv, delay_s, prefix

    async def get(self, key, *args, **kwargs):
        if key.startswith(self._prefix):
            await asyncio.sleep(self._delay_s)
        return await self._kv.get(key, *args, **kwargs)


class _Env:
    """The Worker's env with INTENT_KV swapped; every other binding as it is."""

    def __init__(self, env, kv):
        self._env = env
        self.INTENT_KV = kv

    def __getattr__(self, name):
        return getattr(self._env, name)


async def on_fetch(request, env, ctx):
    delay = request.headers.get("x-test-kv-delay-ms")
    if delay is not None:
        prefix = request.headers.get("x-test-kv-prefix") or ""
        env = _Env(env, _SlowKV(env.INTENT_KV, float(delay) / 1000, prefix))
    return await entry.on_fetch(request, env, ctx)
