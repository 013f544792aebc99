"""Page signals: what one page view records in the edge session (products, categories, funnel stage, cart,
purchases, trial, searches), configured by the bundle's [signals] table."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from intentedge import compile_bundle
from intentedge.session import Session
from intentedge.signals import DEFAULT_STAGES, PageRule, Signals

from tests.core.builders import NOW, context

DEMO_SIGNALS = {
    "stages": ["browse", "product", "cart", "checkout", "purchase"],
    "search_params": ["q"],
    "pages": [
        {"pattern": "^/products/(?P<product>[a-z0-9-]+)/", "stage": "product", "category": "cameras"},
        {"pattern": "^/shop/(?P<category>[a-z]+)/(?P<product>[a-z0-9-]+)/", "stage": "product"},
        {"pattern": "^/cart/add/", "stage": "cart", "cart_add": "price"},
        {"pattern": "^/cart/", "stage": "cart"},
        {"pattern": "^/checkout/done/", "stage": "purchase", "purchase": True},
        {"pattern": "^/checkout/", "stage": "checkout"},
        {"pattern": "^/trial/", "trial": True},
    ],
}
SIGNALS = compile_bundle({"signals": DEMO_SIGNALS}, source="t").signals
STAGE = {name: index for index, name in enumerate(DEMO_SIGNALS["stages"])}


def visitor(**changes) -> Session:
    return replace(Session("v" * 22, NOW - 60, NOW, pages=1), **changes)


def observe(path: str, session: Session | None = None, signals: Signals = SIGNALS) -> Session:
    return signals.observe(session or visitor(), context(path))


def test_compiled_signals():
    assert SIGNALS.stages == tuple(DEMO_SIGNALS["stages"])
    assert [(p.stage, p.category, p.cart_add, p.purchase, p.trial) for p in SIGNALS.pages] == [
        (1, "cameras", None, False, False), (1, None, None, False, False), (2, None, "price", False, False),
        (2, None, None, False, False), (4, None, None, True, False), (3, None, None, False, False),
        (None, None, None, False, True),
    ]


@pytest.mark.parametrize(
    "path, products, categories, stage",
    [
        pytest.param("/products/alpha-pro/", ("alpha-pro",), ("cameras",), "product", id="product-page"),
        pytest.param("/products/alpha-pro/reviews?page=2", ("alpha-pro",), ("cameras",), "product",
                     id="below-product-page"),
        # the named group `category` beats a fixed one; both groups are recorded
        pytest.param("/shop/lenses/wide-24/", ("wide-24",), ("lenses",), "product", id="named-category"),
        # the pattern needs the trailing slash
        pytest.param("/products/alpha-pro", (), (), "browse", id="no-trailing-slash"),
        pytest.param("/products/", (), (), "browse", id="listing"),
        pytest.param("/cart/", (), (), "cart", id="cart"),
        pytest.param("/checkout/", (), (), "checkout", id="checkout"),
        pytest.param("/about/", (), (), "browse", id="unmatched"),
    ],
)
def test_page_rules(path, products, categories, stage):
    session = observe(path)
    assert (session.products, session.categories, SIGNALS.stage_name(session.stage)) == (products, categories, stage)


def test_products_and_categories_are_remembered_most_recent_first():
    session = visitor()
    for path in ("/products/a/", "/shop/lenses/b/", "/products/c/", "/products/a/"):
        session = observe(path, session)
    assert session.products == ("a", "c", "b")
    assert session.categories == ("cameras", "lenses")


def test_recorded_names_are_cut_to_64_characters():
    session = observe("/products/" + "x" * 100 + "/")
    assert session.products == ("x" * 64,)


@pytest.mark.parametrize(
    "before, path, after",
    [
        pytest.param("browse", "/products/a/", "product", id="up"),
        pytest.param("cart", "/products/a/", "cart", id="never-down"),
        pytest.param("product", "/checkout/done/", "purchase", id="jump"),
        # a page rule without a stage leaves it alone
        pytest.param("checkout", "/trial/", "checkout", id="no-stage"),
    ],
)
def test_stage_is_the_furthest_reached(before, path, after):
    session = observe(path, visitor(stage=STAGE[before]))
    assert SIGNALS.stage_name(session.stage) == after


@pytest.mark.parametrize(
    "query, value, items",
    [
        pytest.param("price=649", 749.5, 2, id="price"),
        pytest.param("price=19.99", 120.49, 2, id="cents"),
        # a price that cannot be read adds an item worth nothing
        pytest.param("", 100.5, 2, id="no-price"),
        pytest.param("price=abc", 100.5, 2, id="not-a-number"),
        pytest.param("price=-50", 100.5, 2, id="negative"),
        pytest.param("price=nan", 100.5, 2, id="nan"),
        pytest.param("price=inf", 100.5, 2, id="infinite"),
        pytest.param("price=1e9", 100.5, 2, id="absurdly-large"),
        pytest.param("price=999999999", 1_000_000_099.5, 2, id="just-below-the-bound"),
    ],
)
def test_cart_add(query, value, items):
    session = observe(f"/cart/add/?{query}", visitor(cart_value=100.5, cart_items=1))
    assert session.cart_value == pytest.approx(value)
    assert session.cart_items == items
    assert SIGNALS.stage_name(session.stage) == "cart"


def test_first_matching_page_rule_wins():
    # /cart/add/ also matches '^/cart/', which comes later and adds nothing
    assert observe("/cart/add/?price=10").cart_items == 1
    reordered = Signals(SIGNALS.stages, SIGNALS.search_params, (SIGNALS.pages[3], SIGNALS.pages[2]))
    assert observe("/cart/add/?price=10", signals=reordered).cart_items == 0


def test_purchase_clears_the_cart_once():
    session = observe("/checkout/done/", visitor(cart_value=649.0, cart_items=2, purchases=1))
    assert (session.cart_value, session.cart_items, session.purchases) == (0.0, 0, 2)
    # reloading the confirmation page does not count a second purchase
    again = observe("/checkout/done/", session)
    assert (again.cart_value, again.cart_items, again.purchases) == (0.0, 0, 2)


def test_purchase_page_without_a_cart_is_not_a_purchase():
    session = observe("/checkout/done/", visitor(purchases=0))
    assert session.purchases == 0
    assert SIGNALS.stage_name(session.stage) == "purchase"


def test_trial_page_is_remembered():
    assert observe("/trial/start").trial is True
    assert observe("/about/", visitor(trial=True)).trial is True


@pytest.mark.parametrize(
    "search_params, path, searches",
    [
        pytest.param(("q",), "/search?q=lens", 1, id="search"),
        pytest.param(("q",), "/search?q=", 0, id="empty-query"),
        pytest.param(("q",), "/search?query=lens", 0, id="other-param"),
        pytest.param(("s", "query"), "/?query=lens", 1, id="custom-params"),
        # two search parameters on one page are one search
        pytest.param(("s", "query"), "/?s=a&query=b", 1, id="both-custom-params"),
        # a search on a product page is still a search
        pytest.param(("q",), "/products/a/?q=lens", 1, id="on-a-matched-page"),
    ],
)
def test_searches(search_params, path, searches):
    signals = replace(SIGNALS, search_params=search_params)
    assert observe(path, visitor(searches=0), signals=signals).searches == searches


def test_a_page_that_says_nothing_returns_the_session_unchanged():
    session = visitor()
    assert observe("/about/", session) is session


def test_default_signals_record_searches_only():
    signals = Signals()
    assert signals.stages == DEFAULT_STAGES
    session = observe("/products/a/?q=x", signals=signals)
    assert (session.searches, session.products, session.stage) == (1, (), 0)


@pytest.mark.parametrize(
    "index, name",
    [
        pytest.param(0, "browse", id="first"),
        pytest.param(4, "purchase", id="last"),
        # out of range (a bundle with fewer stages than the cookie remembers): the first stage
        pytest.param(5, "browse", id="beyond"),
        pytest.param(-1, "browse", id="negative"),
    ],
)
def test_stage_name(index, name):
    assert SIGNALS.stage_name(index) == name


def test_page_rule_pattern_searches_the_path_not_the_query():
    signals = Signals(pages=(PageRule(re.compile("deal"), stage=1),))
    assert observe("/?x=deal", signals=signals).stage == 0
    assert observe("/deals/today", signals=signals).stage == 1


# --- the session an event leaves -----------------------------------------------------------

DEMO = compile_bundle({"products": {"alpha-pro": {"price": 2499, "category": "cameras"}}}, source="t")
VISITOR = "v" * 22


def record(session: Session, *events: dict) -> Session:
    for event in events:
        session = DEMO.signals.record(session, event, DEMO.products)
    return session


def test_cart_events_move_the_cart_and_the_funnel():
    start = Session(VISITOR, NOW, NOW)
    added = record(start, {"type": "cart_add", "productId": "alpha-pro", "quantity": 2})
    assert (added.cart_value, added.cart_items, added.stage) == (4998.0, 2, 2)
    assert added.products == ("alpha-pro",) and added.categories == ("cameras",)
    priced = record(start, {"type": "cart_add", "productId": "unknown", "value": 30.5})
    assert (priced.cart_value, priced.cart_items) == (30.5, 1)
    removed = record(added, {"type": "cart_remove", "productId": "alpha-pro", "quantity": 5})
    assert (removed.cart_value, removed.cart_items) == (0.0, 0)


def test_purchase_search_and_trial_change_the_session_views_do_not():
    start = Session(VISITOR, NOW, NOW, cart_value=100.0, cart_items=1)
    bought = record(start, {"type": "purchase", "value": 100})
    assert (bought.cart_value, bought.cart_items, bought.purchases, bought.stage) == (0.0, 0, 1, 4)
    assert record(start, {"type": "search"}).searches == 1
    assert record(start, {"type": "trial_start"}).trial is True
    for kind in ("page_view", "exposure", "cta_click"):
        assert record(start, {"type": kind, "slot": "hero"}) is start
