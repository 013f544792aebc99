"""Synthetic visitors through a running Worker, with a known ground truth to check the events against.

    intentedge traffic --url http://127.0.0.1:8787 --visitors 600 --seed 7 \\
        [--concurrency 4] [--base 0.1] [--lift bundle-on-products=1.0 ...] [--tier-factor high=2.5 ...]
        [--keys ID:SECRET] [--truth FILE]
    truth = run(url, visitors=600, seed=7)

(`python -m intentedge_jobs.traffic` runs the same command.)

A visitor is made from (seed, index) alone (`plan_visitor`): its id, a session cookie
minted for that id, so the Worker's holdouts (a hash of rule id and visitor id) are
fixed in advance, and every random choice of its journey, drawn up front. A run makes
the same requests whatever the thread scheduling.

Each visitor belongs to a segment, named for the intent tier its pages reach with the
demo's scoring (demo/config.toml: high = 85, medium = 60, "low" below both):

    low     70 %   a first visit (pages=0), or for 30 % of them a return visit at stage
                   "product" (visits=2, pages=3, idle 60-900 s): every page scores below 60
    medium  15 %   a deep session: visits=4, pages=8, stage "checkout", 3 searches, one
                   category, the product in the cart; its previous page was 5-45 s ago:
                   about 68-77 on the first page, 64-67 on the next ones
    high    15 %   the same session, but its previous page was read for 150-600 s: 92 on
                   the first page (the time vector in full), medium on the next ones

Only the first page of a "high" visitor is high: the Worker's dwell is the time since the
previous page, about 0 s between the journey's pages, and without it (25 of 100 points)
the other vectors add up to at most 75. The report ranks a session by its highest tier.

The journey, each page a GET through the Worker with a cookie jar that follows its Set-Cookie:

    /   ->   /products/alpha-pro/ or /products/beta-mini/ (1/2 each)   ->   /guides/ (40 %)
    then, with probability p:          cart_add, /cart/, /checkout/, purchase
    else, for 25 % of the others:      cart_add, /cart/            (an abandoned cart)

After every page the visitor posts what the beacon would (text/plain, with the page's token):
a page_view, an exposure per marked slot and, on 15 % of pages, a cta_click on a slot that
holds a link (the journey does not follow it). A page without the beacon's script gets a
page_view only, without a token. cart_add (quantity 1, value = price) and purchase
(value = price) are posted as the site's own code would: application/json, no token.

    p = min(0.95, base * tier_factor[segment] * product of (1 + lift[rule]) over the rules seen
                                                  fired before the decision)

"Fired" is a marked slot whose variant is not "control"; a rule without a lift has no effect.
The truth counts, per rule, the visitors seen treated or held out on those pages and how
many of each bought, and per segment its visitors and buyers.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import click

from intentedge.decision import CONTROL, FALLBACK
from intentedge.session import COOKIE_NAME, SessionKeys, load

from .cookies import mint, session_keys, stage_index
from .paths import ROOT
from .progress import Progress

DEFAULT_EVENTS_PATH = "/__pz/events"
DEFAULT_LIFTS = {"bundle-on-products": 1.0, "local-pickup": 0.0}
PRODUCTS = {"alpha-pro": 2499.0, "beta-mini": 649.0}   # the demo shop's prices
SEGMENT_SHARES = {"low": 0.70, "medium": 0.15, "high": 0.15}
DEFAULT_TIER_FACTORS = {"low": 1.0, "medium": 1.5, "high": 2.5}
DEEP_IDLE = {"medium": (5, 45), "high": (150, 600)}   # seconds since the deep session's previous page
RETURNING_SHARE = 0.30   # of the low segment
GUIDES_RATE = 0.40
ABANDON_RATE = 0.25
CLICK_RATE = 0.15
MAX_PURCHASE_P = 0.95
MAX_PAGES = 5            # /, a product, /guides/, /cart/, /checkout/
MAX_FAILURE_RATE = 0.01
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) intentedge-traffic/1"


# --- the page ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """A slot the Worker marked: what it shows, and the first link inside it."""

    name: str
    rule: str
    variant: str
    link: str | None = None


@dataclass(frozen=True)
class Page:
    """What a visitor's client reads from a personalized page."""

    token: str | None                  # data-pz-page; None when the beacon is off
    events_path: str | None            # data-pz-events
    slots: tuple[Slot, ...]            # in document order, one per slot name


