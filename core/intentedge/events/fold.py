"""Folding visitor events into profiles: a small, mergeable summary per visitor.

    batch_from_json(obj)                          -> Batch, or EventError naming the reason
    Folder(signals, products).fold(tag, events)   -> Partial    (tag = session_tag(session id))
    merge(a, b)                                   -> Partial    associative, commutative; EMPTY is neutral
    profile_from_partial(partial, updated_at=t)   -> Profile
    clamps(partial)                               -> Clamps     what the bounds on claims kept out of it

A Partial holds sums, counts, maxima and a cart transform, never averages, so
partials computed anywhere (per batch, per spill partition, per worker of a
distributed engine, per edge session) combine in any grouping and any order.
All arithmetic is on integers (money in cents, time in whole seconds), so merging
is exact, not merely close: float sums would depend on the grouping.

What the profile counts:

    pages         page_view events
    sessions      distinct session ids
    dwell_avg     seconds between consecutive page_views of one session, each gap capped
                  at session.DWELL_CAP_SECONDS, averaged over the gaps
    interactions  cta_click, cart_add and search events;  searches: search events
    stage         the furthest funnel stage: the page rule of the event's url, or the stage
                  its type implies (cart_add -> "cart", purchase -> "purchase",
                  trial_start -> "trial"), where the bundle's stages name it
    categories    affinity weight per category: page_view and cta_click 1, cart_add 3,
                  purchase 5; the category comes from the page rule of the url (a fixed
                  `category` or a `category` group), else from the catalog entry of the
                  product (its `category` field)
    cart          a running cart: cart_add adds, cart_remove subtracts (never below zero),
                  purchase empties it; `value` is the line's total in the events, else the
                  catalog price times the quantity
    purchases     purchase events, within the bounds on claims below
    trial         a trial_start event or a page rule with trial
    last_seen     the latest event

The page rules' `cart_add` and `purchase` flags are not applied: the event stream
says so itself (cart_add and purchase events), and applying both would count twice.

Bounds, per visitor, whatever the input: at most MAX_SESSIONS session entries and
MAX_CATEGORIES category weights. Both are bottom-k samples by a stable 64-bit hash:
a partial keeps the entries with the smallest hashes. That choice depends only on
the set of names, never on the order or grouping of merges (an entry dropped once
has k smaller hashes beside it forever after), so merge stays exactly associative,
and the weights of the kept entries stay exact. Past the bound, `sessions` becomes
the k-minimum-values estimate of the distinct count, `dwell_avg` the average over
the sampled sessions, and the categories a deterministic sample of those seen.
The profile shows the TOP_CATEGORIES heaviest.

Bounds on claims. Events are what a browser says, and a visitor id costs one GET, so a flood
of forged purchases or values must not take a profile past what a real shopper reaches (a
rule on `purchases` or `cart_value` would give the forger its offer):

    a line (batch)  at most MAX_LINE_PURCHASES of its purchase events count (batch_from_json
                    marks the rest UNCOUNTED: they still empty the cart, set the stage and
                    weigh in categories, as any purchase does)
    a day           at most MAX_DAILY_PURCHASES purchases a visitor per UTC day of the events'
                    timestamps (the Worker stamps them with its own clock), on the visitor's
                    latest MAX_PURCHASE_DAYS days with purchases
    a cart line     its value, given or from the catalog, at most MAX_CART_VALUE
    the cart        at most MAX_CART_VALUE and MAX_CART_ITEMS in the profile

The per-day counts are a partial's `purchase_days`: each day's count saturates at the bound
(min(a + b, cap) is associative), and which days stay depends only on the set of days, as in
the samples above, so merge stays exact. `clamps` says what the bounds kept out, per visitor.

Order: one fold sorts its events by (timestamp, kind, ...). A session's dwell and the
cart are sequences, so a partial keeps their first and last instants and merge puts
the earlier partial first. For partials of disjoint time ranges (one sorted list cut
anywhere, or a session's batches sent one after the other) merge is exact: folding a
list equals merging the folds of its pieces. Where two partials of one session
overlap in time (its batches sent out of order), the gap that joins them counts as
0 s, and where two carts overlap (that, or one visitor's concurrent sessions) they
compose in order of their first event: dwell then differs by at most one capped gap
per overlapping merge, and the cart by the events applied out of order. Every other
field is exact in any case.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Mapping, NamedTuple, Sequence
from urllib.parse import urlsplit

from intentedge.events.vocabulary import (MAX_QUANTITY, MAX_STORED_TEXT, MAX_TIMESTAMP, MAX_URL, MAX_VALUE, LineError,
                                          encodable, read_batch, untyped)
from intentedge.profile import Profile
from intentedge.session import DWELL_CAP_SECONDS
from intentedge.signals import Signals

# Event kinds: every type of the vocabulary but exposure, which changes no profile. Their order
# is the order of events that share a second: a cart is filled before it is bought.
CART_ADD, CART_REMOVE, PURCHASE, PAGE_VIEW, SEARCH, CTA_CLICK, TRIAL_START = range(7)
FOLDED_TYPES = ("cart_add", "cart_remove", "purchase", "page_view", "search", "cta_click", "trial_start")
KINDS = {name: kind for kind, name in enumerate(FOLDED_TYPES)}
_IMPLIED_STAGE = {CART_ADD: "cart", PURCHASE: "purchase", TRIAL_START: "trial"}
_CATEGORY_WEIGHT = {CART_ADD: 3, PURCHASE: 5, PAGE_VIEW: 1, CTA_CLICK: 1}
_INTERACTIONS = frozenset({CART_ADD, SEARCH, CTA_CLICK})

MAX_SESSIONS = 32
MAX_CATEGORIES = 32
TOP_CATEGORIES = 8
MAX_NAME = 64                # category names, as the edge session keeps them
MAX_LINE_PURCHASES = 3       # purchase events of one batch (a stored line) that count
MAX_DAILY_PURCHASES = 5      # purchases a visitor has counted per UTC day of their timestamps
MAX_PURCHASE_DAYS = 366      # the latest days with purchases that a profile counts
MAX_CART_VALUE = 100_000     # money, in the site's currency: a cart line's value and the cart's
MAX_CART_ITEMS = 1_000
DAY = 86_400
_PAGE_CACHE = 65_536
_COUNT_CAP = 2**53 - 1       # what a JavaScript number holds exactly
UNCOUNTED = -1               # the quantity of a purchase that empties the cart but is not counted


# A batch that cannot be folded; `reason` is one short word for reports. The vocabulary's error:
# the fold reads further into a stored line (its events' fields) and says so the same way.
EventError = LineError


class Event(NamedTuple):
    """One validated event, by name. batch_from_json gives plain tuples of these fields in this
    order (cheaper by the million), and Folder.fold takes either. Sorting events sorts them by time."""

    timestamp: int          # epoch seconds
    kind: int               # CART_ADD ... TRIAL_START
    url: str = ""
    product: str = ""
    quantity: int = 1       # UNCOUNTED on a purchase past its line's MAX_LINE_PURCHASES
    cents: int = -1         # the line's value in cents; -1: not given


class Batch(NamedTuple):
    visitor_id: str
    session_id: str
    events: list[tuple]     # Event fields, in order
    unknown: list[str]      # types of the events skipped as unknown (each cut to MAX_NAME)


class Segment(NamedTuple):
    """The page views of one session: first and last instants, summed dwell and the gaps it sums."""

    first: int = -1         # -1: no page view yet
    last: int = -1
    dwell: int = 0
    gaps: int = 0


class Cart(NamedTuple):
    """The cart events of a partial as one transform, x -> c if reset else max(c, x + d), per
    dimension: the max-plus form that cart_add, cart_remove (floored at 0) and purchase
    (reset) all take and that composition keeps."""

    first: tuple[int, int]  # (timestamp, kind) of the first cart event
    last: tuple[int, int]
    reset: bool             # a purchase happened: what came before no longer counts
    value_floor: int        # cents
    value_delta: int        # 0 when reset
    items_floor: int
    items_delta: int

    @property
    def value(self) -> int:
        return self.value_floor if self.reset else max(self.value_floor, self.value_delta)

    @property
    def items(self) -> int:
        return self.items_floor if self.reset else max(self.items_floor, self.items_delta)


@dataclass(frozen=True, slots=True)
class Partial:
    pages: int = 0
    interactions: int = 0
    searches: int = 0
    purchases: int = 0                  # purchase events, counted or not (the profile counts purchase_days)
    stage: int = 0
    trial: bool = False
    last_seen: int = 0
    sessions: dict[int, Segment] = field(default_factory=dict)      # session tag -> its page views
    sessions_saturated: bool = False    # more than MAX_SESSIONS were seen: `sessions` is a sample
    categories: dict[str, int] = field(default_factory=dict)
    cart: Cart | None = None
    purchase_days: dict[int, int] = field(default_factory=dict)    # UTC day -> purchases counted, bounded


EMPTY = Partial()


class Clamps(NamedTuple):
    """What the bounds kept out of one visitor's profile; build-profiles sums them for its summary."""

    purchases: int          # purchase events not counted: past their line's MAX_LINE_PURCHASES, past
                            # MAX_DAILY_PURCHASES a day, or before the latest MAX_PURCHASE_DAYS days
    carts: int              # 1 if the cart's value or items were cut to MAX_CART_VALUE or MAX_CART_ITEMS

    def __add__(self, other: tuple) -> Clamps:
        """Field by field, so that a job can sum them."""
        return Clamps(*(a + b for a, b in zip(self, other)))


