"""Crawlers, consent and previews in the running Worker: who is recognised, and who may force what.

Verified bots come from `request.cf.botManagement.verifiedBot`, set per request through
miniflare's `MF-CF-Blob` header (conftest.Worker.request's `cf`).
"""

import json
import time

import pytest

from intentedge.contract import keys, schema
from intentedge.preview import mint_token
from intentedge.profile import Profile, profile_to_payload
from intentedge.session import COOKIE_NAME, SessionKeys

from .conftest import CONFIG
from .test_engine import BROWSER, _side_of_holdout, hero

VERIFIED_BOT = {"botManagement": {"verifiedBot": True}, "country": "US"}
HUMAN = {"botManagement": {"verifiedBot": False}, "country": "US"}


def set_cookies(reply) -> list[str]:
    return reply.headers.get_all("set-cookie") or []


# --- crawlers ---------------------------------------------------------------------------------

def test_a_verified_bot_with_a_browser_agent_gets_the_defaults_and_no_cookie(worker, mint_cookie):
    cookie = mint_cookie(cart_value=900.0, cart_items=1)
    human = worker.get("/", headers={"User-Agent": BROWSER, "Cookie": cookie}, cf=HUMAN)
    assert hero(human)[0] == "premium"
    mark = worker.log_mark()
    bot = worker.get("/", headers={"User-Agent": BROWSER, "Cookie": cookie}, cf=VERIFIED_BOT)
    assert hero(bot)[:2] == ("fallback", "hero-default")
    assert set_cookies(bot) == []
    worker.wait_for_log('"event":"decision","path":"/","bot":true', since=mark)


def test_every_crawler_sees_the_same_page_whatever_its_cookie(worker, mint_cookie):
    """No cloaking: what a crawler indexes does not depend on who it pretends to be."""
    pages = {worker.get("/products/camera.html", headers={"User-Agent": agent, "Cookie": cookie}, cf=cf).body
             for agent, cookie, cf in [
                 (BROWSER, mint_cookie(cart_value=900.0, cart_items=1), VERIFIED_BOT),
                 (BROWSER, mint_cookie(visitor_id="another-visitor-00001", stage=3), VERIFIED_BOT),
                 ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "", HUMAN),
                 ("Mozilla/5.0 (compatible; bingbot/2.0)", mint_cookie(products=["camera"]), {}),
             ]}
    assert len(pages) == 1
    assert b'data-pz-rule="fallback" data-pz-variant="hero-default"' in pages.pop()


# --- Sec-GPC -----------------------------------------------------------------------------------

@pytest.fixture
def loyal_visitor(local_kv, dev_secrets, mint_cookie) -> str:
    """A Cookie header of a logged-in visitor whose KV profile fires the `loyalty` rule."""
    visitor = _side_of_holdout(False)
    profile = Profile(updated_at=int(time.time()), sessions=4, pages=30, purchases=3, last_seen=int(time.time()))
    local_kv.put(keys.profile_key(visitor, dev_secrets["PROFILE_SALT"].encode()),
                 schema.encode(schema.PROFILE, profile_to_payload(profile), written_at=0, producer="test"))
    return mint_cookie(visitor, pages=3) + "; logged_in=1"


def test_gpc_keeps_contextual_personalization_only(worker, loyal_visitor):
    assert hero(worker.get("/", headers={"Cookie": loyal_visitor}))[0] == "loyalty"      # profile read
    opted_out = worker.get("/", headers={"Cookie": loyal_visitor, "Sec-GPC": "1"})
    assert hero(opted_out)[0] == "fallback"                                          # no profile, no session
    assert set_cookies(opted_out) == [f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]
    contextual = worker.get("/?hello=1&name=Ada", headers={"Cookie": loyal_visitor, "Sec-GPC": "1"})
    assert hero(contextual)[2] == '<b class="pz">hello Ada</b>'                       # request signals still work
    assert opted_out.headers["cache-control"] == "private, no-store"


def test_gpc_without_a_cookie_sets_none(worker):
    reply = worker.get("/", headers={"Sec-GPC": "1"})
    assert hero(reply)[0] == "fallback"             # a new visitor would get onboarding: there is none
    assert set_cookies(reply) == []


# --- [consent] cookie --------------------------------------------------------------------------

@pytest.fixture
def consent_required(publish, worker, tmp_path):
    """The test config with `[consent] cookie = "consent", value = "yes"` while the test runs."""
    config = tmp_path / "consent.toml"
    config.write_text(CONFIG.read_text() + '\n[consent]\ncookie = "consent"\nvalue = "yes"\n')
    publish(config)
    worker.get_until("/", lambda reply: not set_cookies(reply))
    yield
    publish()
    worker.get_until("/", lambda reply: set_cookies(reply))


def test_without_the_consent_cookie_a_visitor_is_not_recognised(worker, consent_required, loyal_visitor):
    for cookie in (loyal_visitor, loyal_visitor + "; consent=no", loyal_visitor + "; consent="):
        reply = worker.get("/?hello=1&name=Ada", headers={"Cookie": cookie})
        assert hero(reply)[2] == '<b class="pz">hello Ada</b>'
        assert set_cookies(reply) == [f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]
    assert hero(worker.get("/", headers={"Cookie": loyal_visitor}))[0] == "fallback"
    consented = worker.get("/", headers={"Cookie": loyal_visitor + "; consent=yes"})
    assert hero(consented)[0] == "loyalty"
    assert set_cookies(consented)[0].startswith(f"{COOKIE_NAME}=dev1.")


