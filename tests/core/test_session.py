"""The edge session: keys, the session's life (new, advance, 30-minute idle, dwell cap, impressions), and the
signed cookie (round trip, tampering, key rotation, expiry, garbage, the 1 KB bound). A bad cookie is a new
visitor, never an error."""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import replace

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentedge import session as session_module
from intentedge.secret import Secret
from intentedge.session import (
    CLOCK_SKEW_SECONDS,
    COOKIE_NAME,
    DWELL_CAP_SECONDS,
    IMPRESSION_LIMIT,
    MAX_AGE_SECONDS,
    MAX_COOKIE_BYTES,
    RECENT_LIMIT,
    SESSION_IDLE_SECONDS,
    Session,
    SessionKeyError,
    SessionKeys,
    advance,
    cookie_value,
    session_cookie,
    dump,
    expired_cookie_header,
    load,
    new_session,
    record_impressions,
    remember,
    rule_tag,
    set_cookie_header,
)

from tests.core.builders import KEYS, MINUTE, NOW, SECRET_1, SECRET_2, counter_bytes

VISITOR = "rHI2ilhqGMGQiDk1c84DBw"  # what new_session draws from counter_bytes(0)
COOKIE_SAFE = re.compile(r"[A-Za-z0-9]{1,8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}\Z")


def returning(**changes) -> Session:
    """A returning visitor, second page of their first session."""
    base = Session(VISITOR, started=NOW - 5 * MINUTE, last_seen=NOW - MINUTE, pages=2, visits=1, dwell=40,
                   categories=("cameras", "lenses"), products=("alpha-pro",), cart_value=649.5, cart_items=1,
                   searches=1, stage=2, trial=True, purchases=1, impressions={rule_tag("promo"): (1, 3)})
    return replace(base, **changes)


def encode_state(state) -> bytes:
    """Any state, encoded as the cookie encodes its own (JSON now; msgpack before)."""
    if session_module._pack(returning()).startswith(b"["):
        return json.dumps(state, separators=(",", ":")).encode()
    return msgpack.packb(state, use_bin_type=True)


def forged(state, keys: SessionKeys = KEYS) -> str:
    """A cookie signed with the real key around any state: what a writer bug or a leaked key produces."""
    return session_module._sign(encode_state(state), keys)


def valid_state(**changes) -> list:
    fields = dict(version=1, visitor_id=VISITOR, started=NOW - 100, last_seen=NOW, pages=2, visits=1, dwell=10,
                  categories=["cameras"], products=["alpha-pro"], cart_value=12.5, cart_items=1, searches=0,
                  stage=1, trial=False, purchases=0, impressions=[[123, 1, 2]])
    fields.update(changes)
    return list(fields.values())


# -- keys -------------------------------------------------------------------------------------


def test_keys_parse_in_order_the_first_signs():
    keys = SessionKeys.parse(f"k2:{SECRET_2}, k1:{SECRET_1}")
    assert [kid for kid, _ in keys.keys] == ["k2", "k1"]
    assert keys.signing[0] == "k2"
    assert keys.get("k1").reveal() == SECRET_1.encode()
    assert keys.get("k3") is None


def test_a_secret_may_contain_colons():
    keys = SessionKeys.parse("k1:" + "a:b" * 11)
    assert keys.get("k1").reveal() == ("a:b" * 11).encode()


@pytest.mark.parametrize(
    "spec, message",
    [
        pytest.param("", "SESSION_KEYS must be 'id:secret[,id:secret...]'", id="empty"),
        pytest.param(SECRET_1, "SESSION_KEYS must be 'id:secret[,id:secret...]'", id="no-id"),
        pytest.param(":" + SECRET_1, "SESSION_KEYS must be 'id:secret[,id:secret...]'", id="empty-id"),
        pytest.param("k-1:" + SECRET_1, "SESSION_KEYS must be 'id:secret[,id:secret...]'", id="id-punctuation"),
        # the id travels in every cookie: short
        pytest.param("key123456:" + SECRET_1, "SESSION_KEYS must be 'id:secret[,id:secret...]'", id="id-9-chars"),
        pytest.param(f"k1:{SECRET_1},", "SESSION_KEYS must be 'id:secret[,id:secret...]'", id="trailing-comma"),
        pytest.param("k1:" + "x" * 31, "SESSION_KEYS: the secret of key 'k1' is shorter than 32 characters",
                     id="short-secret"),
        pytest.param(f"k1:{SECRET_1},k2:short", "SESSION_KEYS: the secret of key 'k2' is shorter than 32 characters",
                     id="second-short"),
    ],
)
def test_bad_key_specs_are_refused(spec, message):
    with pytest.raises(SessionKeyError) as caught:
        SessionKeys.parse(spec)
    assert str(caught.value).startswith(message)
    assert SECRET_1 not in str(caught.value)