def session_tag(session_id: str) -> int:
    """A stable 64-bit stand-in for a session id: partials never hold the id itself."""
    return _hash64(session_id)


# --- parsing -------------------------------------------------------------------------------

def batch_from_json(obj: Any) -> Batch:
    """A batch from parsed JSON `{"userId", "sessionId", "events": [...]}` (vocabulary.read_batch);
    EventError if malformed.

    Events of unknown types are skipped and listed in `unknown`; anything else wrong in
    an event (a bad timestamp, NaN or huge numbers, strings too long) rejects the batch.
    A purchase event past the first MAX_LINE_PURCHASES of the line gets the quantity UNCOUNTED:
    no shop's batch holds more orders, so the fold counts it apart from the others.
    """
    visitor_id, session_id, raw_events = read_batch(obj)
    events: list[tuple] = []
    unknown: list[str] = []
    kinds, purchase, purchases, max_purchases = KINDS, PURCHASE, 0, MAX_LINE_PURCHASES
    for index, raw in enumerate(raw_events):
        name = raw.get("type") if type(raw) is dict else None     # as read_line checks it; a call per
        if type(name) is not str:                                 # event would slow the parse by ~7 %
            raise untyped(index)
        kind = kinds.get(name)
        if kind is None:
            unknown.append(name[:MAX_NAME])
            continue
        ts = raw.get("timestamp")
        if type(ts) is int:
            if not 0 <= ts <= MAX_TIMESTAMP:
                raise EventError("timestamp", f"event {index}: {ts!r} is not epoch seconds")
        else:
            ts = _timestamp(ts, index)
        url = raw.get("url")
        if type(url) is not str or len(url) > MAX_URL or not url.isascii():
            url = _text(url, MAX_URL, "url", index)
        product = raw.get("productId")
        if type(product) is not str or len(product) > MAX_STORED_TEXT or not product.isascii():
            product = _text(product, MAX_STORED_TEXT, "productId", index)
        if "query" in raw:
            _text(raw["query"], MAX_STORED_TEXT, "query", index)   # checked, never kept
        quantity = raw.get("quantity", 1)
        if type(quantity) is not int or not 0 <= quantity <= MAX_QUANTITY:
            if quantity is not None:
                raise EventError("number", f"event {index}: quantity must be an integer 0-{MAX_QUANTITY}")
            quantity = 1
        value = raw.get("value")
        if value is None:
            cents = -1
        elif (type(value) is float or type(value) is int) and 0 <= value < MAX_VALUE:   # NaN fails this too
            cents = round(value * 100)
        else:
            raise EventError("number", f"event {index}: value must be a number from 0 to {MAX_VALUE:.0f}")
        if kind == purchase:
            purchases += 1
            if purchases > max_purchases:
                quantity = UNCOUNTED
        events.append((ts, kind, url, product, quantity, cents))
    return Batch(visitor_id, session_id, events, unknown)