def page_from_html(text: str) -> Page:
    parser = _PageParser()
    parser.feed(text)
    parser.close()
    return parser.page()


class _Open:
    """A marked element whose end tag has not been seen yet."""

    def __init__(self, tag: str, slot: Slot):
        self.tag, self.slot, self.depth = tag, slot, 1


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.token = self.events_path = None
        self.marked: list[_Open] = []       # every marked element, in document order
        self.open: list[_Open] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script" and "data-pz-page" in values and self.token is None:
            self.token, self.events_path = values["data-pz-page"], values.get("data-pz-events") or None
        for element in self.open:
            element.depth += element.tag == tag
        if tag == "a" and values.get("href") and self.open and self.open[-1].slot.link is None:
            innermost = self.open[-1]
            innermost.slot = Slot(innermost.slot.name, innermost.slot.rule, innermost.slot.variant, values["href"])
        name = values.get("data-pz-slot") or values.get("data-personalized-region")
        if "data-pz-rule" in values and name:
            element = _Open(tag, Slot(name, values["data-pz-rule"], values.get("data-pz-variant", "")))
            self.marked.append(element)
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for element in self.open:
            element.depth -= element.tag == tag
        self.open = [element for element in self.open if element.depth > 0]

    def page(self) -> Page:
        slots = {}
        for element in self.marked:
            slots.setdefault(element.slot.name, element.slot)
        return Page(self.token, self.events_path, tuple(slots.values()))


def page_events(path: str, page: Page, click_draw: float) -> list[dict]:
    """The beacon's events for one page: page_view, exposures and maybe a click (needs a token)."""
    events = [{"type": "page_view", "url": path}]
    if page.token is None:
        return events
    events += [{"type": "exposure", "slot": slot.name} for slot in page.slots]
    linked = [slot for slot in page.slots if slot.link]
    if linked and click_draw < CLICK_RATE:
        slot = linked[int(click_draw / CLICK_RATE * len(linked))]
        events.append({"type": "cta_click", "slot": slot.name, "url": slot.link})
    return events


# --- the visitor ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """Everything random about one visitor, drawn from its own generator before the first request."""

    index: int
    visitor_id: str
    segment: str             # "low", "medium" or "high": the tier its pages reach (module docstring)
    returning: bool          # visits >= 2: every medium and high visitor, and 30 % of the low ones
    idle: int                # seconds since the minted cookie's last page
    product: str
    guides: bool
    purchase_draw: float     # buys when below p
    abandons: bool           # a non-buyer who adds to the cart and leaves at /cart/
    clicks: tuple[float, ...]   # one draw per page: a cta_click when below CLICK_RATE


def plan_visitor(seed: int, index: int) -> Plan:
    digest = hashlib.sha256(f"intentedge-traffic/{seed}/{index}".encode()).digest()
    # 16 bytes in urlsafe base64: 22 characters, like the ids the Worker makes
    visitor_id = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    rng = random.Random(int.from_bytes(digest[16:], "big"))
    segment = _segment(rng.random())
    if segment in DEEP_IDLE:
        returning, idle = True, rng.randint(*DEEP_IDLE[segment])
    else:
        returning = rng.random() < RETURNING_SHARE
        idle = rng.randint(60, 900) if returning else rng.randint(1, 30)
    return Plan(index=index, visitor_id=visitor_id, segment=segment, returning=returning, idle=idle,
                product=rng.choice(sorted(PRODUCTS)), guides=rng.random() < GUIDES_RATE,
                purchase_draw=rng.random(), abandons=rng.random() < ABANDON_RATE,
                clicks=tuple(rng.random() for _ in range(MAX_PAGES)))


def _segment(draw: float) -> str:
    """The segment a uniform draw in [0, 1) falls in, by SEGMENT_SHARES in order."""
    for segment, share in SEGMENT_SHARES.items():
        if draw < share:
            return segment
        draw -= share
    return segment   # float rounding at the top end


