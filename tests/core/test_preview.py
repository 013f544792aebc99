"""Preview: the signed, expiring token (mint, verify, rotation, tampering, never a session cookie), the
pz_* parameters a valid token unlocks, applying overrides to the attribute map, the preview link, and
the trace as one response header (ASCII, no CR/LF, cut down when too long)."""

from __future__ import annotations

import base64
import copy
import json
import re

import pytest

from intentedge import preview as preview_module
from intentedge import session as session_module
from intentedge.preview import (
    MAX_OVERRIDES,
    MAX_TTL_SECONDS,
    MAX_VALUE_CHARS,
    SET_PREFIX,
    TOKEN_PARAM,
    Preview,
    mint_token,
    preview_url,
    requested_preview,
    token_is_valid,
    trace_header,
)
from intentedge.session import Session, SessionKeys, dump, load

from tests.core.builders import DAY, HOUR, KEYS, MINUTE, NOW, SECRET_1, SECRET_2, context

TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{1,8}\.[0-9]{1,12}\.[A-Za-z0-9_-]{43}\Z")
NEW_KEYS = SessionKeys.parse(f"k2:{SECRET_2},k1:{SECRET_1}")   # k2 signs, k1 still verifies
TOKEN = mint_token(KEYS, now=NOW, ttl=HOUR)
KID, EXPIRES, MAC = TOKEN.split(".")
ARABIC_INDIC = {ord("0") + d: 0x0660 + d for d in range(10)}   # the same number, other digits


def with_part(index: int, value: str) -> str:
    """TOKEN with one of its three parts replaced."""
    parts = TOKEN.split(".")
    parts[index] = value
    return ".".join(parts)


def flipped(text: str) -> str:
    """`text` with its first character changed."""
    return ("B" if text[0] == "A" else "A") + text[1:]


# -- minting ----------------------------------------------------------------------------------


def test_a_token_names_its_key_and_expiry_and_is_url_safe():
    assert TOKEN_SHAPE.match(TOKEN)
    assert (KID, int(EXPIRES)) == ("k1", NOW + HOUR)


def test_the_first_key_signs():
    assert mint_token(NEW_KEYS, now=NOW, ttl=HOUR).startswith("k2.")


def test_minting_is_deterministic():
    # nothing random in a token: the same key, clock and ttl give the same token
    assert mint_token(KEYS, now=NOW, ttl=HOUR) == TOKEN
    assert mint_token(KEYS, now=NOW, ttl=HOUR + 1) != TOKEN


@pytest.mark.parametrize(
    "ttl",
    [
        pytest.param(1, id="one-second"),
        pytest.param(MAX_TTL_SECONDS, id="the-maximum"),
    ],
)
def test_mint_accepts_a_ttl_up_to_the_maximum(ttl):
    assert token_is_valid(mint_token(KEYS, now=NOW, ttl=ttl), KEYS, now=NOW)


@pytest.mark.parametrize(
    "ttl",
    [
        pytest.param(0, id="zero"),
        pytest.param(-HOUR, id="negative"),
        pytest.param(MAX_TTL_SECONDS + 1, id="over-seven-days"),
        pytest.param(float("inf"), id="infinite"),
    ],
)
def test_mint_refuses_a_ttl_outside_the_bounds(ttl):
    with pytest.raises(ValueError, match="between 1 second and 7 days"):
        mint_token(KEYS, now=NOW, ttl=ttl)