def test_secrets_never_show_in_reprs():
    keys = SessionKeys.parse(f"k2:{SECRET_2},k1:{SECRET_1}")
    assert repr(keys) == "SessionKeys(ids=['k2', 'k1'])"
    assert repr(Secret(b"hunter2")) == "Secret('**********')"
    for text in (repr(keys), str(keys), repr(keys.keys), f"{keys.signing}"):
        assert SECRET_1 not in text and SECRET_2 not in text


# -- the session's life -----------------------------------------------------------------------


def test_new_session_draws_the_visitor_id_from_injected_randomness():
    session = new_session(NOW + 0.9, counter_bytes())
    assert session == Session(VISITOR, started=NOW, last_seen=NOW, is_new=True)
    assert new_session(NOW, counter_bytes()).visitor_id == VISITOR  # same bytes, same id
    assert new_session(NOW, counter_bytes(seed=1)).visitor_id != VISITOR
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", VISITOR)  # 16 bytes, base64url without padding


def test_first_page_of_a_new_visitor():
    session = advance(new_session(NOW, counter_bytes()), NOW)
    assert (session.pages, session.visits, session.dwell, session.started, session.last_seen) == (1, 1, 0, NOW, NOW)
    assert session.is_new is False  # advanced once: the next page is an ordinary advance
    assert session.attributes()["new_visitor"] is True  # the counters say first page of the first visit
    assert advance(session, NOW + 10).pages == 2


@pytest.mark.parametrize(
    "idle, pages, dwell",
    [
        pytest.param(0, 3, 0, id="same-second"),
        pytest.param(90, 3, 90, id="ninety-seconds"),
        pytest.param(DWELL_CAP_SECONDS, 3, DWELL_CAP_SECONDS, id="at-dwell-cap"),
        # a tab left open counts as ten minutes, not as twenty
        pytest.param(20 * MINUTE, 3, DWELL_CAP_SECONDS, id="dwell-capped"),
        # idle for exactly 30 minutes is still the same session
        pytest.param(SESSION_IDLE_SECONDS, 3, DWELL_CAP_SECONDS, id="idle-limit"),
    ],
)
def test_advance_within_a_session(idle, pages, dwell):
    before = returning()
    after = advance(before, before.last_seen + idle)
    assert (after.pages, after.dwell, after.last_seen) == (pages, dwell, before.last_seen + idle)
    assert replace(after, pages=before.pages, dwell=before.dwell, last_seen=before.last_seen) == before


def test_advance_after_30_idle_minutes_starts_a_new_session():
    before = returning(impressions={rule_tag("promo"): (2, 5), rule_tag("chat"): (1, 1)})
    now = before.last_seen + SESSION_IDLE_SECONDS + 1
    after = advance(before, now)

    assert (after.started, after.last_seen, after.pages, after.visits) == (now, now, 1, 2)
    assert (after.dwell, after.searches, after.stage) == (0, 0, 0)  # this session's counters reset
    # per-session impressions reset, per-visitor impressions kept
    assert after.impressions == {rule_tag("promo"): (0, 5), rule_tag("chat"): (0, 1)}
    # the visitor's history carries over
    assert (after.visitor_id, after.categories, after.products) == (VISITOR, before.categories, before.products)
    assert (after.cart_value, after.cart_items, after.trial, after.purchases) == (649.5, 1, True, 1)
    assert after.attributes()["new_visitor"] is False


