"""RequestContext: the signals of one request (path, query, UTM, click ids, referrer, device, language, geo,
privacy headers, bots, local dev), computed from plain data."""

from __future__ import annotations

import pytest

from intentedge.context import (
    CLICK_ID_PARAMS,
    RequestContext,
    RequestData,
    device_class,
    preferred_language,
    referrer_class,
)

from tests.core.builders import GOOGLEBOT_UA, HOST, NOW, context, request

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


# -- path and query ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, path, query",
    [
        pytest.param("https://shop.example/", "/", {}, id="root"),
        # an origin-form URL without a path still has "/"
        pytest.param("https://shop.example", "/", {}, id="no-path"),
        pytest.param("https://shop.example/a/b?x=1&y=2", "/a/b", {"x": "1", "y": "2"}, id="simple"),
        # the first of a repeated parameter wins
        pytest.param("https://shop.example/s?q=lens&q=body", "/s", {"q": "lens"}, id="repeated"),
        pytest.param("https://shop.example/s?q=&flag", "/s", {"q": "", "flag": ""}, id="blank-values-kept"),
        pytest.param("https://shop.example/s?q=caf%C3%A9+lens", "/s", {"q": "café lens"}, id="percent-decoded"),
        pytest.param("https://shop.example/p%20x/?a=1#frag", "/p%20x/", {"a": "1"}, id="path-stays-encoded"),
    ],
)
def test_path_and_query(url, path, query):
    ctx = RequestContext(RequestData(url))
    assert (ctx.path, ctx.query) == (path, query)


@pytest.mark.parametrize(
    "query, utm",
    [
        pytest.param("", {}, id="none"),
        pytest.param("utm_source=news&utm_medium=email&utm_campaign=spring", {"source": "news", "medium": "email",
                                                                            "campaign": "spring"}, id="three"),
        # "utm_" alone names nothing
        pytest.param("utm_=x&utm_term=lens", {"term": "lens"}, id="bare-prefix"),
        # parameter names are case-sensitive, as in the analytics tools
        pytest.param("UTM_source=news", {}, id="upper-case"),
        pytest.param("utm_source=&x=1", {"source": ""}, id="blank"),
    ],
)
def test_utm(query, utm):
    assert context(f"/?{query}").utm == utm


@pytest.mark.parametrize(
    "query, click_ids",
    [
        pytest.param("", [], id="none"),
        pytest.param("gclid=abc123", ["gclid"], id="google"),
        # in CLICK_ID_PARAMS order, not query order
        pytest.param("msclkid=1&fbclid=2&gclid=3", ["gclid", "fbclid", "msclkid"], id="several"),
        pytest.param("gclid=", ["gclid"], id="blank-value-still-present"),
        pytest.param("GCLID=1&clid=2", [], id="not-click-ids"),
    ],
)
def test_click_ids_are_names_only(query, click_ids):
    ctx = context(f"/?{query}")
    assert ctx.click_ids == click_ids
    assert "abc123" not in repr(ctx.attributes()["click_ids"])


def test_every_known_click_id_is_recognised():
    query = "&".join(f"{name}=v" for name in CLICK_ID_PARAMS)
    assert context(f"/?{query}").click_ids == list(CLICK_ID_PARAMS)


