"""The traffic generator: how it reads a personalized page, how its visitors and their choices follow
from (seed, index) alone, the tier each segment's pages reach (core's page_view and decide on the demo
config, as the Worker runs them), and the purchase probability. The last tests run it against a small fake
HTTP server that checks the CLIENT's mechanics only (cookies followed, request bodies as
core/intentedge/events/batch.py parses them), and `intentedge traffic` through click's runner; the
Worker's side, end to end, is tested in tests/worker."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from itertools import pairwise
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from intentedge import RequestContext, RequestData, compile_bundle, decide
from intentedge_jobs import traffic
from intentedge_jobs.cli import cli
from intentedge_jobs.configfile import load_config
from intentedge_jobs.traffic import (Page, Slot, page_events, page_from_html, plan_visitor, purchase_probability,
                                     run, visitor_cookie)
from intentedge.session import SessionKeys, cookie_value, dump, load, set_cookie_header
from intentedge.visitor import page_view

KEYS_SPEC = "t1:" + "k" * 32
KEYS = SessionKeys.parse(KEYS_SPEC)
# The demo's holdout on the product pages' promo, compiled by core as the Worker compiles it.
BUNDLE_RULE = compile_bundle({
    "slots": {"promo": {"fallback": "promo-newsletter"}},
    "fragments": {"promo-newsletter": {"html": "n"}, "promo-lens-bundle": {"html": "b"}},
    "rules": [{"id": "bundle-on-products", "slot": "promo", "fragment": "promo-lens-bundle", "holdout": 50}],
}, source="test").rules[0]

SCRIPT = ('<script data-pz-page="tok.abc-_9" data-pz-events="/custom/events">'
          'if (a < b) { x("<a href=\'/no\'>") }</script>')


# --- reading the page ----------------------------------------------------------------------

@pytest.mark.parametrize("html, expected", [
    ('<section data-personalized-region="hero" data-pz-rule="onboarding" data-pz-variant="hero-onboarding">'
     '<h2>Hi</h2><p><a class="cta" href="/guides/">finder</a></p></section>' + SCRIPT,
     Page("tok.abc-_9", "/custom/events", (Slot("hero", "onboarding", "hero-onboarding", "/guides/"),))),
    # the wrapper of before/after/replace: the slot name is data-pz-slot, the slot element itself is unmarked
    ('<aside data-personalized-region="promo"><div data-pz-variant="control" style="display:contents" '
     'data-pz-slot="promo" data-pz-rule="bundle-on-products"><p>news</p></div><a href="/outside/">x</a></aside>'
     + SCRIPT,
     Page("tok.abc-_9", "/custom/events", (Slot("promo", "bundle-on-products", "control", None),))),
    # attributes in any order; a nested element of the same tag does not end the slot early
    (('<div data-pz-variant="promo-local" data-pz-rule="local-pickup" data-personalized-region="promo">'
      '<div>Free pickup</div><p><a href="/stores/?a=1&amp;b=2">stores</a></p></div>'
      '<div data-personalized-region="hero" data-pz-rule="fallback" data-pz-variant="hero-welcome">w</div>'),
     Page(None, None, (Slot("promo", "local-pickup", "promo-local", "/stores/?a=1&b=2"),
                       Slot("hero", "fallback", "hero-welcome", None)))),
    # unmarked slots (no data-pz-rule) are not exposures; tags inside the beacon's source are not markup
    (('<section data-personalized-region="hero">origin</section>'
      '<script data-pz-page="t" data-pz-events="">document.write(\'<div data-pz-rule="x" data-pz-slot="y">\')'
      '</script>'),
     Page("t", None, ())),
], ids=["marked-slot", "display-contents-wrapper", "attribute-order-and-nesting", "unmarked-and-script-text"])
def test_page_from_html(html, expected):
    assert page_from_html(f"<!doctype html><html><body>{html}</body></html>") == expected


def test_the_first_marked_element_of_a_slot_wins():
    html = ('<div data-personalized-region="hero" data-pz-rule="a" data-pz-variant="f1"></div>'
            '<div data-personalized-region="hero" data-pz-rule="b" data-pz-variant="f2"></div>')
    assert page_from_html(html).slots == (Slot("hero", "a", "f1"),)


PAGE = Page("tok", "/e", (Slot("hero", "onboarding", "hero-onboarding", "/guides/"), Slot("promo", "fallback", "n")))


@pytest.mark.parametrize("page, click_draw, expected", [
    (PAGE, 0.9, [{"type": "page_view", "url": "/p/"}, {"type": "exposure", "slot": "hero"},
                 {"type": "exposure", "slot": "promo"}]),
    (PAGE, 0.01, [{"type": "page_view", "url": "/p/"}, {"type": "exposure", "slot": "hero"},
                  {"type": "exposure", "slot": "promo"}, {"type": "cta_click", "slot": "hero", "url": "/guides/"}]),
    # without the beacon's token there is no exposure nor click, only the page view
    (Page(None, None, PAGE.slots), 0.01, [{"type": "page_view", "url": "/p/"}]),
], ids=["no-click", "click-on-the-linked-slot", "no-token"])
def test_page_events(page, click_draw, expected):
    assert page_events("/p/", page, click_draw) == expected


# --- visitors follow from (seed, index) ----------------------------------------------------

def test_a_visitor_is_a_function_of_seed_and_index():
    assert plan_visitor(7, 12) == plan_visitor(7, 12)
    assert plan_visitor(7, 12) != plan_visitor(8, 12)
    ids = [plan_visitor(7, i).visitor_id for i in range(1000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", visitor_id) for visitor_id in ids)
    assert len(set(ids)) == 1000
    # pinned: changing how visitors are derived moves every visitor between holdouts and choices
    assert ids[:2] == ["U9kvreUlta9-rYZjoRsB9Q", "759YYgQUXRQt7LQjJrkeag"]
    assert [(plan_visitor(7, i).segment, plan_visitor(7, i).purchase_draw) for i in (0, 1)] == [
        ("medium", 0.1711409389376164), ("low", 0.07316294522472899)]


def test_segments_share_the_visitors():
    plans = [plan_visitor(7, i) for i in range(1000)]
    segments = Counter(plan.segment for plan in plans)
    assert 650 < segments["low"] < 750
    assert 120 < segments["medium"] < 180 and 120 < segments["high"] < 180   # ~100 sessions per tier at least
    low_returning = sum(plan.returning for plan in plans if plan.segment == "low")
    assert 0.25 < low_returning / segments["low"] < 0.35
    assert all(plan.returning for plan in plans if plan.segment != "low")


def test_holdout_membership_is_known_before_the_run():
    held_out = [BUNDLE_RULE.is_held_out(plan_visitor(7, i).visitor_id) for i in range(1000)]
    assert held_out == [BUNDLE_RULE.is_held_out(plan_visitor(7, i).visitor_id) for i in range(1000)]
    assert 430 < sum(held_out) < 570


@pytest.mark.parametrize("segment, returning, visits, stage, pages", [
    ("low", False, 1, 0, 0), ("low", True, 2, 1, 3), ("medium", True, 4, 3, 8), ("high", True, 4, 3, 8),
], ids=["first-visit", "returning-at-product", "medium", "high"])
def test_the_minted_cookie_carries_the_visitor(segment, returning, visits, stage, pages):
    plan = next(p for p in (plan_visitor(7, i) for i in range(100))
                if (p.segment, p.returning) == (segment, returning))
    now = time.time()
    session = load(visitor_cookie(plan, KEYS, now), KEYS, now)
    assert (session.visitor_id, session.visits, session.stage, session.pages) == (plan.visitor_id, visits, stage, pages)
    assert 0 < now - session.last_seen < 30 * 60   # the same session continues: the stage holds


# The demo's config, compiled as the Worker compiles it.
DEMO = compile_bundle(load_config(traffic.ROOT / "demo" / "config.toml"), source="demo/config.toml")
# Every page a journey can reach, and the cart_add the shop posts before /cart/.
JOURNEY = ["/", "/products/{product}/", "/guides/", "cart_add", "/cart/", "/checkout/"]
# The tier of the journey's pages after the first; the first is the segment itself.
LATER_TIER = {"low": "low", "medium": "medium", "high": "medium"}


def journey(plan, gap: float) -> list[tuple[str, float]]:
    """The (tier, score) of each page of the longest journey, decided as the Worker decides it (core's
    page_view advance, then decide) for a visitor who loads a page every `gap` seconds."""
    now = 1_800_000_000.0
    session = load(visitor_cookie(plan, KEYS, now), KEYS, now)
    pages = []
    for step in JOURNEY:
        if step == "cart_add":   # the events endpoint's session update
            price = traffic.PRODUCTS[plan.product]
            event = {"type": "cart_add", "productId": plan.product, "quantity": 1, "value": price}
            session = DEMO.signals.record(session, event, DEMO.products)
            continue
        context = RequestContext(RequestData("http://shop.test" + step.format(product=plan.product), now=now))
        session = page_view(session, DEMO.signals, context, now, None)
        decision = decide(DEMO, context, session, None, now=now)
        pages.append((decision.trace["tier"], decision.trace["score"]))
        session, now = decision.session, now + gap
    return pages


@pytest.mark.parametrize("gap", [0, 1, 10], ids=["same-second", "1s-apart", "slow-worker-10s"])
def test_each_segment_reaches_its_tier_on_the_demo(gap):
    for plan in (plan_visitor(7, i) for i in range(400)):
        tiers = [tier for tier, _ in journey(plan, gap)]
        assert tiers == [plan.segment] + [LATER_TIER[plan.segment]] * (len(tiers) - 1), plan


@pytest.mark.parametrize("segment, idle, first, later", [
    ("medium", 5, (68, 69), (64, 67)),
    ("medium", 45, (76, 77), (64, 67)),
    ("high", 150, (92, 93), (64, 67)),    # 120 s and more: the time vector in full
    ("high", 600, (92, 93), (64, 67)),
], ids=["medium-shortest-idle", "medium-longest-idle", "high-shortest-idle", "high-longest-idle"])
def test_the_deep_sessions_stay_clear_of_the_thresholds(segment, idle, first, later):
    """Both ends of the idle ranges, same-second pages: several points from 60 and 85 on every page."""
    deep = next(plan for plan in (plan_visitor(7, i) for i in range(100)) if plan.segment == segment)
    scores = [score for _, score in journey(replace(deep, idle=idle), 0)]
    assert first[0] <= scores[0] < first[1]
    assert all(later[0] <= score < later[1] for score in scores[1:]), scores


@pytest.mark.parametrize("seen, expected", [
    ({}, 0.1),
    ({"bundle-on-products": "promo-lens-bundle"}, 0.2),
    ({"bundle-on-products": "control"}, 0.1),
    ({"local-pickup": "promo-local"}, 0.1),              # planted lift 0
    ({"onboarding": "hero-onboarding"}, 0.1),            # no lift entry: no effect
    ({"fallback": "promo-newsletter"}, 0.1),
    ({"bundle-on-products": "promo-lens-bundle", "premium-offer": "hero-premium"}, 0.6),
], ids=["nothing", "fired", "held-out", "zero-lift", "no-lift-entry", "fallback", "lifts-multiply"])
def test_purchase_probability(seen, expected):
    lifts = {"bundle-on-products": 1.0, "local-pickup": 0.0, "premium-offer": 2.0}
    assert purchase_probability(seen, 0.1, lifts) == pytest.approx(expected)
    assert purchase_probability(seen, 0.1, lifts, 1.5) == pytest.approx(expected * 1.5)   # the segment's factor


def test_purchase_probability_is_capped():
    assert purchase_probability({"r": "f"}, 0.5, {"r": 9.0}) == traffic.MAX_PURCHASE_P


# --- the client's mechanics, against a fake server (not the Worker) ------------------------

@dataclass
class Received:
    visitor: str
    method: str
    path: str
    cookies: str
    content_type: str
    body: bytes


class FakeSite(ThreadingHTTPServer):
    """Just enough of a personalized site to exercise the client: signed cookies re-issued on every
    response, marked slots, a token per page, /guides/ without the beacon. It says nothing of the Worker."""

    daemon_threads = True

    def __init__(self, fail_posts: bool = False):
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.fail_posts = fail_posts
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.cookie_errors: list[str] = []
        self.last_set: dict[str, str] = {}       # visitor -> the pz value last sent to them
        self.last_token: dict[str, str] = {}     # visitor -> the token of the page last served to them
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def by_visitor(self) -> dict[str, list[Received]]:
        visitors: dict[str, list[Received]] = {}
        for request in self.received:
            visitors.setdefault(request.visitor, []).append(request)
        return visitors


def _token(visitor: str, path: str) -> str:
    return "tok." + hashlib.sha256(f"{visitor}{path}".encode()).hexdigest()[:40]


class _FakeHandler(BaseHTTPRequestHandler):
    server: FakeSite

    def do_GET(self) -> None:
        visitor, session = self._visitor()
        marked = {"hero": ('<section data-personalized-region="hero" data-pz-rule="onboarding" '
                           'data-pz-variant="hero-onboarding"><a class="cta" href="/guides/">go</a></section>')}
        if self.path.startswith("/products/"):
            variant = "control" if BUNDLE_RULE.is_held_out(visitor) else "promo-lens-bundle"
            marked["promo"] = (f'<aside data-personalized-region="promo"><div data-pz-slot="promo" '
                               f'data-pz-rule="bundle-on-products" data-pz-variant="{variant}" '
                               f'style="display:contents"><p>promo</p></div></aside>')
        script = ""
        if self.path != "/guides/":   # the beacon is off on this page
            token = self.server.last_token[visitor] = _token(visitor, self.path)
            script = f'<script data-pz-page="{token}" data-pz-events="/custom/events">beacon()</script>'
        body = f"<html><body>{''.join(marked.values())}{script}</body></html>".encode()
        self._reply(200, "text/html; charset=utf-8", body, visitor, session)

    def do_POST(self) -> None:
        visitor, session = self._visitor()
        if self.server.fail_posts:
            return self._reply(503, "application/json", b"{}", visitor, session)
        accepted = len(json.loads(self.server.received[-1].body)["events"])
        self._reply(202, "application/json", json.dumps({"accepted": accepted}).encode(), visitor, session)

    def _visitor(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cookies = self.headers.get("Cookie", "")
        value = cookie_value(cookies)
        session = load(value, KEYS, time.time())
        visitor = session.visitor_id if session else "?"
        with self.server.lock:
            if visitor in self.server.last_set and value != self.server.last_set[visitor]:
                self.server.cookie_errors.append(f"{self.command} {self.path}: stale pz cookie")
            self.server.received.append(Received(visitor, self.command, self.path, cookies,
                                                 self.headers.get("Content-Type", ""), body))
        return visitor, session

    def _reply(self, status, content_type, body, visitor, session) -> None:
        value = dump(session.evolve(pages=session.pages + 1), KEYS)
        with self.server.lock:
            self.server.last_set[visitor] = value
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", set_cookie_header(value, secure=False))
        self.send_header("Set-Cookie", "seen=1; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def site():
    site = FakeSite()
    yield site
    site.shutdown()
    site.server_close()


def test_fake_site_cookies_are_followed(site):
    truth = run(site.url, 30, 5, concurrency=4, base=0.3, keys=KEYS)
    assert site.cookie_errors == []
    assert all(visit.recognised for visit in truth.visits)
    for visitor, requests in site.by_visitor().items():
        assert visitor != "?", "a request without a valid session cookie"
        assert requests[0].method == "GET" and requests[0].path == "/"
        assert all("seen=1" in request.cookies for request in requests[1:])   # every cookie is kept


def test_fake_site_request_bodies_follow_the_protocol(site):
    truth = run(site.url, 30, 5, concurrency=4, base=0.3, keys=KEYS)
    purchases = cart_adds = 0
    for visitor, requests in site.by_visitor().items():
        plan = next(visit.plan for visit in truth.visits if visit.plan.visitor_id == visitor)
        for previous, request in pairwise(requests):
            if request.method != "POST":
                continue
            assert request.path == "/custom/events"   # from data-pz-events
            payload = json.loads(request.body)
            assert payload["v"] == 1 and 1 <= len(payload["events"]) <= 50
            types = [event["type"] for event in payload["events"]]
            if request.content_type.startswith("text/plain"):   # the beacon, right after its page
                assert previous.method == "GET"
                assert types[0] == "page_view" and payload["events"][0]["url"] == previous.path
                if previous.path == "/guides/":
                    assert "page" not in payload and types == ["page_view"]
                else:
                    assert payload["page"] == _token(visitor, previous.path)
                    assert set(types[1:]) <= {"exposure", "cta_click"} and "exposure" in types
            else:   # the site's own code: no token
                assert request.content_type == "application/json" and "page" not in payload
                [event] = payload["events"]
                price = traffic.PRODUCTS[plan.product]
                if event["type"] == "cart_add":
                    cart_adds += 1
                    assert event == {"type": "cart_add", "productId": plan.product, "quantity": 1, "value": price}
                else:
                    purchases += 1
                    assert event == {"type": "purchase", "value": price}
    assert purchases == truth.conversions > 0
    assert cart_adds == sum(visit.cart_added for visit in truth.visits)


def test_fake_site_truth_counts_the_arms(site):
    truth = run(site.url, 40, 5, concurrency=4, base=0.3, keys=KEYS)
    bundle = truth.rules["bundle-on-products"]
    assert bundle.treated.visitors + bundle.control.visitors == 40
    assert bundle.control.visitors == sum(BUNDLE_RULE.is_held_out(v.plan.visitor_id) for v in truth.visits)
    for visit in truth.visits:
        held_out = visit.seen["bundle-on-products"] == "control"
        factor = traffic.DEFAULT_TIER_FACTORS[visit.plan.segment]
        assert visit.p == pytest.approx(min(traffic.MAX_PURCHASE_P, 0.3 * factor * (1 if held_out else 2)))
    segments = truth.segments
    assert sum(arm.visitors for arm in segments.values()) == 40
    assert sum(arm.conversions for arm in segments.values()) == truth.conversions
    assert all(segments[s].visitors == sum(v.plan.segment == s for v in truth.visits) for s in segments)
    assert truth.failed == 0 and truth.statuses["GET 200"] > 0
    assert truth.rules["onboarding"].lift is None and truth.rules["local-pickup"].treated.visitors == 0


def test_fake_site_runs_are_the_same_whatever_the_concurrency(site):
    one = run(site.url, 20, 9, concurrency=1, base=0.3, keys=KEYS)
    first = site.by_visitor()
    site.received.clear()
    site.last_set.clear()
    many = run(site.url, 20, 9, concurrency=6, base=0.3, keys=KEYS)
    assert [(v.seen, v.p, v.purchased) for v in one.visits] == [(v.seen, v.p, v.purchased) for v in many.visits]

    def requests_of(visitors):
        return {visitor: [(r.method, r.path, r.body) for r in requests] for visitor, requests in visitors.items()}
    assert requests_of(first) == requests_of(site.by_visitor())


def run_command(*args: str):
    """`intentedge traffic ARGS`, through click's runner."""
    return CliRunner().invoke(cli, ["traffic", *args])


