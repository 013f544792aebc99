"""A Worker deployed without its KV binding serves the origin's pages unmodified and says why."""

import pytest

from . import origin as site
from .conftest import run_worker


@pytest.fixture(scope="module")
def worker_without_kv(origin, kv_dir, staged_worker, dev_secrets, tmp_path_factory):
    yield from run_worker(staged_worker, tmp_path_factory, kv_dir=kv_dir, extra={"withoutKv": True},
                          bindings={**dev_secrets, "ORIGIN_URL": origin.url})


def test_a_worker_without_its_kv_binding_serves_the_origin_page_and_names_the_binding(worker_without_kv):
    mark = worker_without_kv.log_mark()
    for _ in range(2):   # the second request reads `env` from the isolate's settings
        reply = worker_without_kv.get("/")
        assert reply.status == 200 and reply.body == site.SLOTTED
    worker_without_kv.wait_for_log('"reason":"MissingConfig","detail":"the Worker has no INTENT_KV binding: '
                                   "add it to wrangler.toml's kv_namespaces", since=mark)