# -- referrer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "referer, expected",
    [
        pytest.param("", "none", id="absent"),
        pytest.param("https://shop.example/products/", "internal", id="same-host"),
        pytest.param("http://shop.example:8080/", "internal", id="same-host-other-port-and-scheme"),
        pytest.param("https://www.shop.example/", "internal", id="subdomain"),
        pytest.param("https://a.b.shop.example/", "internal", id="deep-subdomain"),
        pytest.param("https://SHOP.Example/", "internal", id="host-case"),
        # a suffix that is not a label boundary is someone else's site
        pytest.param("https://notshop.example/", "external", id="suffix-not-subdomain"),
        pytest.param("https://shop.example.evil.test/", "external", id="own-host-as-prefix"),
        pytest.param("https://www.google.com/search?q=camera", "search", id="google"),
        pytest.param("https://www.google.co.uk/", "search", id="google-cctld"),
        pytest.param("https://www.bing.com/", "search", id="bing"),
        pytest.param("https://duckduckgo.com/", "search", id="duckduckgo"),
        pytest.param("https://search.brave.com/search?q=x", "search", id="brave"),
        pytest.param("https://search.yahoo.co.jp/", "search", id="yahoo-subdomain"),
        pytest.param("https://www.facebook.com/", "social", id="facebook"),
        pytest.param("https://l.facebook.com/l.php?u=x", "social", id="facebook-link-shim"),
        pytest.param("https://t.co/abc", "social", id="twitter-shortener"),
        pytest.param("https://x.com/someone", "social", id="x"),
        pytest.param("https://lnkd.in/abc", "social", id="linkedin-shortener"),
        pytest.param("https://out.reddit.com/t3_x", "social", id="reddit-outbound"),
        pytest.param("https://news.ycombinator.com/", "external", id="other-site"),
        # "google" must be a whole label: a look-alike is just another site
        pytest.param("https://notgoogle.com/", "external", id="lookalike"),
        pytest.param("not a url", "none", id="no-host"),
        pytest.param("/relative/path", "none", id="relative"),
    ],
)
def test_referrer_class(referer, expected):
    assert context("/", headers={"referer": referer}).referrer == expected


def test_referrer_without_own_host_is_never_internal():
    assert referrer_class("https://shop.example/", "") == "external"


# urlsplit() raises ValueError('Invalid IPv6 URL') for these: a header any client can send must not raise
@pytest.mark.parametrize("referer", ["http://[oops", "https://[::1/x"], ids=["bracket", "unclosed-ipv6"])
def test_malformed_referer_is_none_not_an_error(referer):
    assert referrer_class(referer, "shop.example") == "none"
    ctx = context("/", headers={"referer": referer})
    assert ctx.attributes()["referrer"] == "none"