def test_advance_does_not_mutate_the_session():
    before = returning()
    snapshot = replace(before, impressions=dict(before.impressions))
    advance(before, NOW + SESSION_IDLE_SECONDS * 2)
    assert before == snapshot


def test_a_clock_slightly_behind_keeps_the_session():
    # another colo's clock one second behind: advance() uses max(now, last_seen), so last_seen never moves
    # before started and the cookie dump() writes still loads
    first = advance(new_session(NOW, counter_bytes()), NOW)
    second = advance(load(dump(first, KEYS), KEYS, NOW), NOW - 1)
    assert (second.started, second.last_seen, second.pages, second.dwell) == (NOW, NOW, 2, 0)
    assert load(dump(second, KEYS), KEYS, NOW - 1) == second


def test_a_clock_behind_by_more_than_the_idle_limit_does_not_start_a_new_session():
    before = returning()
    after = advance(before, before.last_seen - SESSION_IDLE_SECONDS - 60)
    assert (after.visits, after.started, after.last_seen, after.pages, after.dwell) == (
        before.visits, before.started, before.last_seen, before.pages + 1, 0)


@pytest.mark.parametrize(
    "is_new, visits, pages, expected",
    [
        pytest.param(True, 1, 1, True, id="created-now"),
        pytest.param(False, 1, 1, True, id="first-page-from-cookie"),
        pytest.param(False, 1, 2, False, id="second-page"),
        pytest.param(False, 2, 1, False, id="second-session"),
        # the counters decide, not the is_new flag
        pytest.param(True, 3, 9, False, id="new-flag-ignored"),
        pytest.param(True, 1, 2, False, id="new-flag-on-a-second-page"),
    ],
)
def test_new_visitor(is_new, visits, pages, expected):
    assert returning(is_new=is_new, visits=visits, pages=pages).attributes()["new_visitor"] is expected


def test_session_attributes():
    session = returning()
    assert session.attributes() == {
        "new_visitor": False, "pages": 2, "visits": 1, "dwell": 40, "categories": ["cameras", "lenses"],
        "products": ["alpha-pro"], "searches": 1, "stage": 2, "trial": True, "purchases": 1, "seconds": 4 * MINUTE,
    }
    assert returning(cart_value=1 / 3).cart == {"value": 0.33, "items": 1}


def test_record_impressions_counts_per_session_and_per_visitor():
    session = returning(impressions={})
    session = record_impressions(session, ["promo", "chat"])
    session = record_impressions(session, ["promo"])
    assert session.impressions_of("promo") == (2, 2)
    assert session.impressions_of("chat") == (1, 1)
    assert session.impressions_of("never-shown") == (0, 0)


def test_record_impressions_keeps_the_most_recent_rules():
    session = returning(impressions={})
    session = record_impressions(session, [f"rule-{i}" for i in range(IMPRESSION_LIMIT + 6)])
    session = record_impressions(session, ["rule-6"])  # shown again: now the most recent
    assert len(session.impressions) == IMPRESSION_LIMIT
    assert [session.impressions_of(f"rule-{i}") for i in (5, 6, 7, 29)] == [(0, 0), (2, 2), (1, 1), (1, 1)]
    assert list(session.impressions)[-1] == rule_tag("rule-6")


def test_record_no_impressions_is_the_same_session():
    session = returning()
    assert record_impressions(session, []) is session


def test_rule_tag_is_crc32_and_stable():
    # the tag is stored in cookies: it must never change for a given rule id
    assert rule_tag("high-intent-chat") == 1318773705 == zlib.crc32(b"high-intent-chat")


@pytest.mark.parametrize(
    "items, item, expected",
    [
        pytest.param((), "a", ("a",), id="first"),
        pytest.param(("b", "a"), "c", ("c", "b", "a"), id="most-recent-first"),
        pytest.param(("b", "a", "c"), "a", ("a", "b", "c"), id="moves-to-front"),
        pytest.param(("a",), "a", ("a",), id="already-first"),
        pytest.param(tuple("edcba"), "f", tuple("fedcb"), id="oldest-dropped"),
    ],
)
def test_remember(items, item, expected):
    assert remember(items, item) == expected
    assert len(remember(tuple("abcdefgh"), "z")) == RECENT_LIMIT