# -- verifying --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, keys, now, expected",
    [
        pytest.param(TOKEN, KEYS, NOW, True, id="fresh"),
        pytest.param(TOKEN, KEYS, NOW + HOUR - 1, True, id="last-second"),
        pytest.param(TOKEN, KEYS, NOW + HOUR, False, id="expired-at-expiry"),
        pytest.param(TOKEN, KEYS, NOW + DAY, False, id="expired"),
        # minted by a clock a minute ahead, for the longest ttl: it ends past now + the maximum
        pytest.param(mint_token(KEYS, now=NOW + MINUTE, ttl=MAX_TTL_SECONDS), KEYS, NOW, False,
                     id="expiry-beyond-the-maximum"),
        pytest.param(mint_token(KEYS, now=NOW + MINUTE, ttl=MAX_TTL_SECONDS), KEYS, NOW + MINUTE, True,
                     id="the-same-token-a-minute-later"),
        pytest.param(TOKEN, SessionKeys.parse(f"k1:{SECRET_2}"), NOW, False, id="same-id-other-secret"),
        pytest.param(TOKEN, SessionKeys.parse(f"k2:{SECRET_2}"), NOW, False, id="unknown-key-id"),
        # rotation: the old key is still listed, so its tokens still verify
        pytest.param(TOKEN, NEW_KEYS, NOW, True, id="rotated-old-key-still-listed"),
        pytest.param(mint_token(NEW_KEYS, now=NOW, ttl=HOUR), NEW_KEYS, NOW, True, id="rotated-new-key"),
        # the old key retired: its tokens stop working
        pytest.param(TOKEN, SessionKeys.parse(f"k2:{SECRET_2}"), NOW, False, id="old-key-retired"),
        pytest.param(mint_token(NEW_KEYS, now=NOW, ttl=HOUR), KEYS, NOW, False, id="new-key-not-yet-listed"),
    ],
)
def test_token_is_valid(token, keys, now, expected):
    assert token_is_valid(token, keys, now=now) is expected


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(with_part(2, flipped(MAC)), id="mac-changed"),
        pytest.param(with_part(2, MAC[:-1]), id="mac-shortened"),
        pytest.param(with_part(2, MAC + "A"), id="mac-lengthened"),
        pytest.param(with_part(2, MAC + "="), id="mac-padded"),
        pytest.param(with_part(2, ""), id="mac-empty"),
        # later, and still within the maximum: only the MAC stops it
        pytest.param(with_part(1, str(NOW + DAY)), id="expiry-extended"),
        pytest.param(with_part(1, "0" + EXPIRES), id="expiry-zero-padded"),
        pytest.param(with_part(0, "k2"), id="key-id-relabelled"),
        pytest.param(TOKEN + ".x", id="four-parts"),
        pytest.param(f"{KID}.{MAC}", id="two-parts"),
        pytest.param("", id="empty"),
        pytest.param(with_part(1, ""), id="expiry-empty"),
        pytest.param(with_part(1, "-" + EXPIRES), id="expiry-negative"),
        pytest.param(with_part(1, EXPIRES + ".5"), id="expiry-fraction"),
        pytest.param(with_part(1, " " + EXPIRES), id="expiry-space"),
        pytest.param(with_part(1, "9" * 13), id="expiry-13-digits"),
        # str.isdigit() takes these; int() refuses the first and reads the second
        pytest.param(with_part(1, "\u00b2"), id="expiry-superscript-digit"),
        pytest.param(with_part(1, EXPIRES.translate(ARABIC_INDIC)), id="expiry-arabic-indic-digits"),
        # hmac.compare_digest() raises on non-ASCII strings
        pytest.param(with_part(2, "\u00e9" + MAC[1:]), id="mac-non-ascii"),
        pytest.param(with_part(0, "k\u00b9"), id="key-id-non-ascii"),
    ],
)
def test_a_tampered_or_malformed_token_is_refused_never_an_error(token):
    assert token_is_valid(token, KEYS, now=NOW) is False


def test_the_mac_covers_the_key_id():
    # two ids for one secret: relabelling the token must still break it
    same_secret = SessionKeys.parse(f"k1:{SECRET_1},k2:{SECRET_1}")
    assert token_is_valid(TOKEN, same_secret, now=NOW)
    assert not token_is_valid(with_part(0, "k2"), same_secret, now=NOW)


# -- never a session cookie -------------------------------------------------------------------


def test_a_session_mac_over_a_token_body_is_not_a_token():
    # the session cookie's own MAC of the very text a token signs: only the MAC contexts differ
    session_mac = session_module._SIGNER.mac(KEYS.get(KID), f"{KID}.{EXPIRES}")
    assert not token_is_valid(with_part(2, _b64(session_mac)), KEYS, now=NOW)


def test_a_preview_mac_over_a_session_body_is_not_a_session():
    cookie = dump(Session("v" * 22, NOW - MINUTE, NOW - MINUTE, pages=1), KEYS)
    kid, body, _ = cookie.split(".")
    assert load(cookie, KEYS, NOW) is not None
    preview_mac = preview_module._SIGNER.mac(KEYS.get(kid), f"{kid}.{body}")
    assert load(f"{kid}.{body}.{_b64(preview_mac)}", KEYS, NOW) is None