def _text(value: Any, limit: int, name: str, index: int) -> str:
    if value is None:
        return ""
    if type(value) is not str or len(value) > limit:
        raise EventError("string", f"event {index}: {name} must be a string of at most {limit} characters")
    if not value.isascii():
        encodable(value, "string", f"event {index}: {name}")
    return value


def _timestamp(value: Any, index: int) -> int:
    if type(value) is float:
        if not 0 <= value <= MAX_TIMESTAMP:     # NaN fails this too
            raise EventError("timestamp", f"event {index}: {value!r} is not epoch seconds")
        return int(value)
    if type(value) is str:
        return _iso_seconds(value, index)
    raise EventError("timestamp", f"event {index}: timestamp must be a number or an ISO 8601 string")


def _iso_seconds(text: str, index: int) -> int:
    try:
        if len(text) > 40:
            raise ValueError
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = math.floor(moment.timestamp())
    except (ValueError, OverflowError, OSError):
        raise EventError("timestamp", f"event {index}: {text[:40]!r} is not an ISO 8601 date-time") from None
    if not 0 <= seconds <= MAX_TIMESTAMP:
        raise EventError("timestamp", f"event {index}: {text!r} is out of range")
    return seconds


# --- folding -------------------------------------------------------------------------------

class Folder:
    """Folds events with a site's page signals and product catalog, compiled once."""

    def __init__(self, signals: Signals, products: Mapping[str, Mapping] | None = None):
        self.signals = signals
        stages = signals.stages
        self._implied = [stages.index(_IMPLIED_STAGE[k]) if _IMPLIED_STAGE.get(k) in stages else 0
                         for k in range(len(FOLDED_TYPES))]
        self._weights = [_CATEGORY_WEIGHT.get(k, 0) for k in range(len(FOLDED_TYPES))]
        self._product_category: dict[str, str] = {}
        self._product_cents: dict[str, int] = {}
        for pid, spec in (products or {}).items():
            category, price = spec.get("category"), spec.get("price")
            if isinstance(category, str) and category:
                self._product_category[pid] = category[:MAX_NAME]
            if type(price) in (int, float) and 0 <= price < MAX_VALUE:
                self._product_cents[pid] = round(price * 100)
        self._pages: dict[str, tuple[int, str, bool]] = {}

    def page(self, url: str) -> tuple[int, str, bool]:
        """(stage, category, trial) of the first page rule matching the url's path; (0, "", False) if none."""
        found = self._pages.get(url)
        if found is None:
            if len(self._pages) >= _PAGE_CACHE:
                self._pages.clear()
            found = self._pages[url] = self._match(url)
        return found

    def _match(self, url: str) -> tuple[int, str, bool]:
        try:
            path = urlsplit(url).path or "/"
        except ValueError:
            return 0, "", False
        for rule in self.signals.pages:
            match = rule.pattern.search(path)
            if match:
                groups = match.groupdict()
                category = groups.get("category") or rule.category or ""
                if not category and groups.get("product"):
                    category = self._product_category.get(groups["product"], "")
                return rule.stage or 0, category[:MAX_NAME], rule.trial
        return 0, "", False

    def fold(self, session: int, events: Iterable[Sequence]) -> Partial:
        """The partial of one session's events (any order; they are sorted here).

        `events` are Event tuples or plain sequences of the same fields (as read back from a spill file).
        """
        events = sorted(events)
        if not events:
            return EMPTY
        pages = interactions = searches = purchases = stage = 0
        trial = False
        first = last = -1
        dwell = gaps = 0
        categories: dict[str, int] = {}
        cart_first = cart_last = None
        reset = False
        value_floor = value_delta = items_floor = items_delta = 0
        days: dict[int, int] = {}
        implied, weights, cached, page = self._implied, self._weights, self._pages.get, self.page
        max_cents = MAX_CART_VALUE * 100
        product_category, product_cents = self._product_category, self._product_cents
        for ts, kind, url, product, quantity, cents in events:
            category = ""
            if url:
                page_stage, category, page_trial = cached(url) or page(url)
                if page_stage > stage:
                    stage = page_stage
                if page_trial:
                    trial = True
            if implied[kind] > stage:
                stage = implied[kind]
            if not category and product:
                category = product_category.get(product, "")
            if category and weights[kind]:
                categories[category] = categories.get(category, 0) + weights[kind]
            if kind == PAGE_VIEW:
                pages += 1
                if first < 0:
                    first = ts
                else:
                    gap = ts - last
                    dwell += gap if gap < DWELL_CAP_SECONDS else DWELL_CAP_SECONDS
                    gaps += 1
                last = ts
                continue
            if kind in _INTERACTIONS:
                interactions += 1
                if kind == SEARCH:
                    searches += 1
            elif kind == TRIAL_START:
                trial = True
            if kind <= PURCHASE:
                if cart_first is None:
                    cart_first = (ts, kind)
                cart_last = (ts, kind)
                if kind == PURCHASE:
                    purchases += 1
                    if quantity != UNCOUNTED:
                        day = ts // DAY
                        days[day] = days.get(day, 0) + 1
                    reset, value_floor, value_delta, items_floor, items_delta = True, 0, 0, 0, 0
                    continue
                if cents < 0:
                    cents = product_cents.get(product, 0) * quantity
                if cents > max_cents:
                    cents = max_cents
                if kind == CART_ADD:
                    value_floor += cents
                    items_floor += quantity
                    if not reset:
                        value_delta += cents
                        items_delta += quantity
                else:
                    value_floor = max(0, value_floor - cents)
                    items_floor = max(0, items_floor - quantity)
                    if not reset:
                        value_delta -= cents
                        items_delta -= quantity
        cart = None if cart_first is None else Cart(cart_first, cart_last, reset, value_floor, value_delta,
                                                    items_floor, items_delta)
        return Partial(pages, interactions, searches, purchases, stage, trial, events[-1][0],
                       {session: Segment(first, last, dwell, gaps)}, False, _bounded(categories), cart,
                       _latest_days(days) if days else days)