# -- the cookie -------------------------------------------------------------------------------


def test_cookie_round_trip():
    session = returning(impressions={rule_tag("promo"): (1, 3), rule_tag("chat"): (0, 7)})
    value = dump(session, KEYS)
    assert COOKIE_SAFE.match(value) and value.startswith("k1.")
    assert load(value, KEYS, NOW) == session


def test_cookie_of_a_new_session_loads_as_not_new():
    session = advance(new_session(NOW, counter_bytes()), NOW)
    assert session.is_new is False  # advance() cleared it: the cookie round-trips unchanged
    loaded = load(dump(session, KEYS), KEYS, NOW + 5)
    assert loaded == session
    # the flag is not stored: even an unadvanced new session loads as not new
    assert load(dump(new_session(NOW, counter_bytes()), KEYS), KEYS, NOW).is_new is False
    assert loaded.attributes()["new_visitor"] is True  # still the first page of the first visit


def tamper(value: str, part: int, change) -> str:
    parts = value.split(".")
    parts[part] = change(parts[part])
    return ".".join(parts)


def flip_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def flip_first(text: str) -> str:
    return ("A" if text[0] != "A" else "B") + text[1:]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda v: tamper(v, 1, flip_first), id="body-changed"),
        pytest.param(lambda v: tamper(v, 1, lambda b: b[:-4]), id="body-truncated"),
        pytest.param(lambda v: tamper(v, 1, lambda b: b + "AAAA"), id="body-extended"),
        pytest.param(lambda v: tamper(v, 2, flip_first), id="mac-changed"),
        pytest.param(lambda v: tamper(v, 2, lambda m: m[:-2]), id="mac-truncated"),
        pytest.param(lambda v: tamper(v, 2, lambda m: ""), id="mac-empty"),
        # the MAC covers the key id: relabelling a cookie breaks it
        pytest.param(lambda v: tamper(v, 0, lambda k: "k2"), id="kid-relabelled"),
        pytest.param(lambda v: tamper(v, 0, lambda k: "K1"), id="kid-case"),
        pytest.param(lambda v: v + ".x", id="fourth-part"),
        pytest.param(lambda v: v.replace(".", "", 1), id="two-parts"),
    ],
)
def test_tampered_cookies_are_a_new_visitor(mutate):
    both = SessionKeys.parse(f"k1:{SECRET_1},k2:{SECRET_2}")
    value = dump(returning(), both)
    assert load(value, both, NOW) is not None
    assert load(mutate(value), both, NOW) is None


def test_a_body_swapped_between_two_genuine_cookies_is_refused():
    a = dump(returning(pages=2), KEYS).split(".")
    b = dump(returning(pages=3), KEYS).split(".")
    assert load(".".join([a[0], b[1], a[2]]), KEYS, NOW) is None


def test_key_rotation_old_key_verifies_new_key_signs():
    old_keys = SessionKeys.parse(f"k1:{SECRET_1}")
    rotated = SessionKeys.parse(f"k2:{SECRET_2},k1:{SECRET_1}")
    session = returning()

    old_cookie = dump(session, old_keys)
    assert load(old_cookie, rotated, NOW) == session            # visitors keep their session
    new_cookie = dump(load(old_cookie, rotated, NOW), rotated)
    assert new_cookie.startswith("k2.")                         # and get it back signed with the new key
    assert load(new_cookie, rotated, NOW) == session
    assert load(new_cookie, old_keys, NOW) is None              # an isolate still on the old keys cannot read it


def test_a_retired_key_no_longer_verifies():
    old_cookie = dump(returning(), SessionKeys.parse(f"k1:{SECRET_1}"))
    assert load(old_cookie, SessionKeys.parse(f"k2:{SECRET_2}"), NOW) is None


def test_same_key_id_with_another_secret_is_refused():
    cookie = dump(returning(), SessionKeys.parse(f"k1:{SECRET_1}"))
    assert load(cookie, SessionKeys.parse(f"k1:{SECRET_2}"), NOW) is None