def visitor_cookie(plan: Plan, keys: SessionKeys, now: float) -> str:
    """The `pz` cookie value the visitor arrives with."""
    if plan.segment in DEEP_IDLE:   # well into a checkout, the product in the cart (see the docstring)
        return mint(keys, now=now, visitor_id=plan.visitor_id, idle=plan.idle, pages=8, visits=4,
                    stage=stage_index("checkout"), cart_value=PRODUCTS[plan.product], cart_items=1,
                    categories=("cameras",), products=(plan.product,), searches=3, purchases=0)
    if plan.returning:
        return mint(keys, now=now, visitor_id=plan.visitor_id, idle=plan.idle, pages=3, visits=2,
                    stage=stage_index("product"), cart_value=0.0, cart_items=0, categories=("cameras",),
                    products=(plan.product,), searches=0, purchases=0)
    return mint(keys, now=now, visitor_id=plan.visitor_id, idle=plan.idle, pages=0, visits=1, stage=0,
                cart_value=0.0, cart_items=0, categories=(), products=(), searches=0, purchases=0)


def purchase_probability(seen: dict[str, str], base: float, lifts: dict[str, float],
                         factor: float = 1.0) -> float:
    """base times the segment's factor times (1 + lift) for every rule seen fired, capped at MAX_PURCHASE_P."""
    p = base * factor
    for rule, variant in seen.items():
        if rule != FALLBACK and variant != CONTROL:
            p *= 1 + lifts.get(rule, 0.0)
    return min(p, MAX_PURCHASE_P)


@dataclass
class Visit:
    """What happened to one visitor."""

    plan: Plan
    seen: dict[str, str] = field(default_factory=dict)   # rule -> variant on the pages before the decision;
                                                          # slots showing a plain fallback are left out
    p: float = 0.0
    purchased: bool = False
    cart_added: bool = False
    recognised: bool = False   # the Worker kept the minted visitor id
    pages: int = 0
    pages_without_token: int = 0
    statuses: Counter = field(default_factory=Counter)   # "GET 200", "POST 202", "POST error"


