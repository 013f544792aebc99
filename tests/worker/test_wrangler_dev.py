"""The path `make demo` takes: `wrangler dev` builds the Worker with wrangler.toml's [build] command,
reads .dev.vars and the local KV, and personalizes through its own proxy."""

import pytest

from intentedge_jobs.devserver import ServerError, free_port, start_worker
from intentedge.session import COOKIE_NAME

from .conftest import ROOT, Worker
from . import origin as site


@pytest.fixture(scope="module")
def wrangler_dev(origin, kv_dir, publish, tmp_path_factory):
    publish()
    port = free_port()
    try:
        server = start_worker(ROOT, port, origin_url=origin.url, persist_to=kv_dir,
                              log_path=tmp_path_factory.mktemp("logs") / "wrangler-dev.log")
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield Worker(f"http://127.0.0.1:{port}", server)
    server.stop()


def test_wrangler_dev_personalizes_with_the_dev_secrets(wrangler_dev, mint_cookie):
    reply = wrangler_dev.get("/", headers={"Cookie": mint_cookie()})
    assert reply.status == 200
    assert b"data-pz-rule=" in reply.body
    # the cookie minted with .dev.vars' key was accepted, and re-signed with it
    assert reply.headers["set-cookie"].startswith(f"{COOKIE_NAME}=")


def test_wrangler_dev_passes_other_pages_through(wrangler_dev):
    reply = wrangler_dev.get("/style.css")
    assert reply.status == 200 and reply.body == site.CSS