def test_a_new_visitor_without_consent_gets_no_cookie(worker, consent_required):
    assert set_cookies(worker.get("/")) == []
    assert set_cookies(worker.get("/", headers={"Cookie": "consent=yes"}))[0].startswith(f"{COOKIE_NAME}=dev1.")


# --- previews ----------------------------------------------------------------------------------

@pytest.fixture
def token(dev_secrets) -> str:
    return mint_token(SessionKeys.parse(dev_secrets["SESSION_KEYS"]), now=time.time(), ttl=600)


def trace(reply) -> dict:
    return json.loads(reply.headers["x-pz-trace"])


def test_a_preview_forces_a_rule_and_shows_the_trace(worker, mint_cookie, token):
    cookie = mint_cookie()
    reply = worker.get(f"/?pz_preview={token}&pz_rule=product-hero", headers={"Cookie": cookie})
    assert hero(reply) == ("product-hero", "hero-product", '<strong class="pz">product hero</strong>')
    assert trace(reply)["preview"] == {"tier": None, "rule": "product-hero", "set": {}, "forced": "shown"}
    assert set_cookies(reply) == []                         # the marketer's own session is left as it was
    assert reply.headers["cache-control"] == "private, no-store"


def test_a_preview_sets_attributes_and_a_tier(worker, mint_cookie, token):
    reply = worker.get(f"/?pz_preview={token}&pz_set.cart.value=500&pz_tier=high",
                       headers={"Cookie": mint_cookie()})
    assert hero(reply) == ("premium", "hero-premium", '<b class="pz">premium 500.00</b>')
    assert (trace(reply)["tier"], trace(reply)["score"]) == ("high", 85.0)


@pytest.mark.parametrize("bad", [
    "",
    "dev1.9999999999.AAAA",                                  # forged MAC, far future
    "dev1.1000000000.AAAA",                                  # long expired
    "nokey.1999999999.AAAA",                                 # unknown key id
], ids=["empty", "forged", "expired", "unknown-key"])
def test_without_a_valid_token_preview_parameters_are_ignored(worker, mint_cookie, bad):
    cookie = mint_cookie(cart_value=20.0, cart_items=1)
    plain = worker.get("/", headers={"Cookie": cookie})
    forced = worker.get(f"/?pz_preview={bad}&pz_rule=product-hero&pz_set.cart.value=500&pz_tier=high",
                        headers={"Cookie": cookie})
    assert hero(forced) == hero(plain) == ("fallback", "hero-default", '<em class="pz">default hero</em>')
    assert "x-pz-trace" not in forced.headers
    assert len(set_cookies(forced)) == 1                    # an ordinary page view


def test_an_expired_token_is_refused(worker, dev_secrets, mint_cookie):
    session_keys = SessionKeys.parse(dev_secrets["SESSION_KEYS"])
    stale = mint_token(session_keys, now=time.time() - 3600, ttl=60)
    reply = worker.get(f"/?pz_preview={stale}&pz_rule=product-hero", headers={"Cookie": mint_cookie()})
    assert hero(reply)[0] != "product-hero" and "x-pz-trace" not in reply.headers


def test_preview_parameters_never_change_what_is_cached(worker, origin, token, request):
    page = f"/cache/fresh/{request.node.name}.html"
    worker.get_until(f"{page}?pz_preview=forged&pz_rule=product-hero",
                     lambda reply: 'pz-page;desc="HIT"' in reply.headers.get("server-timing", ""))
    stored = origin.hits(page)
    previewed = worker.get(f"{page}?pz_preview={token}&pz_rule=product-hero")
    plain = worker.get(page)
    assert origin.hits(page) == stored                        # one cache key for all three
    assert all('pz-page;desc="HIT"' in reply.headers["server-timing"] for reply in (previewed, plain))
    assert 'data-pz-rule="product-hero"' not in plain.text


def test_preview_parameters_never_reach_the_origin(worker, origin, token, mint_cookie):
    for headers in ({"Cookie": mint_cookie()}, {"Authorization": "Basic eDp5"}):   # page cache, and bypass
        worker.get(f"/plain.html?a=1&pz_preview={token}&pz_rule=x&pz_set.cart.value=5", headers=headers)
        assert origin.requests[-1].path == "/plain.html?a=1"


def test_a_comma_in_another_cookie_does_not_give_consent(worker, consent_required, loyal_visitor):
    """Pairs are split at ";" only: a site's own cookie whose value holds ",consent=yes" is not consent."""
    for sneaked in ("tracking=a,consent=yes", "q=x, consent=yes"):
        reply = worker.get("/", headers={"Cookie": f"{loyal_visitor}; {sneaked}"})
        assert hero(reply)[0] != "loyalty" and not any(c.startswith(f"{COOKIE_NAME}=dev1.") for c in set_cookies(reply))