def test_a_session_cookie_is_not_a_token():
    assert not token_is_valid(dump(Session("v" * 22, NOW - MINUTE, NOW - MINUTE), KEYS), KEYS, now=NOW)


def test_a_token_is_not_a_session_cookie():
    assert load(TOKEN, KEYS, NOW) is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- the request's pz_* parameters ------------------------------------------------------------


@pytest.mark.parametrize(
    "query, keys",
    [
        pytest.param({}, KEYS, id="no-token"),
        pytest.param({TOKEN_PARAM: ""}, KEYS, id="empty-token"),
        pytest.param({"pz_tier": "high", "pz_rule": "sale", "pz_set.request.country": "DE"}, KEYS,
                     id="parameters-without-token"),
        pytest.param({TOKEN_PARAM: with_part(2, flipped(MAC)), "pz_tier": "high"}, KEYS, id="forged-token"),
        pytest.param({TOKEN_PARAM: mint_token(KEYS, now=NOW - DAY, ttl=HOUR), "pz_tier": "high"}, KEYS,
                     id="expired-token"),
        # a Worker without SESSION_KEYS verifies nothing
        pytest.param({TOKEN_PARAM: TOKEN, "pz_tier": "high"}, None, id="no-keys"),
        pytest.param({"PZ_PREVIEW": TOKEN}, KEYS, id="name-is-case-sensitive"),
    ],
)
def test_without_a_valid_token_there_is_no_preview(query, keys):
    assert requested_preview(query, keys, now=NOW) is None


def test_a_valid_token_alone_only_asks_for_the_trace():
    assert requested_preview({TOKEN_PARAM: TOKEN, "color": "red"}, KEYS, now=NOW) == Preview()


@pytest.mark.parametrize(
    "params, tier, rule",
    [
        pytest.param({"pz_tier": "high", "pz_rule": "spring-sale"}, "high", "spring-sale", id="both"),
        pytest.param({"pz_tier": ""}, None, None, id="empty-is-none"),
        pytest.param({"pz_tier": "no-such-tier"}, "no-such-tier", None, id="unknown-tier-passed-on"),
    ],
)
def test_forced_tier_and_rule(params, tier, rule):
    got = requested_preview({TOKEN_PARAM: TOKEN, **params}, KEYS, now=NOW)
    assert (got.tier, got.rule) == (tier, rule)


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        pytest.param("request.country", "DE", (("request", "country"), "DE"), id="two-segments"),
        pytest.param("country", "DE", (("country",), "DE"), id="a-root"),
        pytest.param("request.utm.campaign", "sale", (("request", "utm", "campaign"), "sale"), id="three-segments"),
        pytest.param("profile.a.b.c", "1", (("profile", "a", "b", "c"), 1), id="four-segments"),
        pytest.param("profile.a.b.c.d", "1", None, id="five-segments-dropped"),
        pytest.param("params.reward", "free", None, id="params-not-settable"),     # a rule's own
        pytest.param("contributions.depth", "9", None, id="contributions-not-settable"),
        pytest.param("secret.x", "1", None, id="unknown-root"),
        pytest.param("Request.country", "DE", None, id="root-is-case-sensitive"),
        pytest.param("", "x", None, id="empty-path"),
        pytest.param("request.", "x", None, id="empty-last-segment"),
        pytest.param("request..country", "x", None, id="empty-middle-segment"),
        pytest.param("request.country", "x" * MAX_VALUE_CHARS, (("request", "country"), "x" * MAX_VALUE_CHARS),
                     id="longest-value"),
        pytest.param("request.country", "x" * (MAX_VALUE_CHARS + 1), None, id="value-too-long"),
    ],
)
def test_override_paths(name, raw, expected):
    got = requested_preview({TOKEN_PARAM: TOKEN, SET_PREFIX + name: raw}, KEYS, now=NOW).overrides
    assert got == ((expected,) if expected else ())


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param("120", 120, id="integer"),
        pytest.param("-1.5", -1.5, id="float"),
        pytest.param("true", True, id="true"),
        pytest.param("false", False, id="false"),
        pytest.param("null", None, id="null"),
        pytest.param('"120"', "120", id="quoted-number-is-a-string"),
        pytest.param("DE", "DE", id="bare-text"),
        pytest.param("", "", id="empty"),
        pytest.param("True", "True", id="python-spelling-is-text"),
        pytest.param("00123", "00123", id="leading-zeros-is-text"),   # not JSON: an id stays an id
        # containers would let a preview put lists and tables where conditions expect scalars
        pytest.param("[1, 2]", "[1, 2]", id="array-is-text"),
        pytest.param('{"a": 1}', '{"a": 1}', id="object-is-text"),
    ],
)
def test_override_values_are_json_scalars_or_text(raw, expected):
    [(_, value)] = requested_preview({TOKEN_PARAM: TOKEN, "pz_set.request.x": raw}, KEYS, now=NOW).overrides
    assert value == expected and type(value) is type(expected)


