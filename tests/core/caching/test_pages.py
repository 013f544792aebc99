"""The base-page cache's decisions: Cache-Control parsing, what may be stored and for how long,
fresh -> stale -> expired and stale-if-error with an injected clock, the stored-copy header round
trip, conditional revalidation, Server-Timing, and the cache key (hostile URLs included)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge.caching.pages import (
    MARKETING_PARAMETERS,
    STORED_HEADER,
    CacheStatus,
    PagePolicy,
    PageState,
    Validators,
    cache_ttl,
    normalized_cache_url,
    page_policy,
    page_state,
    parse_cache_control,
    revalidated_policy,
    revalidation_headers,
    server_timing,
    storage_headers,
    stored_policy,
    usable_on_error,
)

from tests.core.builders import NOW

CAP = 2 ** 31

# --- parse_cache_control --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        pytest.param(None, {}, id="absent"),
        pytest.param("", {}, id="empty"),
        pytest.param("max-age=60", {"max-age": 60}, id="max-age"),
        pytest.param("Max-Age=60, PUBLIC", {"max-age": 60, "public": None}, id="names-case-insensitive"),
        pytest.param("s-maxage=30, stale-while-revalidate=60, stale-if-error=600",
                     {"s-maxage": 30, "stale-while-revalidate": 60, "stale-if-error": 600}, id="stale-extensions"),
        # recipients accept the quoted form of delta-seconds too (RFC 9111 5.2)
        pytest.param('max-age="60"', {"max-age": 60}, id="quoted-seconds"),
        pytest.param("max-age=60, max-age=5", {"max-age": 60}, id="duplicate-first-wins"),
        # the first occurrence claims the name even when invalid: a later one does not revive it
        pytest.param("max-age=abc, max-age=60", {}, id="invalid-first-duplicate"),
        pytest.param("max-age=-1", {}, id="negative"),
        pytest.param("max-age=1.5", {}, id="fraction"),
        pytest.param("max-age=+5", {}, id="plus-sign"),
        pytest.param("max-age=", {}, id="empty-value"),
        pytest.param("max-age", {}, id="seconds-without-value"),
        pytest.param("max-age=٣", {}, id="non-ascii-digit"),  # str.isdigit() would take it
        pytest.param("max-age=99999999999", {"max-age": CAP}, id="overflow-capped"),  # RFC 9111 1.2.2
        # int() refuses strings over 4300 digits; the cap must come first
        pytest.param("max-age=" + "9" * 5000, {"max-age": CAP}, id="huge-number"),
        pytest.param('private="Set-Cookie, X-Id", max-age=60', {"private": "Set-Cookie, X-Id", "max-age": 60},
                     id="comma-inside-quotes"),
        pytest.param(r'no-cache="a\"b", x=1', {"no-cache": 'a"b', "x": "1"}, id="escaped-quote"),
        pytest.param(" max-age = 60 ,  public ", {"max-age": 60, "public": None}, id="loose-whitespace"),
        pytest.param(",,max-age=60,,", {"max-age": 60}, id="empty-members"),
        # an unterminated quoted string runs to the end of the header
        pytest.param('x="open, max-age=60', {"x": "open, max-age=60"}, id="unterminated-quote"),
        # unterminated, and the last backslash escapes nothing: kept as it is
        pytest.param('x="a\\', {"x": "a\\"}, id="trailing-backslash"),
        # ";" separates nothing in Cache-Control: "60;public" is one (invalid) argument
        pytest.param("max-age=60;public", {}, id="semicolon"),
        pytest.param("bad name=1, =2, public", {"public": None}, id="not-a-token-skipped"),
        pytest.param("community=UCI", {"community": "UCI"}, id="extension-kept"),
        pytest.param("no-store\t,\tno-cache", {"no-store": None, "no-cache": None}, id="tabs"),
    ],
)
def test_parse_cache_control(header, expected):
    assert parse_cache_control(header) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('max-ge=0159,"\\ ;s-wp')), max_size=40) | st.text(max_size=40))
def test_parse_cache_control_never_raises(header):
    directives = parse_cache_control(header)
    assert all(isinstance(v, int) and 0 <= v <= CAP for k, v in directives.items() if k == "max-age")


# --- page_policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, expected",
    [
        pytest.param({"Cache-Control": "max-age=60"}, PagePolicy(60), id="max-age"),
        pytest.param({"Cache-Control": "public, max-age=10, s-maxage=60"}, PagePolicy(60), id="s-maxage-wins"),
        pytest.param({"Cache-Control": "s-maxage=60, max-age=10"}, PagePolicy(60), id="s-maxage-wins-any-order"),
        pytest.param({"Cache-Control": "max-age=60, stale-while-revalidate=30, stale-if-error=600"},
                     PagePolicy(60, 30, 600), id="both-stale-windows"),
        # the Vercel/Next.js idiom: s-maxage implies proxy-revalidate in RFC 9111, but explicit
        # stale-* from the same origin are honoured (as CDNs do)
        pytest.param({"Cache-Control": "s-maxage=1, stale-while-revalidate=59"}, PagePolicy(1, 59), id="s-maxage-swr"),
        pytest.param({"Cache-Control": "max-age=0, stale-while-revalidate=60"}, PagePolicy(0, 60),
                     id="always-stale-but-swr"),
        pytest.param({"Cache-Control": "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=60"},
                     PagePolicy(60), id="must-revalidate-no-stale"),
        pytest.param({"Cache-Control": "max-age=60, proxy-revalidate, stale-if-error=60"}, PagePolicy(60),
                     id="proxy-revalidate-no-stale"),
        pytest.param({"Cache-Control": "max-age=60, stale-while-revalidate=soon"}, PagePolicy(60),
                     id="invalid-swr-ignored"),
        pytest.param({"Cache-Control": "max-age=60", "Age": "10"}, PagePolicy(50), id="age-subtracted"),
        # arrived 40 s past its freshness: the stale windows are 40 s shorter too
        pytest.param({"Cache-Control": "max-age=60, stale-while-revalidate=600", "Age": "100"}, PagePolicy(0, 560),
                     id="arrived-stale"),
        pytest.param({"Cache-Control": "max-age=60", "Age": "ten"}, PagePolicy(60), id="invalid-age-ignored"),
        pytest.param({"cache-control": "max-age=60", "ETAG": 'W/"v1"', "last-modified": "Mon, 21 Sep 2026 10:00:00 GMT"},
                     PagePolicy(60, validators=Validators('W/"v1"', "Mon, 21 Sep 2026 10:00:00 GMT")),
                     id="validators-any-case"),
        pytest.param({"Cache-Control": "max-age=60", "ETag": "  "}, PagePolicy(60), id="blank-etag-ignored"),
        pytest.param({"Cache-Control": "max-age=60", "Vary": "Accept-Encoding"}, PagePolicy(60),
                     id="vary-accept-encoding"),
        pytest.param({"Cache-Control": "max-age=60", "Vary": "accept-encoding, , ACCEPT-ENCODING"}, PagePolicy(60),
                     id="vary-accept-encoding-repeated"),
        pytest.param({"Cache-Control": "max-age=60", "Vary": ""}, PagePolicy(60), id="vary-empty"),
    ],
)
def test_page_policy_stores(headers, expected):
    assert page_policy(200, headers) == expected


@pytest.mark.parametrize(
    "status, headers",
    [
        pytest.param(404, {"Cache-Control": "max-age=60"}, id="not-found"),
        pytest.param(206, {"Cache-Control": "max-age=60"}, id="partial"),
        pytest.param(304, {"Cache-Control": "max-age=60"}, id="not-modified"),
        pytest.param(301, {"Cache-Control": "max-age=60"}, id="redirect"),
        pytest.param(500, {"Cache-Control": "max-age=60"}, id="server-error"),
        pytest.param(200, {}, id="no-cache-control"),
        pytest.param(200, {"Cache-Control": "public"}, id="no-freshness"),
        # Expires alone is not enough: we require max-age or s-maxage
        pytest.param(200, {"Expires": "Mon, 21 Sep 2099 10:00:00 GMT"}, id="expires-only"),
        pytest.param(200, {"Cache-Control": "max-age=abc"}, id="invalid-max-age"),
        pytest.param(200, {"Cache-Control": "max-age=60, no-store"}, id="no-store"),
        pytest.param(200, {"Cache-Control": "MAX-AGE=60, NO-STORE"}, id="no-store-upper-case"),
        pytest.param(200, {"Cache-Control": "max-age=60, no-cache"}, id="no-cache"),
        pytest.param(200, {"Cache-Control": 'max-age=60, no-cache="Set-Cookie"'}, id="no-cache-fields"),
        pytest.param(200, {"Cache-Control": "private, max-age=60"}, id="private"),
        pytest.param(200, {"Cache-Control": 'private="X-Id", s-maxage=60'}, id="private-fields"),
        pytest.param(200, {"Cache-Control": "max-age=60", "Set-Cookie": "a=1"}, id="set-cookie"),
        pytest.param(200, {"Cache-Control": "max-age=60", "set-cookie": ""}, id="set-cookie-empty"),
        pytest.param(200, {"Cache-Control": "max-age=60", "Vary": "*"}, id="vary-star"),
        # the key has no room for variants: serving one language to all would be wrong
        pytest.param(200, {"Cache-Control": "max-age=60", "Vary": "Accept-Encoding, Accept-Language"},
                     id="vary-language"),
        pytest.param(200, {"Cache-Control": "max-age=60", "Vary": "Cookie"}, id="vary-cookie"),
        # s-maxage wins even when it says "not at all"
        pytest.param(200, {"Cache-Control": "max-age=60, s-maxage=0"}, id="s-maxage-zero"),
        pytest.param(200, {"Cache-Control": "max-age=0, must-revalidate, stale-if-error=60"}, id="nothing-to-keep"),
        pytest.param(200, {"Cache-Control": "max-age=60, stale-if-error=60", "Age": "120"}, id="arrived-dead"),
    ],
)
def test_page_policy_refuses(status, headers):
    assert page_policy(status, headers) is None


# --- page_state / usable_on_error / cache_ttl -----------------------------------------------------

POLICY = PagePolicy(fresh=60, swr=30, sie=600)


@pytest.mark.parametrize(
    "age, state, on_error",
    [
        pytest.param(-5, PageState.FRESH, True, id="clock-behind"),
        pytest.param(0, PageState.FRESH, True, id="just-stored"),
        pytest.param(59.9, PageState.FRESH, True, id="end-of-fresh"),
        pytest.param(60, PageState.STALE, True, id="fresh-boundary"),  # fresh while age < lifetime
        pytest.param(89.9, PageState.STALE, True, id="end-of-swr"),
        pytest.param(90, PageState.EXPIRED, True, id="swr-boundary-inside-sie"),
        pytest.param(659.9, PageState.EXPIRED, True, id="end-of-sie"),
        pytest.param(660, PageState.EXPIRED, False, id="sie-boundary"),
    ],
)
def test_page_state_and_usable_on_error(age, state, on_error):
    assert page_state(NOW, POLICY, NOW + age) is state
    assert usable_on_error(NOW, POLICY, NOW + age) is on_error


def test_swr_longer_than_sie_is_usable_on_error_while_stale():
    policy = PagePolicy(fresh=60, swr=600, sie=10)
    assert page_state(NOW, policy, NOW + 300) is PageState.STALE
    assert usable_on_error(NOW, policy, NOW + 300)
    assert not usable_on_error(NOW, policy, NOW + 660)


@pytest.mark.parametrize(
    "policy, ttl",
    [
        pytest.param(PagePolicy(60), 60, id="fresh-only"),
        pytest.param(PagePolicy(60, 30, 600), 660, id="sie-longer"),
        pytest.param(PagePolicy(60, 600, 30), 660, id="swr-longer"),
        pytest.param(PagePolicy(0, 59), 59, id="always-stale"),
    ],
)
def test_cache_ttl(policy, ttl):
    assert cache_ttl(policy) == ttl


# --- the stored copy ------------------------------------------------------------------------------


def test_storage_headers_round_trip():
    policy = PagePolicy(60, 30, 600, Validators('"v1"', "Mon, 21 Sep 2026 10:00:00 GMT"))
    extra = storage_headers(policy, NOW + 0.25)
    assert extra == {"cache-control": "max-age=660", STORED_HEADER: f"at={NOW}.250; fresh=60; swr=30; sie=600"}
    copy = {"Content-Type": "text/html", "ETag": '"v1"', "Last-Modified": "Mon, 21 Sep 2026 10:00:00 GMT", **extra}
    assert stored_policy(copy) == (NOW + 0.25, policy)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param("at=1; fresh=60; swr=30", id="missing-field"),
        pytest.param("at=soon; fresh=60; swr=30; sie=0", id="bad-time"),
        pytest.param("at=nan; fresh=60; swr=30; sie=0", id="nan-time"),
        pytest.param("at=1e999; fresh=60; swr=30; sie=0", id="infinite-time"),
        pytest.param("at=1; fresh=-60; swr=30; sie=0", id="negative-window"),
        pytest.param("garbage", id="garbage"),
    ],
)
def test_stored_policy_refuses_unreadable(value):
    headers = {"content-type": "text/html"} if value is None else {STORED_HEADER: value}
    assert stored_policy(headers) is None


@pytest.mark.parametrize(
    "validators, headers",
    [
        pytest.param(Validators(), {}, id="none"),
        pytest.param(Validators(etag='W/"v1"'), {"If-None-Match": 'W/"v1"'}, id="weak-etag"),
        pytest.param(Validators(last_modified="Mon, 21 Sep 2026 10:00:00 GMT"),
                     {"If-Modified-Since": "Mon, 21 Sep 2026 10:00:00 GMT"}, id="last-modified"),
        # RFC 9111 4.3.1: send both; a server that knows ETags ignores If-Modified-Since
        pytest.param(Validators('"v1"', "Mon, 21 Sep 2026 10:00:00 GMT"),
                     {"If-None-Match": '"v1"', "If-Modified-Since": "Mon, 21 Sep 2026 10:00:00 GMT"}, id="both"),
    ],
)
def test_revalidation_headers(validators, headers):
    assert revalidation_headers(validators) == headers


STORED = PagePolicy(60, 30, 600, Validators('"v1"', "Mon, 21 Sep 2026 10:00:00 GMT"))


@pytest.mark.parametrize(
    "headers, expected",
    [
        # a bare 304 keeps everything: the same windows again, from now
        pytest.param({}, STORED, id="bare"),
        pytest.param({"ETag": '"v2"'}, PagePolicy(60, 30, 600, Validators('"v2"', "Mon, 21 Sep 2026 10:00:00 GMT")),
                     id="new-etag"),
        pytest.param({"Cache-Control": "max-age=120"}, PagePolicy(120, validators=STORED.validators),
                     id="new-cache-control-replaces-all-windows"),
        pytest.param({"cache-control": "s-maxage=10, stale-if-error=5"}, PagePolicy(10, 0, 5, STORED.validators),
                     id="lower-case-names"),
        pytest.param({"Cache-Control": "no-store"}, None, id="no-store-now"),
        pytest.param({"Set-Cookie": "a=1"}, None, id="set-cookie"),
        pytest.param({"Vary": "Cookie"}, None, id="varies-now"),
        pytest.param({"Age": "20"}, PagePolicy(40, 30, 600, STORED.validators), id="age"),
    ],
)
def test_revalidated_policy(headers, expected):
    assert revalidated_policy(STORED, headers) == expected


def test_revalidated_policy_of_a_must_revalidate_copy():
    # the stored numbers already say "never stale"; a bare 304 keeps them so
    assert revalidated_policy(PagePolicy(60), {}) == PagePolicy(60)


# --- server_timing --------------------------------------------------------------------------------


def test_server_timing_example():
    assert server_timing([("pz-meta", "HIT", 0.1), ("pz-page", CacheStatus.STALE, 2.34)]) == \
        'pz-meta;desc="HIT";dur=0.1, pz-page;desc="STALE";dur=2.3'


@pytest.mark.parametrize(
    "duration, text",
    [
        pytest.param(0, ';dur=0.0', id="zero"),  # Workers' clock only moves on I/O: 0 is common
        pytest.param(12, ';dur=12.0', id="int"),
        pytest.param(None, "", id="none"),
        pytest.param(-1.0, "", id="negative"),
        pytest.param(float("nan"), "", id="nan"),
        pytest.param(float("inf"), "", id="infinite"),
        pytest.param(True, "", id="bool"),
    ],
)
def test_server_timing_duration(duration, text):
    assert server_timing([("pz-page", "MISS", duration)]) == f'pz-page;desc="MISS"{text}'


def test_server_timing_all_statuses_and_empty():
    assert server_timing([]) == ""
    assert server_timing([(f"c{i}", s, None) for i, s in enumerate(CacheStatus)]) == \
        'c0;desc="HIT", c1;desc="STALE", c2;desc="MISS", c3;desc="REVALIDATED", c4;desc="ERROR", c5;desc="BYPASS"'


@pytest.mark.parametrize(
    "entry, message",
    [
        pytest.param(("pz page", "HIT", 1), "Server-Timing name must be an HTTP token, found 'pz page'", id="space"),
        pytest.param(("", "HIT", 1), "Server-Timing name must be an HTTP token, found ''", id="empty-name"),
        pytest.param(('a"b', "HIT", 1), "Server-Timing name must be an HTTP token, found 'a\"b'", id="quote"),
        pytest.param(("pz", "hit", 1), "'hit' is not a valid CacheStatus", id="lower-case-status"),
        pytest.param(("pz", "FRESH", 1), "'FRESH' is not a valid CacheStatus", id="unknown-status"),
    ],
)
def test_server_timing_refuses_bad_entries(entry, message):
    with pytest.raises(ValueError) as caught:
        server_timing([entry])
    assert str(caught.value) == message


# --- normalized_cache_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        pytest.param("https://Shop.example:443/p?utm_source=x&b=2&a=1#top", "https://shop.example/p?a=1&b=2",
                     id="docstring-example"),
        pytest.param("https://shop.example/p", "https://shop.example/p", id="plain"),
        pytest.param("https://shop.example", "https://shop.example/", id="empty-path"),
        pytest.param("https://shop.example/?", "https://shop.example/", id="empty-query"),
        pytest.param("https://shop.example/p?utm_source=a&utm_medium=b&utm_campaign=c&utm_content=d&utm_term=e"
                     "&utm_id=f&utm_source_platform=g&utm_custom=h", "https://shop.example/p", id="every-utm"),
        pytest.param("https://shop.example/p?" + "&".join(f"{name.rstrip('*')}=1" for name in MARKETING_PARAMETERS)
                     + "&q=1", "https://shop.example/p?q=1", id="every-marketing-parameter"),
        pytest.param("https://shop.example/p?GCLID=1&Utm_Source=2&q=3", "https://shop.example/p?q=3",
                     id="names-case-insensitive"),
        # percent-encoded and bare names are still marketing
        pytest.param("https://shop.example/p?utm%5Fsource=x&fbclid&q=1", "https://shop.example/p?q=1",
                     id="encoded-and-bare-names"),
        pytest.param("https://shop.example/p?utm=1&gclid_x=2&xgclid=3", "https://shop.example/p?gclid_x=2&utm=1&xgclid=3",
                     id="lookalikes-kept"),
        pytest.param("https://shop.example/p?b=2&a=3&b=1&a=1", "https://shop.example/p?a=3&a=1&b=2&b=1",
                     id="sorted-duplicates-in-order"),
        pytest.param("https://shop.example/p?a&&b=&&", "https://shop.example/p?a&b=", id="empty-members-dropped"),
        pytest.param("https://shop.example/p?q=a%20b+c&r=%ZZ", "https://shop.example/p?q=a%20b+c&r=%ZZ",
                     id="values-verbatim"),
        pytest.param("https://user:pw@Shop.Example/p", "https://shop.example/p", id="credentials-dropped"),
        pytest.param("http://shop.example:80/p", "http://shop.example/p", id="default-http-port"),
        pytest.param("https://shop.example:80/p", "https://shop.example:80/p", id="http-port-on-https-kept"),
        pytest.param("https://shop.example:8443/p", "https://shop.example:8443/p", id="other-port-kept"),
        pytest.param("https://[::1]:443/p", "https://[::1]/p", id="ipv6-default-port"),
        pytest.param("https://shop.example/P/%7Ea", "https://shop.example/P/%7Ea", id="path-verbatim"),
        # a "?" inside the fragment is not a query
        pytest.param("https://shop.example/p?b=1#?utm_source=x", "https://shop.example/p?b=1", id="query-in-fragment"),
        pytest.param("/p?utm_source=x&z=1&a=2", "/p?a=2&z=1", id="relative"),
        pytest.param("", "", id="empty"),
        pytest.param("#only-fragment", "", id="only-fragment"),
        # unsplittable (unclosed IPv6 bracket): returned as is, a key of its own
        pytest.param("http://[::1/p?utm_source=x", "http://[::1/p?utm_source=x", id="bad-ipv6"),
        # an empty host with a path of "//x" must not turn "x" into a host
        pytest.param("http:////x?b=1", "http:////x?b=1", id="empty-host-double-slash-path"),
        pytest.param("javascript:alert(1)", "javascript:alert(1)", id="other-scheme"),
        pytest.param("https://shop.example/caf\u00e9?q=\u00e9", "https://shop.example/caf\u00e9?q=\u00e9",
                     id="non-ascii"),
        pytest.param("https://shop.example/a\tb\n?utm_source=x", "https://shop.example/ab", id="tab-and-newline"),
        # preview parameters (intentedge/preview.py) never split the cache, token or not
        pytest.param("https://shop.example/p?pz_preview=k1.1790003600.abc&b=1", "https://shop.example/p?b=1",
                     id="preview-token"),
        pytest.param("https://shop.example/p?pz_preview=t&pz_tier=high&pz_rule=spring-sale&a=1"
                     "&pz_set.request.country=DE&pz_set.session.pages=3", "https://shop.example/p?a=1",
                     id="every-preview-parameter"),
        pytest.param("https://shop.example/p?PZ_TIER=high&pz%5Fset.country=DE&pz_preview&q=1",
                     "https://shop.example/p?q=1", id="preview-case-encoded-and-bare"),
        pytest.param("https://shop.example/p?pz=1&pzx_tier=2&xpz_tier=3&pz.tier=4",
                     "https://shop.example/p?pz=1&pz.tier=4&pzx_tier=2&xpz_tier=3", id="preview-lookalikes-kept"),
    ],
)
def test_normalized_cache_url(url, expected):
    assert normalized_cache_url(url) == expected


URL_PIECES = st.sampled_from(["http", "https", "HTTP", ":", "//", "/", "?", "#", "&", "=", "@", "[", "]", "::1",
                              "shop.example", "Shop", ":443", ":80", "utm_source", "gclid", "a", "b", "%", "%5F",
                              "+", " ", "\t", "\x00", "\u00e9", "\ufe6b", "\u2100", ".."])


@settings(max_examples=400, deadline=None)
@given(st.lists(URL_PIECES, max_size=14).map("".join) | st.text(max_size=30))
def test_normalized_cache_url_never_raises_and_is_idempotent(url):
    key = normalized_cache_url(url)
    assert normalized_cache_url(key) == key


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "utm_x", "gclid", "Q", "fbclid"]), st.text("xyz1", max_size=3)),
                max_size=8))
def test_normalized_query_is_sorted_and_clean(params):
    query = "&".join(f"{name}={value}" for name, value in params)
    key = normalized_cache_url(f"https://shop.example/p?{query}#f")
    kept = [item.partition("=")[0] for item in key.partition("?")[2].split("&") if item]
    assert kept == sorted(kept)
    assert not {"utm_x", "gclid", "fbclid"} & set(kept)
    assert "#" not in key
