"""One page request's outcome (intentedge/outcome.py): what core tells the Worker to do, on plain data."""

from __future__ import annotations

import json

import pytest

from intentedge import compile_bundle
from intentedge.caching.pages import CacheStatus
from intentedge.events.page_token import verify
from intentedge.outcome import page_outcome, personal_headers
from intentedge.preview import mint_token
from intentedge.session import COOKIE_NAME, dump, load, new_session
from intentedge.visitor import visitor_of

from tests.core.builders import GOOGLEBOT_UA, KEYS, MINUTE, NOW, context, counter_bytes, valid_config

TIMINGS = [("pz-meta", CacheStatus.HIT, 0.0), ("pz-page", CacheStatus.MISS, 12.5)]


def bundle(**tables):
    return compile_bundle({**valid_config(), **tables}, source="test")


def cookie_of(session) -> str:
    return f"{COOKIE_NAME}={dump(session, KEYS)}"


def outcome(path="/", *, headers=None, config=None, keys=KEYS, profile=None, document=True, seed=0,
            origin_headers=("content-type", "etag")):
    ctx = context(path, headers=headers or {})
    return page_outcome(ctx, visitor_of(ctx, keys), config or bundle(), profile, origin_headers=origin_headers,
                        document=document, timings=TIMINGS, random_bytes=counter_bytes(seed))


def changes(result, name):
    return [(op, value) for op, header, value in result.headers if header == name]


def test_a_new_visitor_gets_a_session_cookie_and_a_private_uncached_page():
    result = outcome("/products/pro/x")
    assert [c.fragment.id for c in result.choices] == ["camera-guide", "pro-tip"]
    assert changes(result, "cache-control") == [("set", "private, no-store")]
    assert changes(result, "vary") == [("append", "Cookie")]
    assert changes(result, "etag") == [("delete", "")] and changes(result, "last-modified") == [("delete", "")]
    [(op, cookie)] = changes(result, "set-cookie")
    assert op == "append" and cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "Secure" in cookie
    session = load(cookie.split(";")[0].split("=", 1)[1], KEYS, NOW)
    assert session is not None and session.pages == 1
    assert changes(result, "server-timing") == [("set", 'pz-meta;desc="HIT";dur=0.0, pz-page;desc="MISS";dur=12.5')]


def test_the_log_line_is_the_decision_trace():
    line = json.loads(outcome("/products/pro/x").log)
    assert line["event"] == "decision" and line["path"] == "/products/pro/x"
    assert line["choices"] == outcome("/products/pro/x").decision.trace["choices"]


def test_a_returning_visitor_keeps_their_id():
    first = new_session(NOW - 5 * MINUTE, counter_bytes(7))
    result = outcome("/", headers={"cookie": cookie_of(first)})
    assert result.decision.session.visitor_id == first.visitor_id


@pytest.mark.parametrize("headers, reason", [
    ({"sec-gpc": "1"}, "Sec-GPC"),
    ({"user-agent": GOOGLEBOT_UA}, "a crawler"),
])
def test_nobody_is_recognised_without_consent(headers, reason):
    result = outcome("/", headers=headers)
    assert result.decision.session is None, reason
    assert changes(result, "set-cookie") == []


def test_a_session_cookie_is_deleted_when_consent_is_withdrawn():
    config = bundle(consent={"cookie": "consent"})
    held = cookie_of(new_session(NOW - MINUTE, counter_bytes(1)))
    result = outcome("/", headers={"cookie": held}, config=config)
    [(op, cookie)] = changes(result, "set-cookie")
    assert result.decision.session is None and "Max-Age=0" in cookie
    assert changes(result, "cache-control") == [("set", "private, no-store")]
    kept = outcome("/", headers={"cookie": held + "; consent=yes"}, config=config)
    assert kept.decision.session is not None


def test_gpc_deletes_the_cookie_a_visitor_still_holds():
    held = cookie_of(new_session(NOW - MINUTE, counter_bytes(1)))
    [(_, cookie)] = changes(outcome("/", headers={"cookie": held, "sec-gpc": "1"}), "set-cookie")
    assert "Max-Age=0" in cookie


def test_without_keys_nobody_is_recognised_and_nothing_is_forgotten():
    result = outcome("/", keys=None)
    assert result.decision.session is None and changes(result, "set-cookie") == []


def test_a_crawler_on_a_page_without_slots_to_fill_gets_the_origins_headers():
    config = compile_bundle({"slots": {"hero": {}}, "fragments": {}, "rules": []}, source="test")
    result = outcome("/", headers={"user-agent": GOOGLEBOT_UA}, config=config)
    assert [h for h in result.headers if h[1] != "server-timing"] == []


def test_a_preview_shows_the_trace_and_leaves_the_session_alone():
    token = mint_token(KEYS, now=NOW, ttl=600)
    result = outcome(f"/products/pro/x?pz_preview={token}&pz_tier=high")
    [(_, trace)] = changes(result, "x-pz-trace")
    assert json.loads(trace)["preview"]["tier"] == "high"
    assert changes(result, "set-cookie") == [] and result.beacon is None
    assert changes(result, "cache-control") == [("set", "private, no-store")]


def test_the_beacon_carries_a_page_token_for_this_visitor_only():
    result = outcome("/products/pro/x", config=bundle(events={}))
    assert result.beacon.startswith('<script data-pz-page="')
    token = result.beacon.split('"')[1]
    page = verify(token, result.decision.session.visitor_id, KEYS, NOW)
    assert page.path == "/products/pro/x"
    assert outcome("/products/pro/x", config=bundle(events={}), document=False).beacon is None
    assert outcome("/products/pro/x", config=bundle(events={"beacon": False})).beacon is None


def test_decision_ids_come_from_the_injected_randomness():
    one = outcome("/", config=bundle(events={}), seed=3)
    again = outcome("/", config=bundle(events={}), seed=3)
    assert one.beacon == again.beacon
    assert one.beacon != outcome("/", config=bundle(events={}), seed=4).beacon


def test_headers_of_an_untouched_page_are_only_server_timing():
    config = compile_bundle({"slots": {"hero": {}}, "fragments": {}, "rules": []}, source="test")
    decision = outcome("/", config=config, keys=None).decision
    assert personal_headers(decision, None, secure=True, forget=False, preview=None) == []


@pytest.mark.parametrize("name", ["cdn-cache-control", "cloudflare-cdn-cache-control", "vercel-cdn-cache-control",
                                  "surrogate-control", "edge-control", "x-accel-expires", "expires"])
def test_headers_that_let_a_shared_cache_store_the_page_are_deleted(name):
    result = outcome("/products/pro/x", origin_headers=("content-type", name, "surrogate-key"))
    assert changes(result, name) == [("delete", "")]
    assert changes(result, "surrogate-key") == [] and changes(result, "content-type") == []


def test_an_untouched_page_keeps_them():
    config = compile_bundle({"slots": {"hero": {}}, "fragments": {}, "rules": []}, source="test")
    result = outcome("/", config=config, keys=None, origin_headers=("cdn-cache-control",))
    assert changes(result, "cdn-cache-control") == []