class _Browser:
    """One visitor's HTTP client: a cookie jar that follows Set-Cookie, and a tally of statuses."""

    def __init__(self, url: str, cookies: dict[str, str], statuses: Counter, timeout: float):
        parts = urlsplit(url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port = parts.hostname, parts.port
        self.cookies, self.statuses, self.timeout = cookies, statuses, timeout

    def get(self, path: str) -> tuple[int, str]:
        status, body = self._request("GET", path, None, {"Accept": "text/html"})
        return status, body.decode("utf-8", "replace")

    def post(self, path: str, payload: dict, content_type: str) -> int:
        body = json.dumps(payload).encode()
        return self._request("POST", path, body, {"Content-Type": content_type, "Origin": self.origin})[0]

    def _request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        headers = {"User-Agent": USER_AGENT, **headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection = self._connection(self._host, self._port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.statuses[f"{method} error"] += 1
            return 0, b""
        finally:
            connection.close()
        self.statuses[f"{method} {response.status}"] += 1
        self._store(response.headers.get_all("Set-Cookie") or [])
        return response.status, data

    def _store(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            pair, _, attributes = header.partition(";")
            name, sep, value = pair.strip().partition("=")
            if not sep or not name:
                continue
            expired = any(a.strip().lower().replace(" ", "") == "max-age=0" for a in attributes.split(";"))
            if expired or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value


def visit(plan: Plan, url: str, *, keys: SessionKeys, base: float, lifts: dict[str, float],
          tier_factors: dict[str, float] | None = None, events_path: str = DEFAULT_EVENTS_PATH,
          timeout: float = 30) -> Visit:
    """One visitor's whole journey through the Worker at `url`. `tier_factors` (segment -> factor on
    the purchase probability) default to DEFAULT_TIER_FACTORS."""
    tier_factors = DEFAULT_TIER_FACTORS if tier_factors is None else tier_factors
    result = Visit(plan)
    browser = _Browser(url, {COOKIE_NAME: visitor_cookie(plan, keys, time.time())}, result.statuses, timeout)

    def view(path: str) -> dict[str, str]:
        nonlocal events_path
        status, text = browser.get(path)
        if not 200 <= status < 300:
            return {}
        page = page_from_html(text)
        events_path = page.events_path or events_path
        result.pages += 1
        result.pages_without_token += page.token is None
        payload = {"v": 1, "events": page_events(path, page, plan.clicks[result.pages - 1])}
        if page.token is not None:
            payload["page"] = page.token
        browser.post(events_path, payload, "text/plain;charset=UTF-8")   # as navigator.sendBeacon
        return {slot.rule: slot.variant for slot in page.slots}

    def site_event(event: dict) -> None:
        browser.post(events_path, {"v": 1, "events": [event]}, "application/json")

    price = PRODUCTS[plan.product]
    for path in ["/", f"/products/{plan.product}/"] + (["/guides/"] if plan.guides else []):
        for rule, variant in view(path).items():
            if rule != FALLBACK and (variant != CONTROL or rule not in result.seen):   # fired wins over control
                result.seen[rule] = variant
    result.p = purchase_probability(result.seen, base, lifts, tier_factors.get(plan.segment, 1.0))
    result.purchased = plan.purchase_draw < result.p
    if result.purchased or plan.abandons:
        result.cart_added = True
        site_event({"type": "cart_add", "productId": plan.product, "quantity": 1, "value": price})
        view("/cart/")
    if result.purchased:
        view("/checkout/")
        site_event({"type": "purchase", "value": price})
    session = load(browser.cookies.get(COOKIE_NAME), keys, time.time())
    result.recognised = session is not None and session.visitor_id == plan.visitor_id
    return result


# --- the truth -----------------------------------------------------------------------------

@dataclass
class Arm:
    """One side of a rule: its visitors, how many bought, and how many were expected to."""

    visitors: int = 0
    conversions: int = 0
    expected: float = 0.0    # the sum of their purchase probabilities

    def add(self, visit: Visit) -> None:
        self.visitors += 1
        self.conversions += visit.purchased
        self.expected += visit.p

    @property
    def rate(self) -> float | None:
        return self.conversions / self.visitors if self.visitors else None


@dataclass
class RuleTruth:
    lift: float | None       # planted; None: no effect on purchases
    treated: Arm = field(default_factory=Arm)
    control: Arm = field(default_factory=Arm)


@dataclass
class Truth:
    """What a run generated, and how the Worker answered."""

    url: str
    seed: int
    base: float
    lifts: dict[str, float]
    visits: list[Visit]
    seconds: float = 0.0
    tier_factors: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIER_FACTORS))

    @property
    def rules(self) -> dict[str, RuleTruth]:
        rules = {rule: RuleTruth(lift) for rule, lift in self.lifts.items()}
        for visit in self.visits:
            for rule, variant in visit.seen.items():
                truth = rules.setdefault(rule, RuleTruth(self.lifts.get(rule)))
                (truth.control if variant == CONTROL else truth.treated).add(visit)
        return dict(sorted(rules.items()))

    @property
    def segments(self) -> dict[str, Arm]:
        """Each segment's visitors and buyers, in SEGMENT_SHARES order."""
        segments = {segment: Arm() for segment in SEGMENT_SHARES}
        for visit in self.visits:
            segments[visit.plan.segment].add(visit)
        return segments

    @property
    def statuses(self) -> dict[str, int]:
        return dict(sorted(sum((visit.statuses for visit in self.visits), Counter()).items()))

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(n for key, n in self.statuses.items() if not key.split()[1].startswith("2"))

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requests if self.requests else 1.0

    @property
    def conversions(self) -> int:
        return sum(visit.purchased for visit in self.visits)

    @property
    def revenue(self) -> float:
        return sum(PRODUCTS[visit.plan.product] for visit in self.visits if visit.purchased)

    def to_json(self) -> dict:
        return {
            "url": self.url, "seed": self.seed, "base": self.base, "lifts": self.lifts,
            "tier_factors": self.tier_factors, "seconds": round(self.seconds, 3),
            "totals": {
                "visitors": len(self.visits),
                "returning": sum(visit.plan.returning for visit in self.visits),
                "unrecognised": sum(not visit.recognised for visit in self.visits),
                "pages": sum(visit.pages for visit in self.visits),
                "pages_without_token": sum(visit.pages_without_token for visit in self.visits),
                "cart_adds": sum(visit.cart_added for visit in self.visits),
                "conversions": self.conversions,
                "revenue": self.revenue,
            },
            "rules": {rule: {"lift": truth.lift,
                             "treated": _arm_json(truth.treated), "control": _arm_json(truth.control)}
                      for rule, truth in self.rules.items()},
            "segments": {segment: {"tier_factor": self.tier_factors.get(segment, 1.0), **_arm_json(arm)}
                         for segment, arm in self.segments.items()},
            "http": {"requests": self.requests, "failed": self.failed, "statuses": self.statuses},
            "visitors": [{"index": v.plan.index, "id": v.plan.visitor_id, "segment": v.plan.segment,
                          "returning": v.plan.returning,
                          "product": v.plan.product, "seen": v.seen, "p": round(v.p, 6),
                          "purchased": v.purchased, "recognised": v.recognised} for v in self.visits],
        }


def _arm_json(arm: Arm) -> dict:
    return {"visitors": arm.visitors, "conversions": arm.conversions, "expected": round(arm.expected, 3)}


# --- the run -------------------------------------------------------------------------------

def run(url: str, visitors: int, seed: int, *, concurrency: int = 4, base: float = 0.1,
        lifts: dict[str, float] | None = None, keys: SessionKeys | None = None,
        events_path: str = DEFAULT_EVENTS_PATH, timeout: float = 30, progress: bool = False,
        tier_factors: dict[str, float] | None = None) -> Truth:
    """`visitors` visitors of `seed` through the Worker at `url`. `lifts` default to DEFAULT_LIFTS;
    `tier_factors` add to or override DEFAULT_TIER_FACTORS; `keys` default to the Worker's dev keys
    ($SESSION_KEYS or .dev.vars). ValueError for bad arguments."""
    lifts = dict(DEFAULT_LIFTS if lifts is None else lifts)
    tier_factors = {**DEFAULT_TIER_FACTORS, **(tier_factors or {})}
    _check(url, visitors, concurrency, base, lifts, tier_factors)
    keys = keys or session_keys(None, ROOT)
    url = url.rstrip("/")
    results: list[Visit | None] = [None] * visitors
    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool, \
            Progress(visitors, label="visitors", show_pos=True, hidden=not progress) as bar:
        futures = {pool.submit(visit, plan_visitor(seed, index), url, keys=keys, base=base, lifts=lifts,
                               tier_factors=tier_factors, events_path=events_path, timeout=timeout): index
                   for index in range(visitors)}
        for done, future in enumerate(as_completed(futures), 1):
            results[futures[future]] = future.result()
            bar.update(done, f"  {done}/{visitors} visitors ({done * 100 // visitors} %)")
    return Truth(url, seed, base, lifts, results, time.monotonic() - started, tier_factors)


def _check(url: str, visitors: int, concurrency: int, base: float, lifts: dict[str, float],
           tier_factors: dict[str, float]) -> None:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError(f"url: expected http(s)://host:port, got {url!r}")
    if visitors < 1 or concurrency < 1:
        raise ValueError(f"visitors and concurrency must be at least 1, got {visitors} and {concurrency}")
    if not 0 <= base <= 1:
        raise ValueError(f"base: a probability in [0, 1] expected, got {base}")
    for rule, lift in lifts.items():
        if lift < -1:
            raise ValueError(f"lift of {rule!r}: at least -1 expected (no purchases), got {lift}")
    for segment, factor in tier_factors.items():
        if segment not in SEGMENT_SHARES:
            raise ValueError(f"tier factor of {segment!r}: a segment expected ({', '.join(SEGMENT_SHARES)})")
        if not factor >= 0:   # NaN too
            raise ValueError(f"tier factor of {segment!r}: at least 0 expected, got {factor}")


def summary(truth: Truth) -> str:
    """A few lines for a person: volume, failures, conversions and each rule's arms."""
    n = len(truth.visits)
    statuses = ", ".join(f"{key} x{count:,}" for key, count in truth.statuses.items())
    lines = [(f"{n:,} visitors in {truth.seconds:.1f} s: {truth.requests:,} requests, "
              f"{truth.failed:,} failed ({statuses})"),
             f"purchases: {truth.conversions:,} ({truth.conversions / n:.1%}), revenue ${truth.revenue:,.0f}"]
    unrecognised = sum(not visit.recognised for visit in truth.visits)
    if unrecognised:
        lines.append(f"warning: {unrecognised} visitor(s) lost their minted id: do --keys match the Worker's?")
    lines.append(f"{'segment':<22}{'factor':>6}{'visitors':>9}{'bought':>9}")
    for segment, arm in truth.segments.items():
        lines.append(f"{segment:<22}{truth.tier_factors.get(segment, 1.0):>6.2f}{arm.visitors:>9}{_rate(arm):>9}")
    lines.append(f"{'rule':<22}{'lift':>6}{'treated':>9}{'bought':>9}{'control':>9}{'bought':>9}")
    for rule, rule_truth in truth.rules.items():
        lift = "-" if rule_truth.lift is None else f"{rule_truth.lift:.2f}"
        lines.append(f"{rule:<22}{lift:>6}{rule_truth.treated.visitors:>9}{_rate(rule_truth.treated):>9}"
                     f"{rule_truth.control.visitors:>9}{_rate(rule_truth.control):>9}")
    return "\n".join(lines)


def _rate(arm: Arm) -> str:
    return "-" if arm.rate is None else f"{arm.rate:.1%}"


class _NamedNumber(click.ParamType):
    """NAME=NUMBER, as (name, number)."""

    def __init__(self, name: str):
        self.name = f"{name}=NUMBER"

    def convert(self, value, param, ctx) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        key, sep, number = value.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            return key, float(number)
        except ValueError:
            self.fail(f"expected {self.name}, got {value!r}", param, ctx)


class _BadRun(click.ClickException):
    """Arguments `run` refuses: a usage error (exit 2), printed as one `Error: ...` line."""

    exit_code = 2


@click.command("traffic")
@click.option("--url", required=True, help="The running Worker, e.g. http://127.0.0.1:8787.")
@click.option("--visitors", type=int, default=600, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--concurrency", type=int, default=4, show_default=True)
@click.option("--base", type=float, default=0.1, show_default=True, help="Purchase probability without any lift.")
@click.option("--lift", "lifts", type=_NamedNumber("RULE"), multiple=True, metavar="RULE=LIFT",
              help="Relative lift of a rule shown fired (repeatable); adds to or overrides "
                   + ", ".join(f"{r}={v}" for r, v in DEFAULT_LIFTS.items()) + ".")
@click.option("--tier-factor", "tier_factors", type=_NamedNumber("SEGMENT"), multiple=True,
              metavar="SEGMENT=FACTOR",
              help="Factor on the purchase probability of a segment's visitors (repeatable); overrides "
                   + ", ".join(f"{s}={v}" for s, v in DEFAULT_TIER_FACTORS.items()) + ".")
@click.option("--keys", help="SESSION_KEYS of the Worker (default: $SESSION_KEYS, then .dev.vars).")
@click.option("--truth", type=click.Path(path_type=Path), help="Write the ground truth here as JSON.")
def traffic_command(url: str, visitors: int, seed: int, concurrency: int, base: float,
                    lifts: tuple[tuple[str, float], ...], tier_factors: tuple[tuple[str, float], ...],
                    keys: str | None, truth: Path | None) -> None:
    """Synthetic visitors through a running Worker, with a known ground truth to check the events against."""
    try:
        result = run(url, visitors, seed, concurrency=concurrency, base=base,
                     lifts={**DEFAULT_LIFTS, **dict(lifts)}, keys=session_keys(keys, ROOT), progress=True,
                     tier_factors=dict(tier_factors))
    except ValueError as exc:   # SessionKeyError too
        raise _BadRun(str(exc)) from None
    if truth:
        truth.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    click.echo(summary(result))
    if result.failure_rate > MAX_FAILURE_RATE:
        raise click.ClickException(f"{result.failed} of {result.requests} requests failed "
                                   f"(more than {MAX_FAILURE_RATE:.0%})")


if __name__ == "__main__":
    traffic_command(prog_name="python -m intentedge_jobs.traffic")
