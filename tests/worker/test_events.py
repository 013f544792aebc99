"""The events endpoint in the real Worker, in front of the demo shop, forwarding to a real collector:
what a page carries for the beacon, what is accepted or refused, what reaches the sink, how an event
changes the next page, and what happens when the sink fails."""

from __future__ import annotations

import http.client
import json
import re
import uuid
from urllib.parse import urlsplit

import pytest

from intentedge.events.beacon import SOURCE as BEACON_SOURCE
from intentedge.session import COOKIE_NAME

EVENTS = "/__pz/events"
TAG = re.compile(r'<script data-pz-page="([A-Za-z0-9._-]+)" data-pz-events="([^"]+)">')
MARKER = re.compile(r'data-personalized-region="(\w+)" data-pz-rule="([^"]+)" data-pz-variant="([^"]+)"')


def new_visitor() -> str:
    return uuid.uuid4().hex[:22]


def visit(demo, path: str, cookie: str) -> tuple[str, str, dict[str, tuple[str, str]], str]:
    """GET `path` as the visitor: (page token, events path, slot -> (rule, variant), the new cookie)."""
    reply = demo.worker.get(path, headers={"cookie": cookie})
    assert reply.status == 200
    tag = TAG.search(reply.text)
    assert tag, reply.text[-500:]
    slots = {slot: (rule, variant) for slot, rule, variant in MARKER.findall(reply.text)}
    return tag.group(1), tag.group(2), slots, _cookie(reply) or cookie


def post(demo, batch, cookie: str, headers: dict | None = None):
    data = batch if isinstance(batch, bytes) else json.dumps(batch).encode()
    return demo.worker.request("POST", EVENTS, body=data,
                               headers={"cookie": cookie, "content-type": "text/plain", **(headers or {})})


def settle(demo, mint_cookie) -> None:
    """Wait until earlier tests' deliveries are done, so that an injected failure meets ours."""
    visitor = new_visitor()
    assert post(demo, {"v": 1, "events": [{"type": "page_view"}]}, mint_cookie(visitor)).status == 202
    demo.wait_for_lines(lambda ls: any(l["userId"] == visitor for l in ls))


def _cookie(reply) -> str | None:
    header = reply.headers.get("set-cookie")
    return header.split(";")[0] if header else None


