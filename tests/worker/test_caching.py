"""Stale-while-revalidate at the edge: the base-page cache against an origin that counts its hits.

Real timing: the pages here are fresh for one second (origin.CACHE_POLICIES), so the
tests wait a little over that. Each test uses its own paths, so cached copies of one
test never meet another.
"""

import threading
import time

import pytest

from .conftest import CONFIG, run_worker


def path(policy: str, request) -> str:
    return f"/cache/{policy}/{request.node.name.replace('[', '-').rstrip(']')}.html"


def is_hit(reply) -> bool:
    return 'pz-page;desc="HIT"' in reply.headers.get("server-timing", "")


def stored(worker, origin, page: str) -> int:
    """Request `page` until the cache holds it (a miss answers the visitor from their own request
    and stores an anonymous fetch of the key in the background); the origin's hits so far."""
    worker.get_until(page, is_hit)
    return origin.hits(page.split("?")[0])


def test_a_second_request_is_served_without_an_origin_hit(worker, origin, request):
    page = path("fresh", request)
    first = worker.get(page)
    hits = stored(worker, origin, page)
    second = worker.get(page)
    assert is_hit(second) and origin.hits(page) == hits
    assert first.status == second.status == 200
    assert 'data-pz-rule=' in second.text                     # personalized after the cache, per request
    assert second.headers["cache-control"] == "private, no-store"
    assert "etag" not in second.headers


def test_marketing_parameters_share_one_cached_page(worker, origin, request):
    page = path("fresh", request)
    hits = stored(worker, origin, page + "?utm_source=news&gclid=abc")
    assert is_hit(worker.get(page + "?fbclid=zz&utm_campaign=x"))
    assert origin.hits(page) == hits
    assert not is_hit(worker.get(page + "?page=2"))           # a real parameter: another page


@pytest.mark.parametrize("policy", ["private", "nostore", "cookie"])
def test_pages_the_origin_does_not_share_are_never_stored(worker, origin, request, policy):
    page = path(policy, request)
    for _ in range(3):
        reply = worker.get(page)
        assert "pz-page;desc=\"MISS\"" in reply.headers["server-timing"]
    assert origin.hits(page) == 3


def test_a_stale_page_is_served_at_once_and_revalidated_once_in_the_background(worker, origin, request):
    page = path("swr", request)
    hits = stored(worker, origin, page)
    time.sleep(1.3)                                           # past max-age=1, inside stale-while-revalidate
    origin.delays[page] = 2.0                                 # a slow origin must not slow the visitor
    started = time.monotonic()
    stale = worker.get(page)
    assert time.monotonic() - started < 1.5
    assert "pz-page;desc=\"STALE\"" in stale.headers["server-timing"]
    deadline = time.monotonic() + 10
    while origin.hits(page) < hits + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.5)
    assert origin.hits(page) == hits + 1                      # exactly one background revalidation
    assert origin.requests[-1].headers.get("If-None-Match") == '"v1"'   # conditional: the origin said 304
    origin.delays.pop(page)
    assert "desc=\"HIT\"" in worker.get(page).headers["server-timing"]  # fresh again after the 304


def test_two_concurrent_stale_requests_trigger_one_refresh(worker, origin, request):
    page = path("swr", request)
    hits = stored(worker, origin, page)
    time.sleep(1.3)
    origin.delays[page] = 1.0
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(worker.get(page))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(2.0)
    origin.delays.pop(page)
    assert [r.status for r in replies] == [200, 200]
    assert origin.hits(page) == hits + 1                      # one refresh


def test_stale_if_error_serves_the_stored_page_while_the_origin_fails(worker, origin, request):
    page = path("sie", request)
    worker.get(page)
    worker.get_until(page, lambda reply: "desc=\"HIT\"" in reply.headers.get("server-timing", ""))
    time.sleep(1.3)                                           # expired; no stale-while-revalidate
    origin.failing.add(page)
    try:
        reply = worker.get(page)
        assert reply.status == 200
        assert "<title>cached 1</title>" in reply.text
        assert "pz-page;desc=\"ERROR\"" in reply.headers["server-timing"]
    finally:
        origin.failing.discard(page)


def test_after_the_stale_if_error_window_the_origins_error_comes_through(worker, origin, request):
    page = path("sieshort", request)
    worker.get(page)
    time.sleep(1.3)
    origin.failing.add(page)
    try:
        assert worker.get(page).status == 200                 # inside stale-if-error=2
        time.sleep(2.0)
        reply = worker.get(page)
        assert (reply.status, reply.body) == (503, b"<h1>503</h1>")
    finally:
        origin.failing.discard(page)