# -- device -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent, expected",
    [
        pytest.param(IPHONE, "mobile", id="iphone"),
        pytest.param("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/126.0.0.0 Mobile Safari/537.36", "mobile", id="android-phone"),
        # Android without "Mobile" is a tablet, by Google's own convention
        pytest.param("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/126.0.0.0 Safari/537.36", "tablet", id="android-tablet"),
        # an iPad says "Mobile" too; the tablet test comes first
        pytest.param("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                     "Version/16.6 Mobile/15E148 Safari/604.1", "tablet", id="ipad"),
        pytest.param("Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36", "tablet", id="kindle"),
        pytest.param("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Chrome/52.0 Mobile Safari/537.36 Edge/15.15063", "mobile",
                     id="windows-phone"),
        pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/126.0.0.0 Safari/537.36", "desktop", id="windows-chrome"),
        # iPadOS asks for desktop sites by default: indistinguishable from a Mac
        pytest.param("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                     "Version/17.5 Safari/605.1.15", "desktop", id="mac-safari"),
        pytest.param(GOOGLEBOT_UA, "bot", id="googlebot"),
        # a crawler with a phone UA is a bot first
        pytest.param("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
                     "+http://www.google.com/bot.html)", "bot", id="googlebot-smartphone"),
        pytest.param("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot", id="bingbot"),
        pytest.param("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot",
                     id="link-preview"),
        pytest.param("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 "
                     "Safari/537.36", "bot", id="headless-chrome"),
        pytest.param("Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse", "bot", id="lighthouse"),
        pytest.param("python-requests/2.32.3", "bot", id="python-requests"),
        pytest.param("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
                     "+https://openai.com/gptbot)", "bot", id="gptbot"),
        # command-line clients are not in the bot list: an unknown agent is a desktop
        pytest.param("curl/8.5.0", "desktop", id="curl"),
        pytest.param("", "desktop", id="empty"),
    ],
)
def test_device_class(user_agent, expected):
    assert context("/", headers={"user-agent": user_agent}).device == expected


def test_a_cubot_phone_is_not_a_bot():
    # the phone brand CUBOT ends in "bot" but is no crawler: its owners get a session and personalization
    ua = ("Mozilla/5.0 (Linux; Android 10; CUBOT NOTE 20 PRO) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.6099.144 Mobile Safari/537.36")
    assert device_class(ua) == "mobile"
    assert context("/", headers={"user-agent": ua}).is_bot is False


@pytest.mark.parametrize(
    "user_agent",
    [
        pytest.param("Googlebot/2.1 (+http://www.google.com/bot.html)", id="googlebot-slash"),
        pytest.param("Mozilla/5.0 (compatible; bingbot/2.0)", id="bingbot-slash"),
        pytest.param("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", id="ahrefsbot"),
        pytest.param("Slackbot 1.0 (+https://api.slack.com/robots)", id="slackbot-space"),
        pytest.param("my bot", id="standalone-word"),
        pytest.param("SomeBot", id="bot-at-the-end"),
    ],
)
def test_crawler_patterns_are_bots(user_agent):
    assert device_class(user_agent) == "bot"


@pytest.mark.parametrize(
    "user_agent, cf, is_bot",
    [
        pytest.param(IPHONE, {}, False, id="person"),
        pytest.param(GOOGLEBOT_UA, {}, True, id="bot-ua"),
        # Cloudflare's verified-bot flag wins over a browser-like UA
        pytest.param(IPHONE, {"botManagement": {"verifiedBot": True}}, True, id="verified-bot"),
        pytest.param(IPHONE, {"botManagement": {"verifiedBot": False, "score": 1}}, False, id="not-verified"),
        # only a real boolean counts
        pytest.param(IPHONE, {"botManagement": {"verifiedBot": "true"}}, False, id="verified-string"),
        pytest.param(IPHONE, {"botManagement": True}, False, id="bot-management-not-a-map"),
    ],
)
def test_is_bot(user_agent, cf, is_bot):
    assert context("/", headers={"user-agent": user_agent}, cf=cf).is_bot is is_bot


# -- language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept_language, expected",
    [
        pytest.param("", "", id="absent"),
        pytest.param("de", "de", id="one"),
        pytest.param("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr", id="mdn-example"),
        # q defaults to 1: the unweighted tag beats an earlier weighted one
        pytest.param("en;q=0.5, de", "de", id="default-q-wins"),
        pytest.param("en;q=0.2, nl;q=0.9, fr;q=0.5", "nl", id="highest-q-anywhere"),
        # equal weights: the first listed wins
        pytest.param("de;q=0.8, fr;q=0.8", "de", id="tie-keeps-first"),
        pytest.param("EN-us", "en", id="primary-subtag-lower-case"),
        pytest.param("zh-Hant-TW", "zh", id="script-and-region"),
        pytest.param("*", "", id="wildcard-only"),
        pytest.param("*, es;q=0.1", "es", id="wildcard-skipped"),
        # an unparseable weight counts as 0, so any valid weight beats it
        pytest.param("en;q=abc, fr;q=0.1", "fr", id="bad-q"),
        pytest.param(" pt-BR ; q=0.9 , en ; q=0.8 ", "pt", id="spaces"),
        pytest.param("de;level=1;q=0.4, it;q=0.3", "de", id="other-params"),
        pytest.param(",,;q=1,", "", id="empty-parts"),
    ],
)
def test_preferred_language(accept_language, expected):
    assert context("/", headers={"accept-language": accept_language}).language == expected


# q=0 means "not acceptable" (RFC 9110 12.4.2): never chosen, even when nothing else is listed
@pytest.mark.parametrize(
    "accept_language, expected",
    [
        pytest.param("fr;q=0", "", id="only-refused"),
        pytest.param("fr;q=0, de;q=0.0", "", id="all-refused"),
        pytest.param("fr;q=0, de;q=0.1", "de", id="refused-then-accepted"),
        # an unparseable weight counts as 0: refused too
        pytest.param("en;q=abc", "", id="only-bad-q"),
    ],
)
def test_a_refused_language_is_never_preferred(accept_language, expected):
    assert preferred_language(accept_language) == expected
    assert context("/", headers={"accept-language": accept_language}).language == expected


# -- geo, privacy, local dev ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cf, geo",
    [
        pytest.param({}, {"country": "", "region": "", "city": "", "timezone": ""}, id="none"),
        pytest.param({"country": "US", "region": "California", "city": "San Francisco",
                      "timezone": "America/Los_Angeles", "colo": "SJC"},
                     {"country": "US", "region": "California", "city": "San Francisco",
                      "timezone": "America/Los_Angeles"}, id="full"),
        # always present: a missing, empty or null value is ""
        pytest.param({"country": "FR", "city": "", "region": None},
                     {"country": "FR", "region": "", "city": "", "timezone": ""}, id="empty-values"),
        pytest.param({"country": "DE", "city": 12345},
                     {"country": "DE", "region": "", "city": "12345", "timezone": ""}, id="non-string"),
    ],
)
def test_geo(cf, geo):
    attributes = context("/", cf=cf).attributes()
    assert {key: attributes[key] for key in ("country", "region", "city", "timezone")} == geo
    assert "colo" not in attributes  # only the four geo values are taken from cf