@pytest.mark.parametrize(
    "age, loads",
    [
        pytest.param(0, True, id="just-seen"),
        pytest.param(MAX_AGE_SECONDS, True, id="at-max-age"),
        pytest.param(MAX_AGE_SECONDS + 1, False, id="expired"),
        pytest.param(10 * MAX_AGE_SECONDS, False, id="long-expired"),
        # last_seen in the future: another colo's clock may run a little ahead ...
        pytest.param(-1, True, id="from-a-clock-one-second-ahead"),
        pytest.param(-CLOCK_SKEW_SECONDS, True, id="at-the-clock-skew-limit"),
        # ... but not by more than CLOCK_SKEW_SECONDS: not a cookie any Worker wrote at this time
        pytest.param(-CLOCK_SKEW_SECONDS - 1, False, id="beyond-the-clock-skew"),
        pytest.param(-MAX_AGE_SECONDS, False, id="far-in-the-future"),
    ],
)
def test_expiry_counts_from_last_seen(age, loads):
    session = returning(started=NOW - 400 * 86400, last_seen=NOW)  # the session's start does not matter
    assert (load(dump(session, KEYS), KEYS, NOW + age) is not None) is loads


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("garbage", id="one-part"),
        pytest.param("k1..", id="empty-parts"),
        pytest.param("k1.!!!!.????", id="not-base64"),
        pytest.param("k1.é.ü", id="non-ascii"),
        pytest.param("k1.\ud800.x", id="lone-surrogate"),
        pytest.param("k9.AAAA.AAAA", id="unknown-key-id"),
        pytest.param(".AAAA.AAAA", id="empty-key-id"),
        pytest.param("k1." + "A" * MAX_COOKIE_BYTES + ".AAAA", id="oversized"),
        pytest.param("k1.AAAA.AAAA" + " " * MAX_COOKIE_BYTES, id="oversized-padding"),
    ],
)
def test_garbage_is_a_new_visitor(value):
    assert load(value, KEYS, NOW) is None


def test_a_genuine_but_oversized_value_is_refused_unread():
    session = returning()
    padded = forged(valid_state(categories=["c" * 60] * 20, products=["p" * 60] * 20))
    assert len(padded) > MAX_COOKIE_BYTES
    assert load(padded, KEYS, NOW) is None
    assert load(dump(session, KEYS), KEYS, NOW) == session


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(valid_state(version=2), id="future-version"),
        pytest.param(valid_state(version=True), id="version-bool"),
        pytest.param(valid_state()[:-1], id="15-fields"),
        pytest.param(valid_state() + [0], id="17-fields"),
        pytest.param({"version": 1}, id="map"),
        pytest.param(1, id="scalar"),
        pytest.param(valid_state(visitor_id="x" * 15), id="visitor-id-short"),
        pytest.param(valid_state(visitor_id="x" * 33), id="visitor-id-long"),
        pytest.param(valid_state(visitor_id=["x" * 22]), id="visitor-id-list"),
        pytest.param(valid_state(started=NOW + 1), id="started-after-last-seen"),
        pytest.param(valid_state(pages=-1), id="negative-count"),
        # the encodings keep true apart from 1; the state must too
        pytest.param(valid_state(pages=True), id="bool-count"),
        pytest.param(valid_state(pages=2.0), id="float-count"),
        pytest.param(valid_state(pages=2**53), id="count-beyond-2-53"),
        pytest.param(valid_state(cart_value=-0.01), id="negative-cart"),
        pytest.param(valid_state(cart_value="12"), id="cart-string"),
        pytest.param(valid_state(cart_value=float("nan")), id="cart-nan"),
        # JSON reads these, but dump() could not write them back: every page would fail (found by fuzz/)
        pytest.param(valid_state(cart_value=float("inf")), id="cart-infinity"),
        pytest.param(valid_state(categories=["\ud800"]), id="category-lone-surrogate"),
        pytest.param(valid_state(visitor_id="\udc80" * 22), id="visitor-id-lone-surrogate"),
        pytest.param(valid_state(trial=1), id="trial-int"),
        pytest.param(valid_state(categories="cameras"), id="categories-string"),
        pytest.param(valid_state(categories=[1]), id="category-int"),
        pytest.param(valid_state(products=["p" * 65]), id="product-65-chars"),
        pytest.param(valid_state(impressions={123: [1, 2]}), id="impressions-map"),
        pytest.param(valid_state(impressions=[[123, 1]]), id="impression-pair"),
        pytest.param(valid_state(impressions=[[123, 1, -2]]), id="impression-negative"),
    ],
)
def test_genuine_but_malformed_state_is_a_new_visitor(state):
    assert load(forged(state), KEYS, NOW) is None