def test_at_most_max_overrides_the_first_in_query_order():
    names = [f"pz_set.request.a{i}" for i in range(MAX_OVERRIDES + 4)]
    got = requested_preview({TOKEN_PARAM: TOKEN, **dict.fromkeys(names, "1")}, KEYS, now=NOW).overrides
    assert [path for path, _ in got] == [("request", f"a{i}") for i in range(MAX_OVERRIDES)]


def test_refused_overrides_do_not_count_against_the_limit():
    refused = {f"pz_set.params.p{i}": "1" for i in range(MAX_OVERRIDES)}
    accepted = {f"pz_set.request.a{i}": "1" for i in range(MAX_OVERRIDES)}
    got = requested_preview({TOKEN_PARAM: TOKEN, **refused, **accepted}, KEYS, now=NOW).overrides
    assert len(got) == MAX_OVERRIDES and all(path[0] == "request" for path, _ in got)


# -- applying overrides -----------------------------------------------------------------------


ATTRIBUTES = {"request": {"country": "US", "utm": {"campaign": "spring"}, "path": "/"}, "score": 12.0,
              "session": {"pages": 2, "categories": ["cameras"]}}


@pytest.mark.parametrize(
    "overrides, changed",
    [
        pytest.param(((("request", "country"), "DE"),), {"request": {**ATTRIBUTES["request"], "country": "DE"}},
                     id="replace-a-leaf"),
        pytest.param(((("request", "utm", "campaign"), "sale"),),
                     {"request": {**ATTRIBUTES["request"], "utm": {"campaign": "sale"}}}, id="replace-nested"),
        pytest.param(((("cart", "value"), 300),), {"cart": {"value": 300}}, id="create-a-root-table"),
        pytest.param(((("request", "geo", "metro"), 501),),
                     {"request": {**ATTRIBUTES["request"], "geo": {"metro": 501}}}, id="create-nested-tables"),
        # a value in the way of a longer path becomes a table
        pytest.param(((("score", "x"), 1),), {"score": {"x": 1}}, id="scalar-in-the-way"),
        pytest.param(((("request", "country"), "DE"), (("request", "utm", "medium"), "mail")),
                     {"request": {**ATTRIBUTES["request"], "country": "DE",
                                  "utm": {"campaign": "spring", "medium": "mail"}}}, id="two-under-one-root"),
        pytest.param(((("session", "categories"), "lenses"),),
                     {"session": {**ATTRIBUTES["session"], "categories": "lenses"}}, id="replace-a-list"),
    ],
)
def test_apply_sets_each_path_and_leaves_the_input_alone(overrides, changed):
    before = copy.deepcopy(ATTRIBUTES)
    result = Preview(overrides=overrides).apply(ATTRIBUTES)
    assert result == {**ATTRIBUTES, **changed}
    assert ATTRIBUTES == before      # no dict along any path was changed in place


def test_an_empty_preview_applies_nothing():
    assert Preview().apply(ATTRIBUTES) == ATTRIBUTES


def test_preview_trace():
    got = Preview("high", "sale", ((("request", "country"), "DE"), (("score",), 90))).trace()
    assert got == {"tier": "high", "rule": "sale", "set": {"request.country": "DE", "score": 90}}