@pytest.mark.parametrize(
    "headers, save_data, gpc",
    [
        pytest.param({}, False, False, id="absent"),
        pytest.param({"save-data": "on", "sec-gpc": "1"}, True, True, id="both"),
        pytest.param({"save-data": " On ", "sec-gpc": " 1 "}, True, True, id="padded-and-cased"),
        pytest.param({"save-data": "off", "sec-gpc": "0"}, False, False, id="explicitly-off"),
        pytest.param({"save-data": "yes", "sec-gpc": "true"}, False, False, id="other-values"),
    ],
)
def test_save_data_and_gpc(headers, save_data, gpc):
    ctx = context("/", headers=headers)
    assert (ctx.save_data, ctx.gpc) == (save_data, gpc)


@pytest.mark.parametrize(
    "url, expected",
    [
        pytest.param("http://localhost:8787/", True, id="wrangler-dev"),
        pytest.param("http://127.0.0.1:8787/", True, id="ipv4-loopback"),
        pytest.param("http://[::1]:8787/", True, id="ipv6-loopback"),
        pytest.param("http://LOCALHOST/", True, id="upper-case"),
        pytest.param("https://localhost:8787/", False, id="https"),
        pytest.param("http://shop.example/", False, id="plain-http-elsewhere"),
        pytest.param("http://localhost.shop.example/", False, id="lookalike"),
    ],
)
def test_is_local_http(url, expected):
    assert RequestContext(RequestData(url)).is_local_http is expected


def test_attributes_hold_every_request_signal():
    ctx = context("/products/alpha-pro/?utm_source=news&gclid=x", now=NOW, local_hour=21, local_weekday=4,
                  headers={"referer": "https://www.google.com/", "user-agent": IPHONE, "accept-language": "de-AT",
                           "save-data": "on", "sec-gpc": "1"},
                  cf={"country": "AT", "region": "Vienna", "city": "Vienna", "timezone": "Europe/Vienna"})
    assert ctx.host == HOST
    assert ctx.attributes() == {
        "path": "/products/alpha-pro/",
        "query": {"utm_source": "news", "gclid": "x"},
        "utm": {"source": "news"},
        "click_ids": ["gclid"],
        "referrer": "search",
        "device": "mobile",
        "language": "de",
        "country": "AT",
        "region": "Vienna",
        "city": "Vienna",
        "timezone": "Europe/Vienna",
        "hour": 21,
        "weekday": 4,
        "save_data": True,
        "gpc": True,
    }


def test_attributes_of_a_bare_request_are_empty_not_missing():
    assert context("/").attributes() == {
        "path": "/", "query": {}, "utm": {}, "click_ids": [], "referrer": "none", "device": "desktop", "language": "",
        "country": "", "region": "", "city": "", "timezone": "", "hour": None, "weekday": None,
        "save_data": False, "gpc": False,
    }


def test_signals_are_computed_once():
    data = request("/", headers={"accept-language": "fr"})
    ctx = RequestContext(data)
    assert ctx.language == "fr"
    data.headers["accept-language"] = "de"  # headers is a plain dict: prove the value was cached
    assert ctx.language == "fr"
    assert RequestContext(data).language == "de"


def test_huge_headers_are_classified_from_their_start_only():
    """A 60 KB User-Agent costs what a normal one does (the Android regex is quadratic in it)."""
    huge = {"user-agent": "Mozilla/5.0 (Linux; Android 14) " + "A" * 60_000 + " Mobile",
            "referer": "https://www.google.com/" + "x" * 100_000,
            "accept-language": "de-DE," + "en;q=0.1," * 10_000}
    context = RequestContext(RequestData("https://shop.example/", headers=huge))
    # "Mobile" comes after the first 512 characters: unseen, so an Android tablet
    assert (context.device, context.referrer, context.language) == ("tablet", "search", "de")