def test_genuine_state_is_accepted_and_long_lists_are_cut():
    loaded = load(forged(valid_state(categories=list("abcdefg"))), KEYS, NOW)
    assert loaded.categories == tuple("abcde")
    assert loaded.impressions == {123: (1, 2)}
    assert loaded.cart_value == 12.5 and loaded.is_new is False


def test_trailing_bytes_after_the_state_are_refused():
    body = encode_state(valid_state()) + b"0"
    assert load(session_module._sign(body, KEYS), KEYS, NOW) is None
    assert load(session_module._sign(encode_state(valid_state()), KEYS), KEYS, NOW) is not None


def heavy_session(**changes) -> Session:
    """Everything at its limits: long recent lists, IMPRESSION_LIMIT impressions, huge counters."""
    session = returning(categories=tuple(str(i) * 64 for i in range(RECENT_LIMIT)),
                        products=tuple(f"{i}p" * 32 for i in range(RECENT_LIMIT)),
                        pages=2**53 - 1, cart_items=2**53 - 1, cart_value=99_999_999.99, impressions={})
    session = record_impressions(session, [f"rule-{i}" for i in range(40)])
    return replace(session, **changes)


BIG_COUNTS = {rule_tag(f"rule-{i}"): (2**40, 2**40) for i in range(16, 40)}


@pytest.mark.parametrize(
    "session",
    [
        pytest.param(heavy_session(), id="everything-long"),
        pytest.param(heavy_session(impressions={}), id="long-lists-only"),
        pytest.param(heavy_session(categories=(), products=()), id="impressions-only"),
        pytest.param(heavy_session(impressions=BIG_COUNTS), id="huge-impression-counts"),
        pytest.param(heavy_session(impressions=BIG_COUNTS, categories=("c",), products=()), id="short-lists"),
        pytest.param(returning(), id="small"),
    ],
)
def test_cookie_stays_within_1_kb_and_keeps_the_most_recent_history(session):
    value = dump(session, KEYS)
    assert len(f"{COOKIE_NAME}={value}") <= MAX_COOKIE_BYTES
    loaded = load(value, KEYS, NOW)
    assert loaded is not None
    # whatever was trimmed, what is left is the most recent part ...
    kept = list(loaded.impressions)
    assert kept == list(session.impressions)[len(session.impressions) - len(kept):]
    assert loaded.categories == session.categories[:len(loaded.categories)]
    assert loaded.products == session.products[:len(loaded.products)]
    # ... the recent lists go first, oldest entries first and both in step; impression counts (which enforce
    # frequency caps) are dropped only once both lists are empty
    dropped = max(len(session.categories) - len(loaded.categories), len(session.products) - len(loaded.products))
    assert len(loaded.categories) == max(0, len(session.categories) - dropped)
    assert len(loaded.products) == max(0, len(session.products) - dropped)
    if len(loaded.impressions) < len(session.impressions):
        assert (loaded.categories, loaded.products) == ((), ())
    # and nothing else changes
    assert replace(loaded, impressions={}, categories=(), products=()) == replace(
        session, impressions={}, categories=(), products=())


def test_trimming_keeps_every_impression_count_when_dropping_history_suffices():
    session = heavy_session()
    loaded = load(dump(session, KEYS), KEYS, NOW)
    assert loaded.impressions == session.impressions
    assert len(loaded.categories) < len(session.categories) and len(loaded.products) < len(session.products)
    assert loaded.categories == session.categories[:len(loaded.categories)]  # the most recent kept