def test_a_personalized_page_carries_the_beacon_and_its_token(demo, mint_cookie):
    reply = demo.worker.get("/products/alpha-pro/", headers={"cookie": mint_cookie(new_visitor())})
    tag = TAG.search(reply.text)
    assert tag and tag.group(2) == EVENTS
    assert reply.text.count("<script data-pz-page") == 1
    assert reply.text.index(tag.group(0)) > reply.text.index('data-personalized-region="promo"')
    # after the origin's last byte: browsers run a script there as the body's last element
    assert reply.text.endswith(f"{tag.group(0)}{BEACON_SOURCE}</script>")
    assert reply.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize("headers", [
    {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    {"sec-gpc": "1"},
    {"sec-fetch-dest": "empty"},     # HTML the page fetched itself: it has its beacon already
    {"sec-fetch-dest": "iframe"},
], ids=["crawler", "gpc", "fetched", "iframe"])
def test_no_beacon_for_visitors_who_are_not_recognised_nor_in_html_that_is_not_the_page(demo, headers):
    reply = demo.worker.get("/products/alpha-pro/", headers=headers)
    assert reply.status == 200 and "data-pz-page" not in reply.text
    assert demo.worker.get("/products/alpha-pro/", headers={"sec-fetch-dest": "document"}).text.count(
        "data-pz-page") == 1


def test_accepted_events_reach_the_sink_enriched_with_the_pages_decision(demo, mint_cookie):
    visitor = new_visitor()
    token, _, slots, cookie = visit(demo, "/products/alpha-pro/", mint_cookie(visitor))
    reply = post(demo, {"v": 1, "page": token, "events": [
        {"type": "page_view", "url": "/products/alpha-pro/"},
        {"type": "exposure", "slot": "promo"},
        {"type": "cta_click", "slot": "hero", "url": "/guides/"},
        {"type": "search", "query": "alice@example.com"}]}, cookie)
    assert reply.status == 202, reply.text
    assert json.loads(reply.text) == {"accepted": 4, "forwarded": True}
    assert reply.headers["cache-control"] == "no-store"
    [line] = demo.wait_for_lines(lambda lines: any(l["userId"] == visitor for l in lines))[-1:]
    assert line["sessionId"].startswith(f"{visitor}.")
    assert {slot: (c["rule"], c["variant"]) for slot, c in line["page"]["choices"].items()} == slots
    exposure, click = line["events"][1:3]
    assert (exposure["rule"], exposure["variant"]) == slots["promo"]
    assert (click["rule"], click["variant"], click["url"]) == (*slots["hero"], "/guides/")
    assert {e["decisionId"] for e in line["events"]} == {line["page"]["id"]}
    assert "alice" not in json.dumps(line)


def test_a_held_out_visitor_is_recorded_as_a_control_exposure(demo, mint_cookie):
    """bundle-on-products holds out half of the visitors: look for one on each side."""
    seen = {}
    for _ in range(40):
        visitor = new_visitor()
        token, _, slots, cookie = visit(demo, "/products/beta-mini/", mint_cookie(visitor))
        side = "control" if slots["promo"] == ("bundle-on-products", "control") else "fired"
        if side not in seen:
            reply = post(demo, {"v": 1, "page": token, "events": [{"type": "exposure", "slot": "promo"}]}, cookie)
            # an exposure changes no session: no cookie that could overwrite the next page's
            assert reply.status == 202 and reply.headers.get("set-cookie") is None
            seen[side] = (visitor, slots["promo"])
        if len(seen) == 2:
            break
    assert seen["fired"][1] == ("bundle-on-products", "promo-lens-bundle")
    lines = demo.wait_for_lines(lambda ls: {seen[s][0] for s in seen} <= {l["userId"] for l in ls})
    variants = {l["userId"]: l["events"][0]["variant"] for l in lines if l["userId"] in (seen["control"][0],
                                                                                      seen["fired"][0])}
    assert variants == {seen["control"][0]: "control", seen["fired"][0]: "promo-lens-bundle"}


def test_a_cart_add_changes_the_next_pages_decision(demo, mint_cookie):
    cookie = mint_cookie(new_visitor(), pages=3, idle=30)
    _, _, slots, cookie = visit(demo, "/", cookie)
    assert slots["hero"][0] != "premium-offer"
    reply = post(demo, {"v": 1, "events": [{"type": "cart_add", "productId": "alpha-pro", "quantity": 1}]}, cookie)
    assert reply.status == 202
    _, _, slots, _ = visit(demo, "/", _cookie(reply))
    assert slots["hero"] == ("premium-offer", "hero-premium")


@pytest.mark.parametrize("batch, reason", [
    (b"not json", "json"),
    ({"v": 2, "events": [{"type": "page_view"}]}, "version"),
    ({"v": 1, "events": [{"type": "teleport"}]}, "type"),
    ({"v": 1, "events": [{"type": "exposure", "slot": "promo"}]}, "page"),
    ({"v": 1, "page": "dev1.e30.AAAA", "events": [{"type": "page_view"}]}, "page"),
])
def test_bad_batches_get_a_400_with_the_reason(demo, mint_cookie, batch, reason):
    reply = post(demo, batch, mint_cookie(new_visitor()))
    assert (reply.status, json.loads(reply.text)["error"]) == (400, reason)
    assert reply.headers.get("set-cookie") is None


def test_a_token_from_another_visitors_page_is_refused(demo, mint_cookie):
    token, _, _, _ = visit(demo, "/", mint_cookie(new_visitor()))
    reply = post(demo, {"v": 1, "page": token, "events": [{"type": "page_view"}]}, mint_cookie(new_visitor()))
    assert reply.status == 400 and "does not match this visitor" in json.loads(reply.text)["detail"]


def test_size_session_and_origin_checks(demo, mint_cookie):
    cookie = mint_cookie(new_visitor())
    big = json.dumps({"v": 1, "events": [{"type": "page_view", "url": "/" + "x" * 2000}] * 9}).encode()
    assert post(demo, big, cookie).status == 413
    assert post(demo, {"v": 1, "events": [{"type": "page_view"} for _ in range(51)]}, cookie).status == 413
    assert json.loads(post(demo, {"v": 1, "events": [{"type": "page_view"}]}, "").text)["error"] == "no_session"
    forged = f"{COOKIE_NAME}=dev1.e30.AAAA"
    assert post(demo, {"v": 1, "events": [{"type": "page_view"}]}, forged).status == 403
    cross = post(demo, {"v": 1, "events": [{"type": "page_view"}]}, cookie, {"origin": "https://evil.example"})
    assert (cross.status, json.loads(cross.text)["error"]) == (403, "cross_origin")
    gpc = post(demo, {"v": 1, "events": [{"type": "page_view"}]}, cookie, {"sec-gpc": "1"})
    assert (gpc.status, json.loads(gpc.text)["error"]) == (403, "no_consent")


@pytest.mark.parametrize("pieces, status", [(40, 413), (2, 202)], ids=["too-large", "small"])
def test_a_chunked_body_without_a_length_is_read_up_to_the_limit(demo, mint_cookie, pieces, status):
    piece = json.dumps({"type": "page_view", "url": "/" + "x" * 400}) + ","
    chunks = [b'{"v": 1, "events": [', *[piece.encode()] * pieces, b'{"type": "page_view"}]}']
    parts = urlsplit(demo.worker.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", EVENTS, body=iter(chunks), encode_chunked=True,
                     headers={"cookie": mint_cookie(new_visitor()), "content-type": "text/plain"})
        reply = conn.getresponse()
        assert reply.status == status, reply.read()
    finally:
        conn.close()


def test_a_visitor_over_the_rate_limit_gets_429_others_do_not(demo, mint_cookie):
    cookie = mint_cookie(new_visitor())
    batch = {"v": 1, "events": [{"type": "page_view"}] * 50}
    assert [post(demo, batch, cookie).status for _ in range(2)] == [202, 202]
    limited = post(demo, batch, cookie)
    # 100 of 120 taken, 50 more asked: 30 short at 2 a second (the clock moved a little since)
    assert limited.status == 429 and 1 <= int(limited.headers["retry-after"]) <= 15
    assert post(demo, batch, mint_cookie(new_visitor())).status == 202


def test_a_failed_delivery_is_retried_and_arrives(demo, mint_cookie):
    visitor = new_visitor()
    settle(demo, mint_cookie)
    posts = demo.collector.posts
    demo.collector.fail_next(1)
    assert post(demo, {"v": 1, "events": [{"type": "purchase", "value": 649}]}, mint_cookie(visitor)).status == 202
    lines = demo.wait_for_lines(lambda ls: any(l["userId"] == visitor for l in ls))
    assert [l["userId"] for l in lines].count(visitor) == 1
    assert demo.collector.posts >= posts + 2      # the refused post, then the retry that landed


def test_a_sink_that_keeps_failing_loses_the_batch_with_a_count_and_a_log_line(demo, mint_cookie):
    visitor = new_visitor()
    settle(demo, mint_cookie)
    mark = demo.worker.log_mark()
    demo.collector.fail_next(3)   # every attempt: the first and both retries
    reply = post(demo, {"v": 1, "events": [{"type": "purchase", "value": 1}]}, mint_cookie(visitor))
    assert reply.status == 202    # answered before the first attempt even failed
    assert "events_dropped" not in demo.worker.log()[mark:]
    demo.worker.wait_for_log('"event":"events_dropped","count":1,"reason":"HTTP 503","attempts":3', since=mark)
    # the sink works again: the next batch gets through, the dropped one is not there
    after = new_visitor()
    post(demo, {"v": 1, "events": [{"type": "page_view"}]}, mint_cookie(after))
    lines = demo.wait_for_lines(lambda ls: any(l["userId"] == after for l in ls))
    assert visitor not in {l["userId"] for l in lines}


def test_without_events_in_the_config_there_is_no_beacon_and_the_path_is_the_origins(worker, origin, mint_cookie):
    page = worker.get("/", headers={"cookie": mint_cookie()})
    assert b"data-pz-rule" in page.body and b"data-pz-page" not in page.body
    before = origin.hits(EVENTS, "POST")
    reply = worker.request("POST", EVENTS, body=b'{"v":1}', headers={"content-type": "application/json"})
    assert reply.status != 202 and "accepted" not in reply.text
    assert origin.hits(EVENTS, "POST") == before + 1


def test_a_flood_of_rotating_visitors_from_one_client_meets_the_client_limit(demo, mint_cookie):
    """Any GET mints a visitor, so one client can post as thousands of them: its connecting IP has a
    budget of its own ([events] client_rate_per_minute, 1,200 by default), and refusals are counted
    in one log line."""
    flood = {"CF-Connecting-IP": "203.0.113.66"}
    forged = {"v": 1, "events": [{"type": "purchase", "value": 999_999}] * 50}
    mark = demo.worker.log_mark()
    statuses = []
    for _ in range(30):   # 1,500 events from 30 fresh visitors of one client
        cookie = _cookie(demo.worker.get("/", headers={"cookie": "", **flood}))
        statuses.append(post(demo, forged, cookie, headers=flood))
    accepted = [reply.status for reply in statuses].count(202)
    assert accepted == 24 and statuses[-1].status == 429
    assert "from this network" in json.loads(statuses[-1].body)["detail"]
    assert int(statuses[-1].headers["retry-after"]) >= 1
    demo.worker.wait_for_log('"event":"events_rate_limited"', since=mark)
    line = next(json.loads(l) for l in demo.worker.log()[mark:].splitlines() if '"events_rate_limited"' in l)
    assert line["refused"]["client"] >= 50 and "203.0.113" not in json.dumps(line)   # counted, no address logged
    other = {"CF-Connecting-IP": "198.51.100.9"}   # another client is not held back by it
    cookie = _cookie(demo.worker.get("/", headers={"cookie": "", **other}))
    assert post(demo, forged, cookie, headers=other).status == 202


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_a_body_in_another_encoding_is_refused(demo, mint_cookie, encoding):
    body = json.dumps({"v": 1, "events": [{"type": "page_view"}]}).encode(encoding)
    reply = post(demo, body, mint_cookie(new_visitor()))
    assert reply.status == 400 and json.loads(reply.body)["error"] == "json"


def test_an_event_type_that_is_an_array_is_a_400_not_a_500(demo, mint_cookie):
    reply = post(demo, {"v": 1, "events": [{"type": ["purchase"]}]}, mint_cookie(new_visitor()))
    assert reply.status == 400 and json.loads(reply.body)["error"] == "type"
