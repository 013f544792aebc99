"""The beacon in a real Chromium, against a local site shaped like the Worker's output: what it sends,
when, and that every body it sends is a valid batch of the events' vocabulary (events/vocabulary.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from .fixtures import MAX_BODY, MAX_EVENTS, SESSION_COOKIE, batch_problems, wait_until

PAGES = Path(__file__).with_name("pages")
PRODUCT = "/products/alpha-pro/"
CHECKOUT = "/checkout/"
MANY = "/many/"
MANY_SLOTS = 60   # more exposures at once than one request may carry
GLOBALS = "/globals/"
TALL = "/tall/"
TALL_PAGE = ("<!doctype html><html><head><title>tall</title></head><body style='margin:0'>"
             "<div data-personalized-region='hero' data-pz-rule='r' data-pz-variant='f' style='height:3000px'></div>"
             "</body></html>")
# sendBeacon refusing (as it does past its quota) or missing: the beacon falls back to fetch.
FALLBACKS = {
    "/refused/": "navigator.sendBeacon = () => false",
    "/missing/": "delete Navigator.prototype.sendBeacon",
}
# On load (after the beacon ran, before Selenium injects helpers of its own) the page lists the globals
# its window has beyond those of a blank frame's window.
GLOBALS_PAGE = """<!doctype html><html><head><title>globals</title></head><body><script>
addEventListener('load', () => {
  const mine = Object.keys(window);
  const builtin = new Set(Object.keys(document.body.appendChild(document.createElement('iframe')).contentWindow));
  document.documentElement.dataset.added = mine.filter(k => !builtin.has(k)).join(' ');
});
</script></body></html>"""


def many_slots_page() -> str:
    slots = "".join(f'<p data-personalized-region="s{i}" data-pz-rule="r" data-pz-variant="f" '
                    f'style="margin:0;height:8px"></p>' for i in range(MANY_SLOTS))
    return f"<!doctype html><html><head><title>many</title></head><body>{slots}</body></html>"


@pytest.fixture(scope="module", autouse=True)
def pages(site):
    site.pages.update({PRODUCT: (PAGES / "product.html").read_text(),
                       CHECKOUT: (PAGES / "checkout.html").read_text(),
                       MANY: many_slots_page(), GLOBALS: GLOBALS_PAGE, TALL: TALL_PAGE})
    for path, script in FALLBACKS.items():
        site.pages[path] = f"<!doctype html><html><head><script>{script}</script></head><body></body></html>"


def load(browser, site, path: str) -> str:
    """Open `path` and return the page token the beacon reports with."""
    browser.get(site.url + path)
    return browser.find_element(By.CSS_SELECTOR, "script[data-pz-page]").get_attribute("data-pz-page")


def settle(browser, site, token: str) -> None:
    """Wait until what the page queued so far has arrived: a tracked event goes out in a request of
    its own right after one that flushes the queue, so once it is in, the others (on loopback) are too."""
    browser.execute_script("pz.track('search', {query: 'settle'})")
    site.wait_for(token, "search", query="settle")


def assert_valid_bodies(site, token: str) -> None:
    batches = site.batches(token)
    assert batches
    for received in batches:
        assert batch_problems(received.body) == [], received.raw[:500]
        assert len(received.raw) <= MAX_BODY
        assert received.content_type.split(";")[0] in ("text/plain", "application/json")
        assert SESSION_COOKIE in received.cookie   # same-origin: the session cookie goes along


def test_page_view_and_exposure_above_the_fold_only(browser, site):
    token = load(browser, site, PRODUCT)
    site.wait_for(token, "page_view", url=PRODUCT)
    site.wait_for(token, "exposure", slot="hero")
    settle(browser, site, token)
    assert not [e for e in site.events(token) if e["type"] == "exposure" and e["slot"] == "promo"]
    assert_valid_bodies(site, token)


def test_exposure_below_the_fold_on_scroll_once_per_slot(browser, site):
    token = load(browser, site, PRODUCT)
    site.wait_for(token, "exposure", slot="hero")
    # The promo wrapper is display:contents (no box): its child is what becomes visible.
    browser.execute_script("document.getElementById('promo').scrollIntoView({block: 'center'})")
    site.wait_for(token, "exposure", slot="promo")
    for script in ("scrollTo(0, 0)", "scrollTo(0, document.body.scrollHeight)", "scrollTo(0, 0)"):
        browser.execute_script(script)
        browser.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    settle(browser, site, token)
    exposures = [e["slot"] for e in site.events(token) if e["type"] == "exposure"]
    assert sorted(exposures) == ["hero", "promo"]
    assert_valid_bodies(site, token)


def test_leaving_the_page_flushes_the_queue(browser, site):
    token = load(browser, site, PRODUCT)
    browser.get(site.url + CHECKOUT)   # within the second the flush timer waits: pagehide flushes
    site.wait_for(token, "page_view", url=PRODUCT)
    assert_valid_bodies(site, token)


def test_a_slot_taller_than_the_viewport_counts_when_it_fills_half_of_it(browser, site):
    token = load(browser, site, TALL)   # 3000 px in an 800 px window: at most 27 % of it is visible
    site.wait_for(token, "exposure", slot="hero")


@pytest.mark.parametrize("path", FALLBACKS)
def test_falls_back_to_fetch(browser, site, path):
    token = load(browser, site, path)
    site.wait_for(token, "page_view", url=path)
    assert_valid_bodies(site, token)


def test_cta_click_is_sent_before_navigating_away(browser, site):
    token = load(browser, site, PRODUCT)
    browser.find_element(By.ID, "cta").click()
    click = site.wait_for(token, "cta_click")
    assert click == {"type": "cta_click", "slot": "hero", "url": "/checkout/?plan=pro"}
    wait_until(lambda: browser.find_elements(By.ID, "checkout"), what="the checkout page")
    checkout = browser.find_element(By.CSS_SELECTOR, "script[data-pz-page]").get_attribute("data-pz-page")
    site.wait_for(checkout, "page_view", url=CHECKOUT)
    assert_valid_bodies(site, token)


def test_button_click_in_a_wrapped_slot_and_clicks_elsewhere(browser, site):
    token = load(browser, site, PRODUCT)
    browser.find_element(By.CSS_SELECTOR, "main p").click()        # outside every marked slot
    browser.find_element(By.CSS_SELECTOR, "#promo p").click()      # inside, but not a link or button
    browser.find_element(By.ID, "signup").click()
    site.wait_for(token, "cta_click", slot="promo", url="")
    settle(browser, site, token)
    assert [e for e in site.events(token) if e["type"] == "cta_click"] == [
        {"type": "cta_click", "slot": "promo", "url": ""}]
    assert_valid_bodies(site, token)


def test_track_sends_the_sites_own_events(browser, site):
    token = load(browser, site, PRODUCT)
    browser.execute_script("pz.track('cart_add', {productId: 'alpha-pro', quantity: 1, value: 2499})")
    event = site.wait_for(token, "cart_add")
    assert event == {"type": "cart_add", "productId": "alpha-pro", "quantity": 1, "value": 2499}
    # Nothing the site passes makes the beacon throw into the page; what cannot be sent is dropped.
    assert browser.execute_script("var o = {}; o.self = o; pz.track('purchase', o); return 'no throw'") == "no throw"
    settle(browser, site, token)
    assert not [e for e in site.events(token) if e["type"] == "purchase"]
    assert_valid_bodies(site, token)


def test_track_returns_a_promise_the_site_can_wait_for_before_navigating(browser, site):
    token = load(browser, site, PRODUCT)
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "pz.track('cart_add', {productId: 'beta-mini', quantity: 1}).then(r => done(r && r.status))")
    assert status == 202
    assert site.wait_for(token, "cart_add", productId="beta-mini")


def test_batches_carry_at_most_50_events(browser, site):
    token = load(browser, site, MANY)
    wait_until(lambda: sum(e["type"] == "exposure" for e in site.events(token)) == MANY_SLOTS,
               what=f"{MANY_SLOTS} exposures")
    sizes = [len(r.body["events"]) for r in site.batches(token)]
    assert sum(sizes) == MANY_SLOTS + 1 and max(sizes) == MAX_EVENTS
    assert_valid_bodies(site, token)


def test_the_only_global_is_pz(browser, site):
    load(browser, site, GLOBALS)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("data-added") == "pz"
