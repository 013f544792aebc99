"""The events endpoint's answer to one POST (intentedge/events/endpoint.py), on plain data."""

from __future__ import annotations

import json

import pytest

from intentedge import compile_bundle
from intentedge.events.batch import EventRejected
from intentedge.events.endpoint import accept, admit, is_events_path, rejection
from intentedge.events.rate_limit import EventBudget
from intentedge.session import COOKIE_NAME, dump, load, new_session
from intentedge.visitor import visitor_of

from tests.core.builders import GOOGLEBOT_UA, HOST, KEYS, MINUTE, NOW, context, counter_bytes, valid_config

BUNDLE = compile_bundle({**valid_config(), "events": {"beacon": False, "max_events": 3, "rate_per_minute": 3}}, source="test")
SESSION = new_session(NOW - MINUTE, counter_bytes(5))
COOKIE = f"{COOKIE_NAME}={dump(SESSION, KEYS)}"


def post(headers=None, keys=KEYS, bundle=BUNDLE):
    ctx = context("/__pz/events", headers={"cookie": COOKIE, "origin": f"https://{HOST}", **(headers or {})})
    return ctx, visitor_of(ctx, keys)


def body(*events) -> bytes:
    return json.dumps({"v": 1, "events": list(events)}).encode()


def test_the_path_is_the_configs():
    assert is_events_path(BUNDLE, "/__pz/events") and not is_events_path(BUNDLE, "/__pz/other")
    assert not is_events_path(compile_bundle(valid_config(), source="t"), "/__pz/events")


@pytest.mark.parametrize("headers, keys, reason", [
    ({"origin": "https://evil.example"}, KEYS, "cross_origin"),
    ({}, None, "no_session"),
    ({"sec-gpc": "1"}, KEYS, "no_consent"),
    ({"user-agent": GOOGLEBOT_UA}, KEYS, "no_consent"),
    ({"cookie": ""}, KEYS, "no_session"),
])
def test_only_a_recognised_visitor_of_the_site_may_post(headers, keys, reason):
    ctx, visitor = post(headers, keys)
    with pytest.raises(EventRejected) as refused:
        admit(ctx, visitor, BUNDLE)
    assert refused.value.status == 403 and json.loads(refused.value.body())["error"] == reason


def test_an_accepted_batch_becomes_a_line_and_a_cookie_when_the_session_changed():
    ctx, visitor = post()
    session = admit(ctx, visitor, BUNDLE)
    done = accept(ctx, session, BUNDLE, body({"type": "cart_add", "productId": "p1", "quantity": 1, "value": 10}),
                  keys=KEYS, budget=EventBudget(3, 3, 3), forwarding=True, random_bytes=counter_bytes(1))
    assert done.status == 202 and json.loads(done.body) == {"accepted": 1, "forwarded": True}
    line = json.loads(done.line)
    assert [event["type"] for event in line["events"]] == ["cart_add"]
    [(name, cookie)] = done.headers
    assert name == "set-cookie"
    assert load(cookie.split(";")[0].split("=", 1)[1], KEYS, NOW).cart_items == 1
    assert json.loads(done.log)["types"] == {"cart_add": 1}


def test_views_leave_the_cookie_alone():
    ctx, visitor = post()
    done = accept(ctx, admit(ctx, visitor, BUNDLE), BUNDLE, body({"type": "page_view", "url": "/"}), keys=KEYS,
                  budget=EventBudget(3, 3, 3), forwarding=False, random_bytes=counter_bytes(1))
    assert done.status == 202 and done.headers == [] and json.loads(done.body)["forwarded"] is False


def test_refusals_are_outcomes_with_their_status():
    ctx, visitor = post()
    session = admit(ctx, visitor, BUNDLE)
    budget = EventBudget(3, 3, 3)
    bad = accept(ctx, session, BUNDLE, b"not json", keys=KEYS, budget=budget, forwarding=True,
                 random_bytes=counter_bytes(1))
    assert bad.status == 400 and bad.line is None
    views = body(*[{"type": "page_view", "url": "/"}] * 3)
    assert accept(ctx, session, BUNDLE, views, keys=KEYS, budget=budget, forwarding=True,
                  random_bytes=counter_bytes(1)).status == 202
    limited = accept(ctx, session, BUNDLE, body({"type": "page_view", "url": "/"}), keys=KEYS, budget=budget,
                     forwarding=True, random_bytes=counter_bytes(1))
    assert limited.status == 429 and limited.headers[0][0] == "retry-after" and int(limited.headers[0][1]) >= 1


def test_a_forged_page_token_is_refused():
    ctx, visitor = post()
    data = json.dumps({"v": 1, "page": "k1.x.y", "events": [{"type": "page_view", "url": "/"}]}).encode()
    done = accept(ctx, admit(ctx, visitor, BUNDLE), BUNDLE, data, keys=KEYS, budget=EventBudget(3, 3, 3),
                  forwarding=True, random_bytes=counter_bytes(1))
    assert done.status == 400 and json.loads(done.body)["error"] == "page"


def test_a_rejection_carries_retry_after_only_when_it_says():
    assert rejection(EventRejected(413, "too_large", "x")).headers == []
    assert rejection(EventRejected(429, "rate_limited", "x", retry_after=4)).headers == [("retry-after", "4")]