def _latest_days(days: dict[int, int]) -> dict[int, int]:
    """At most MAX_PURCHASE_DAYS days, the latest, each at most MAX_DAILY_PURCHASES. Like the
    bottom-k samples, which days stay depends only on the set of days, and a kept day was
    never cut anywhere, so its saturated count is exact in any grouping of merges."""
    cap = MAX_DAILY_PURCHASES
    kept = days if len(days) <= MAX_PURCHASE_DAYS else sorted(days)[-MAX_PURCHASE_DAYS:]
    return {day: days[day] if days[day] < cap else cap for day in kept}


def _bounded(categories: dict[str, int]) -> dict[str, int]:
    if len(categories) <= MAX_CATEGORIES:
        return categories
    return {name: categories[name] for name in sorted(categories, key=_name_order)[:MAX_CATEGORIES]}


# --- merging -------------------------------------------------------------------------------

def merge(a: Partial, b: Partial) -> Partial:
    """The partial of both partials' events. Associative and commutative (see the module docstring)."""
    if a is EMPTY:
        return b
    if b is EMPTY:
        return a
    if len(b.sessions) > len(a.sessions):
        a, b = b, a                       # copy the larger map, walk the smaller one
    sessions = dict(a.sessions)
    for tag, segment in b.sessions.items():
        mine = sessions.get(tag)
        sessions[tag] = segment if mine is None else _join(mine, segment)
    saturated = a.sessions_saturated or b.sessions_saturated
    if len(sessions) > MAX_SESSIONS:
        sessions = {tag: sessions[tag] for tag in sorted(sessions)[:MAX_SESSIONS]}
        saturated = True
    if len(b.categories) > len(a.categories):
        categories = dict(b.categories)
        others = a.categories
    else:
        categories = dict(a.categories)
        others = b.categories
    for name, weight in others.items():
        categories[name] = categories.get(name, 0) + weight
    return Partial(
        a.pages + b.pages, a.interactions + b.interactions, a.searches + b.searches, a.purchases + b.purchases,
        max(a.stage, b.stage), a.trial or b.trial, max(a.last_seen, b.last_seen),
        sessions, saturated, _bounded(categories), _merge_carts(a.cart, b.cart),
        _merge_days(a.purchase_days, b.purchase_days) if a.purchase_days and b.purchase_days else
        a.purchase_days or b.purchase_days)