# -- the preview link -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, kwargs, expected",
    [
        pytest.param("https://shop.example/p", {}, "https://shop.example/p?pz_preview=T", id="bare"),
        pytest.param("https://shop.example/p?b=2&a=1", {}, "https://shop.example/p?b=2&a=1&pz_preview=T",
                     id="own-query-kept-in-order"),
        pytest.param("https://shop.example/p#reviews", {}, "https://shop.example/p?pz_preview=T#reviews",
                     id="fragment-kept"),
        pytest.param("https://shop.example/p", {"tier": "high", "rule": "spring-sale"},
                     "https://shop.example/p?pz_preview=T&pz_tier=high&pz_rule=spring-sale", id="tier-and-rule"),
        pytest.param("https://shop.example/p", {"tier": "", "rule": None}, "https://shop.example/p?pz_preview=T",
                     id="empty-left-out"),
        pytest.param("https://shop.example/p", {"overrides": {"request.utm.campaign": "a b&c=d#e"}},
                     "https://shop.example/p?pz_preview=T&pz_set.request.utm.campaign=a+b%26c%3Dd%23e",
                     id="values-encoded"),
        pytest.param("https://shop.example/p", {"overrides": {"city": "K\u00f6ln"}},
                     "https://shop.example/p?pz_preview=T&pz_set.city=K%C3%B6ln", id="non-ascii-encoded"),
        # a link made from an earlier preview link: the old token (read first at the edge) must go
        pytest.param("https://shop.example/p?pz_preview=OLD&a=1&pz_set.country=FR&pz_tier=low", {},
                     "https://shop.example/p?a=1&pz_preview=T", id="earlier-preview-replaced"),
    ],
)
def test_preview_url(url, kwargs, expected):
    assert preview_url(url, "T", **kwargs) == expected


def test_a_preview_link_round_trips_through_the_request_context():
    link = preview_url("https://shop.example/products/?color=red&pz_preview=OLD", TOKEN, tier="high",
                       rule="spring-sale", overrides={"request.country": "DE", "session.pages": "3",
                                                      "request.utm.campaign": "a&b=c"})
    query = context(link.removeprefix("https://shop.example")).query
    assert query["color"] == "red"
    assert requested_preview(query, KEYS, now=NOW) == Preview(
        "high", "spring-sale",
        ((("request", "country"), "DE"), (("session", "pages"), 3), (("request", "utm", "campaign"), "a&b=c")))


# -- the trace header -------------------------------------------------------------------------


HOSTILE = "a\r\nSet-Cookie: pz=evil\r\n\r\n<script>alert(1)</script> K\u00f6ln \u2028 \x00 \U0001F600"


@pytest.mark.parametrize(
    "trace",
    [
        pytest.param({"preview": {"set": {"request.country": HOSTILE}}}, id="hostile-value"),
        pytest.param({"rules": {"skipped": {HOSTILE: ["r"]}}}, id="hostile-key"),
        pytest.param({"score": 1.0, "choices": {"hero": {"rule": HOSTILE * 300}}}, id="hostile-and-truncated"),
    ],
)
def test_the_trace_header_is_ascii_without_control_characters(trace):
    header = trace_header(trace)
    assert header.isascii()
    assert not any(ord(ch) < 0x20 for ch in header)      # no CR, LF or NUL can split the response
    assert len(header) <= 8192


def test_a_short_trace_is_its_json():
    trace = {"score": 51.2, "tier": "low", "preview": {"set": {"request.x": HOSTILE}}}
    assert json.loads(trace_header(trace)) == trace
    assert " " not in trace_header({"a": [1, 2], "b": {"c": 3}})   # compact


def test_a_trace_at_the_limit_is_kept_whole():
    trace = {"score": 1.0, "rules": {"fired": {"r": ["x" * 100]}}}
    size = len(trace_header(trace))
    assert json.loads(trace_header(trace, limit=size)) == trace
    assert "truncated" in json.loads(trace_header(trace, limit=size - 1))


def test_a_long_trace_keeps_score_tier_choices_and_preview():
    trace = {"score": 85.0, "tier": "high", "contributions": {"depth": 10.0},
             "rules": {"fired": {}, "control": {}, "skipped": {"condition not met": [f"r{i}" for i in range(2000)]}},
             "choices": {"hero": {"rule": "sale", "fragment": "f", "variant": "f"}},
             "preview": {"tier": "high", "rule": None, "set": {}, "forced": None}}
    short = json.loads(trace_header(trace))
    assert short == {"score": 85.0, "tier": "high", "choices": trace["choices"], "preview": trace["preview"],
                     "truncated": True}


def test_a_trace_too_long_even_cut_down_says_only_truncated():
    trace = {"score": 1.0, "choices": {f"slot{i}": {"rule": "x" * 50} for i in range(500)}}
    assert trace_header(trace) == '{"truncated":true}'