def test_fake_site_command_line_writes_the_truth(site, tmp_path):
    path = tmp_path / "truth.json"
    result = run_command("--url", site.url, "--visitors", "12", "--keys", KEYS_SPEC, "--truth", str(path),
                         "--lift", "onboarding=0.5", "--tier-factor", "high=3")
    assert result.exit_code == 0, result.output
    truth = json.loads(path.read_text())
    assert truth["totals"]["visitors"] == 12 and len(truth["visitors"]) == 12
    assert truth["lifts"] == {"bundle-on-products": 1.0, "local-pickup": 0.0, "onboarding": 0.5}
    assert truth["tier_factors"] == {"low": 1.0, "medium": 1.5, "high": 3.0}
    assert list(truth["segments"]) == ["low", "medium", "high"]
    assert truth["segments"]["high"]["tier_factor"] == 3.0
    assert sum(segment["visitors"] for segment in truth["segments"].values()) == 12
    assert sum(segment["conversions"] for segment in truth["segments"].values()) == truth["totals"]["conversions"]
    assert {visitor["segment"] for visitor in truth["visitors"]} <= {"low", "medium", "high"}
    assert truth["http"]["failed"] == 0
    assert "12 visitors" in result.stdout and "bundle-on-products" in result.stdout
    assert "12/12 visitors (100 %)" in result.stderr   # progress, a plain line when not on a terminal