def merge_all(partials: Iterable[Partial]) -> Partial:
    result = EMPTY
    for partial in partials:
        result = merge(result, partial)
    return result


def _merge_days(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    days = dict(a)
    for day, count in b.items():
        days[day] = days.get(day, 0) + count
    return _latest_days(days)


def _join(a: Segment, b: Segment) -> Segment:
    """Two stretches of one session's page views; the earlier first."""
    if a.first < 0:
        return b
    if b.first < 0:
        return a
    if b < a:
        a, b = b, a
    gap = b.first - a.last
    gap = 0 if gap < 0 else (DWELL_CAP_SECONDS if gap > DWELL_CAP_SECONDS else gap)   # overlap: 0
    return Segment(a.first, max(a.last, b.last), a.dwell + b.dwell + gap, a.gaps + b.gaps + 1)


def _merge_carts(a: Cart | None, b: Cart | None) -> Cart | None:
    if a is None:
        return b
    if b is None:
        return a
    if (b.first, b.last, b) < (a.first, a.last, a):
        a, b = b, a
    last = max(a.last, b.last)
    if b.reset:                          # a purchase in b: a no longer matters
        return Cart(a.first, last, True, b.value_floor, 0, b.items_floor, 0)
    value_floor = max(b.value_floor, a.value_floor + b.value_delta)
    items_floor = max(b.items_floor, a.items_floor + b.items_delta)
    if a.reset:
        return Cart(a.first, last, True, value_floor, 0, items_floor, 0)
    return Cart(a.first, last, False, value_floor, a.value_delta + b.value_delta,
                items_floor, a.items_delta + b.items_delta)


# --- the profile ---------------------------------------------------------------------------

def profile_from_partial(partial: Partial, *, updated_at: int) -> Profile:
    segments = partial.sessions.values()
    gaps = sum(s.gaps for s in segments)
    dwell = sum(s.dwell for s in segments)
    cart = partial.cart
    top = sorted(partial.categories.items(), key=lambda item: (-item[1], item[0]))[:TOP_CATEGORIES]
    days = partial.purchase_days
    return Profile(
        updated_at=int(updated_at),
        sessions=_cap(estimate_sessions(partial)),
        pages=_cap(partial.pages),
        dwell_avg=round(dwell / gaps, 1) if gaps else 0.0,
        interactions=_cap(partial.interactions),
        searches=_cap(partial.searches),
        stage=partial.stage,
        categories={name: float(_cap(weight)) for name, weight in top},
        purchases=sum(days.values()) if days else 0,
        cart_value=_bounded_cart(cart.value, MAX_CART_VALUE * 100) / 100 if cart else 0.0,
        cart_items=_bounded_cart(cart.items, MAX_CART_ITEMS) if cart else 0,
        trial=partial.trial,
        last_seen=partial.last_seen,
    )


def clamps(partial: Partial) -> Clamps:
    """What the bounds kept out of the profile of `partial` (its events' own counts, not an estimate)."""
    cart = partial.cart
    return Clamps(partial.purchases - sum(partial.purchase_days.values()),
                  int(cart is not None and (cart.value > MAX_CART_VALUE * 100 or cart.items > MAX_CART_ITEMS)))


def estimate_sessions(partial: Partial) -> int:
    """Distinct sessions: exact up to MAX_SESSIONS, past it the k-minimum-values estimate."""
    if not partial.sessions_saturated:
        return len(partial.sessions)
    largest = max(partial.sessions)
    return max(MAX_SESSIONS, round((MAX_SESSIONS - 1) * 2**64 / (largest + 1)))


def _bounded_cart(n: int, bound: int) -> int:
    return n if n < bound else bound


def _cap(n: int) -> int:
    return n if n < _COUNT_CAP else _COUNT_CAP


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@lru_cache(maxsize=4096)
def _name_order(name: str) -> tuple[int, str]:
    return _hash64(name), name