def test_a_session_that_does_not_fit_is_trimmed_not_refused():
    session = heavy_session()
    loaded = load(dump(session, KEYS), KEYS, NOW)
    assert len(loaded.impressions) + len(loaded.categories) + len(loaded.products) < (
        len(session.impressions) + len(session.categories) + len(session.products))
    assert loaded.visitor_id == session.visitor_id


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=1100) | st.from_regex(r"\Ak[0-9]\.[A-Za-z0-9_=-]{0,80}\.[A-Za-z0-9_=-]{0,60}\Z"))
def test_load_never_raises_on_arbitrary_strings(value):
    assert load(value, KEYS, NOW) is None


# values both JSON and msgpack can carry
state_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1) | st.floats()
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=18) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(state_values)
def test_load_never_raises_on_genuinely_signed_garbage(state):
    loaded = load(forged(state), KEYS, NOW)
    assert loaded is None or isinstance(loaded, Session)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 15), state_values)
def test_load_never_raises_when_one_field_of_a_valid_state_is_garbage(index, value):
    state = valid_state()
    state[index] = value
    loaded = load(forged(state), KEYS, NOW)
    assert loaded is None or isinstance(loaded, Session)


# -- headers ----------------------------------------------------------------------------------


def test_set_cookie_header():
    assert set_cookie_header("k1.a.b") == (
        f"pz=k1.a.b; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax; Secure")
    # wrangler dev serves plain http on localhost, where a Secure cookie would be dropped
    assert set_cookie_header("k1.a.b", secure=False) == (
        f"pz=k1.a.b; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax")


@pytest.mark.parametrize(
    "header, expected",
    [
        pytest.param("", None, id="empty"),
        pytest.param("pz=k1.a.b", "k1.a.b", id="alone"),
        pytest.param("theme=dark; pz=k1.a.b; lang=de", "k1.a.b", id="among-others"),
        pytest.param("pz=first; pz=second", "first", id="repeated-first-wins"),
        pytest.param("xpz=1; pzx=2", None, id="similar-names"),
        pytest.param("pz", None, id="no-equals"),
        pytest.param("pz=", "", id="empty-value"),
        # only the first '=' separates name and value
        pytest.param("pz=a=b", "a=b", id="equals-in-value"),
        pytest.param("  pz = k1.a.b  ", None, id="space-before-equals"),
        pytest.param("PZ=k1.a.b", None, id="name-case-sensitive"),
        # pairs are split at ";" only: a comma is part of the value it is in (RFC 6265)
        pytest.param("theme=a,pz=k1.a.b", None, id="comma-in-another-value"),
        pytest.param("pz=k1.a.b,other=1", "k1.a.b,other=1", id="comma-in-own-value"),
    ],
)
def test_cookie_value(header, expected):
    assert cookie_value(header) == expected


@pytest.mark.parametrize("header, expected", [
    ("pz=k1.a.b, x=1", "k1.a.b"),         # a header sent twice, joined by the runtime
    ("x=1, pz=k1.a.b", "k1.a.b"),
    ("theme=a,pz=k1.a.b", "k1.a.b"),      # found, but it still has to carry our signature to count
    ("x=1; pz=first, pz=second", "first"),
    ("", None),
])
def test_the_session_cookie_is_found_across_a_header_sent_twice(header, expected):
    assert session_cookie(header) == expected


def test_cookie_value_of_another_name():
    assert cookie_value("pz=x; demo_login=alice", "demo_login") == "alice"


# -- deleting the cookie (consent withdrawn) --------------------------------------------------


@pytest.mark.parametrize("secure", [True, False], ids=["secure", "local-http"])
def test_expired_cookie_header_deletes_the_cookie_it_replaces(secure):
    expired = expired_cookie_header(secure=secure).split("; ")
    normal = set_cookie_header("k1.a.b", secure=secure).split("; ")
    assert expired[:3] == [f"{COOKIE_NAME}=", "Path=/", "Max-Age=0"]
    # a browser deletes only the cookie with the same name, path and attributes it was set with
    assert [a for a in expired if not a.startswith(("pz=", "Max-Age="))] == \
        [a for a in normal if not a.startswith(("pz=", "Max-Age="))]
    assert ("Secure" in expired) is secure


def test_expired_cookie_header_defaults_to_secure():
    assert expired_cookie_header() == "pz=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
