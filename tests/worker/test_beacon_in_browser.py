"""The beacon in Debian's headless Chromium, on the demo shop through the real Worker: the page's
view, exposures and a click on a personalized block reach the collector, enriched by the Worker."""

from __future__ import annotations

import time
from urllib.parse import unquote

from intentedge.session import COOKIE_NAME, SessionKeys, load

from tests.browser.fixtures import wait_until

# Headless Chromium says "HeadlessChrome" in its user agent, and the Worker rightly treats that as
# a crawler (fallbacks, no session, no beacon): this test is about a visitor's browser.
VISITOR_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/156.0.0.0 Safari/537.36")


def visitor_id(driver, dev_secrets) -> str:
    cookie = driver.get_cookie(COOKIE_NAME)
    assert cookie, "the Worker set no session cookie"
    session = load(unquote(cookie["value"]), SessionKeys.parse(dev_secrets["SESSION_KEYS"]), time.time())
    return session.visitor_id


def events_of(demo, visitor: str) -> list[dict]:
    return [event for line in demo.lines() if line["userId"] == visitor for event in line["events"]]


def test_views_exposures_and_clicks_arrive_from_a_real_browser(demo, browser, dev_secrets):
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": VISITOR_UA})
    browser.delete_all_cookies()
    browser.get(demo.worker.url + "/products/alpha-pro/")
    visitor = visitor_id(browser, dev_secrets)
    # sent after the origin's </html>, parsed as the body's last element
    assert browser.execute_script("return document.body.lastElementChild.hasAttribute('data-pz-page')")
    hero = browser.find_element(By.CSS_SELECTOR, '[data-personalized-region="hero"]')
    rule = hero.get_attribute("data-pz-rule")
    assert rule == "onboarding"   # a first visit

    def seen(kind: str, slot: str | None = None):
        return next((e for e in events_of(demo, visitor) if e["type"] == kind and e.get("slot", slot) == slot), None)

    view = wait_until(lambda: seen("page_view"), what="the page_view at the collector")
    assert view["url"] == "/products/alpha-pro/"
    exposure = wait_until(lambda: seen("exposure", "hero"), what="the hero's exposure at the collector")
    assert (exposure["rule"], exposure["variant"], exposure["decisionId"]) == (
        "onboarding", "hero-onboarding", view["decisionId"])

    promo = browser.find_element(By.CSS_SELECTOR, '[data-personalized-region="promo"]')
    browser.execute_script("arguments[0].scrollIntoView()", promo)
    promo_exposure = wait_until(lambda: seen("exposure", "promo"), what="the promo's exposure")
    assert promo_exposure["rule"] == "bundle-on-products"
    assert promo_exposure["variant"] in ("promo-lens-bundle", "control")   # held out: a control exposure

    hero.find_element(By.CSS_SELECTOR, "a.cta").click()
    click = wait_until(lambda: seen("cta_click", "hero"), what="the CTA click at the collector")
    assert (click["rule"], click["url"], click["decisionId"]) == ("onboarding", "/guides/", view["decisionId"])
    wait_until(lambda: "/guides/" in browser.current_url, what="the click's navigation")