def test_without_stale_if_error_the_origins_error_comes_through(worker, origin, request):
    page = path("short", request)
    worker.get(page)
    time.sleep(1.3)
    origin.failing.add(page)
    try:
        reply = worker.get(page)
        assert reply.status == 503
        assert reply.body == b"<h1>503</h1>"
    finally:
        origin.failing.discard(page)


def test_a_new_version_shows_after_revalidation(worker, origin, request):
    page = path("short", request)
    assert "<title>cached 1</title>" in worker.get(page).text
    stored(worker, origin, page)
    origin.versions[page] = 2
    time.sleep(1.3)
    reply = worker.get(page)
    assert "<title>cached 2</title>" in reply.text
    assert "pz-page;desc=\"MISS\"" in reply.headers["server-timing"]
    assert worker.get_until(page, lambda r: "desc=\"HIT\"" in r.headers.get("server-timing", "")).status == 200


def test_personalized_pages_vary_on_cookie_and_report_timing(worker):
    reply = worker.get("/")
    assert "Cookie" in reply.headers["vary"]
    timing = reply.headers["server-timing"]
    assert timing.startswith("pz-meta;desc=") and "pz-page;desc=" in timing


def test_a_config_change_shows_after_the_fresh_ttl_without_a_restart(worker, publish, tmp_path):
    crawler = {"User-Agent": "Googlebot/2.1"}                 # crawlers see the fallbacks: a stable probe
    changed = tmp_path / "config.toml"
    changed.write_text(CONFIG.read_text().replace("default hero", "changed hero"))
    try:
        publish(changed)
        worker.get_until("/", lambda r: b"changed hero" in r.body, timeout=10, headers=crawler)
    finally:
        publish()
    worker.get_until("/", lambda r: b"default hero" in r.body, timeout=10, headers=crawler)


def test_what_is_stored_comes_from_an_anonymous_request_for_the_cache_key(worker, origin, request):
    """The visitor gets their own request's answer; the copy for everyone is fetched anew by the key
    alone, so nothing the key leaves out (utm_* values, headers, cookies) can be stored for all."""
    page = path("fresh", request)
    worker.get(page + "?utm_source=%3Cscript%3E&pz_preview=secret-token&b=2&a=1",
               headers={"X-Forwarded-Host": "evil.example", "Cookie": "session=alice"})
    hit = worker.get_until(page + "?a=1&b=2", is_hit)
    seen = [s for s in origin.requests if s.path.startswith(page)]
    assert [s.path for s in seen][:2] == [page + "?utm_source=%3Cscript%3E&b=2&a=1",   # the visitor's (no pz_*)
                                          page + "?a=1&b=2"]                          # the fill
    assert "X-Forwarded-Host" not in seen[1].headers and "Cookie" not in seen[1].headers
    assert seen[0].headers["X-Forwarded-Host"] == "evil.example"
    assert hit.status == 200


def test_a_page_that_is_not_stored_gets_the_visitors_own_url(worker, origin):
    worker.get("/?utm_source=news", headers={"Authorization": "Basic eDp5"})   # bypasses the page cache
    assert origin.requests[-1].path == "/?utm_source=news"


def test_a_logged_in_visitor_bypasses_the_page_cache(worker, origin, request):
    page = path("fresh", request)
    before = stored(worker, origin, page)
    reply = worker.get(page, headers={"Cookie": "logged_in=1"})   # the config's [signals] login_cookie
    assert 'pz-page;desc="BYPASS"' in reply.headers["server-timing"]
    assert origin.hits(page) == before + 1


@pytest.fixture(scope="module")
def pageless_worker(origin, kv_dir, publish, staged_worker, dev_secrets, tmp_path_factory):
    """The Worker with PAGE_CACHE="off": the base-page cache off, the metadata cache on."""
    publish()
    yield from run_worker(staged_worker, tmp_path_factory, kv_dir=kv_dir,
                          bindings={**dev_secrets, "ORIGIN_URL": origin.url, "PAGE_CACHE": "off"})


def test_page_cache_off_goes_to_the_origin_every_time_and_keeps_metadata_cached(pageless_worker, origin, request):
    page = path("fresh", request)
    replies = [pageless_worker.get(page) for _ in range(3)]
    assert origin.hits(page) == 3
    assert all('pz-page;desc="BYPASS"' in reply.headers["server-timing"] for reply in replies)
    assert 'pz-meta;desc="HIT"' in replies[-1].headers["server-timing"]
    assert all('data-pz-rule=' in reply.text for reply in replies)