def test_fake_site_failing_requests_fail_the_command(tmp_path):
    site = FakeSite(fail_posts=True)
    try:
        result = run_command("--url", site.url, "--visitors", "5", "--keys", KEYS_SPEC)
    finally:
        site.shutdown()
        site.server_close()
    assert result.exit_code == 1
    assert "POST 503" in result.stdout and "Error: " in result.stderr


@pytest.mark.parametrize("option, value, message", [
    ("--lift", "bundle-on-products", "expected RULE=NUMBER"),
    ("--tier-factor", "high=x", "expected SEGMENT=NUMBER"),
], ids=["lift", "tier-factor"])
def test_a_malformed_pair_is_a_usage_error(option, value, message):
    result = run_command("--url", "http://127.0.0.1:9", option, value)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--keys", "nope"], "Error: SESSION_KEYS must be"),
    (["--visitors", "0"], "Error: visitors and concurrency must be at least 1"),
    (["--base", "1.5"], "Error: base: a probability in [0, 1] expected"),
    (["--tier-factor", "vip=2"], "Error: tier factor of 'vip': a segment expected (low, medium, high)"),
    (["--tier-factor", "high=-1"], "Error: tier factor of 'high': at least 0 expected"),
], ids=["bad-keys", "no-visitors", "base-range", "unknown-segment", "negative-factor"])
def test_bad_arguments_exit_2_before_any_request(args, message):
    result = run_command("--url", "http://127.0.0.1:9", *args)   # nothing listens on port 9
    assert result.exit_code == 2
    assert message in result.stderr


def test_python_m_runs_the_same_command():
    """Scripts and docs run `python -m intentedge_jobs.traffic`: it is `intentedge traffic`."""
    done = subprocess.run([sys.executable, "-m", "intentedge_jobs.traffic", "--url", "http://127.0.0.1:9",
                           "--visitors", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "Error: visitors and concurrency must be at least 1, got 0 and 4\n"
