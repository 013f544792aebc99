"""The visitor behind a request: the session from the cookie, the page view that advances it, login, and
where the profile lives in KV (profile_key) and how it is read."""

from __future__ import annotations

import re

import pytest

from intentedge import SchemaError, compile_bundle
from intentedge.contract import keys, schema
from intentedge.decision import decide
from intentedge.profile import Profile, profile_to_payload
from intentedge.session import SESSION_IDLE_SECONDS, SessionKeys, dump, set_cookie_header
from intentedge.visitor import logged_in, page_view, profile_from_bytes, profile_key, returning_session

from tests.core.builders import DAY, KEYS, MINUTE, NOW, SECRET_1, context, counter_bytes

VISITOR = "rHI2ilhqGMGQiDk1c84DBw"  # the first id counter_bytes(0) gives
SIGNALS = compile_bundle({"signals": {"pages": [
    {"pattern": "^/products/(?P<product>[a-z0-9-]+)/", "stage": "product", "category": "cameras"},
    {"pattern": "^/cart/add/", "stage": "cart", "cart_add": "price"},
]}}, source="t").signals


def cookie_header(session, keys: SessionKeys = KEYS, *, others: str = "theme=dark") -> str:
    """The Cookie header a browser sends back after Set-Cookie: only name=value."""
    name_value = set_cookie_header(dump(session, keys)).split(";")[0]
    return f"{others}; {name_value}" if others else name_value


def test_a_first_visit_creates_a_session_from_injected_randomness():
    session = page_view(None, SIGNALS, context("/products/alpha-pro/"), NOW, counter_bytes())
    # advanced past its creation: is_new is cleared; the counters still say first page of the first visit
    assert (session.visitor_id, session.is_new, session.pages, session.visits) == (VISITOR, False, 1, 1)
    assert session.attributes()["new_visitor"] is True
    assert (session.products, session.categories, session.stage) == (("alpha-pro",), ("cameras",), 1)
    assert returning_session(cookie_header(session), KEYS, NOW) == session  # the cookie round-trips unchanged


def test_a_page_view_advances_the_previous_session():
    first = page_view(None, SIGNALS, context("/"), NOW, counter_bytes())
    previous = returning_session(cookie_header(first), KEYS, NOW + 45)  # as the next request reads it
    second = page_view(previous, SIGNALS, context("/cart/add/?price=649"), NOW + 45, counter_bytes(seed=9))
    assert second.visitor_id == VISITOR  # no new id drawn for a known visitor
    assert (second.pages, second.dwell, second.cart_value, second.cart_items, second.stage) == (2, 45, 649.0, 1, 2)


def test_returning_session_reads_the_cookie_header():
    session = page_view(None, SIGNALS, context("/"), NOW, counter_bytes())
    loaded = returning_session(cookie_header(session), KEYS, NOW + MINUTE)
    assert loaded.visitor_id == VISITOR and loaded.is_new is False


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="no-cookies"),
        pytest.param("theme=dark", id="other-cookies-only"),
        pytest.param("pz=k1.AAAA.AAAA", id="forged"),
        pytest.param("pz=", id="empty-value"),
    ],
)
def test_no_genuine_cookie_is_no_session(header):
    assert returning_session(header, KEYS, NOW) is None


def test_a_visitor_journey_through_cookies():
    """Five requests, each reading the previous response's cookie, with a fixed clock per request."""
    random_bytes = counter_bytes()
    header, clock = "", NOW
    steps = [
        (0, "/"),
        (30, "/products/alpha-pro/"),
        (90, "/cart/add/?price=649"),
        (SESSION_IDLE_SECONDS + 1, "/"),  # back the next evening: a new session
        (DAY, "/products/beta-mini/"),
    ]
    seen = []
    for wait, path in steps:
        clock += wait
        previous = returning_session(header, KEYS, clock)
        session = page_view(previous, SIGNALS, context(path), clock, random_bytes)
        header = cookie_header(session)
        seen.append((session.visits, session.pages, session.dwell, session.stage, session.cart_items))
    assert seen == [(1, 1, 0, 0, 0), (1, 2, 30, 1, 0), (1, 3, 90, 2, 1), (2, 1, 0, 0, 1), (3, 1, 0, 1, 1)]
    assert session.visitor_id == VISITOR
    assert session.products == ("beta-mini", "alpha-pro")


def test_a_journey_with_decisions_caps_a_rule_per_session():
    bundle = compile_bundle({
        "signals": {"pages": [{"pattern": "^/products/(?P<product>[a-z0-9-]+)/", "stage": "product"}]},
        "slots": {"hero": {}}, "fragments": {"f": {"html": "Welcome back"}},
        "rules": [{"id": "welcome-back", "slot": "hero", "fragment": "f", "cap": {"session": 1},
                   "when": {"session.visits": {"$gte": 2}}}],
    }, source="t")
    random_bytes = counter_bytes()
    header, clock, shown = "", NOW, []
    for wait in (0, 60, SESSION_IDLE_SECONDS + 1, 60, SESSION_IDLE_SECONDS + 1):
        clock += wait
        ctx = context("/products/a/")
        session = page_view(returning_session(header, KEYS, clock), bundle.signals, ctx, clock, random_bytes)
        decision = decide(bundle, ctx, session, None, now=clock)
        shown.append(bool(decision.choices))
        header = cookie_header(decision.session)
    # visit 1: never; visit 2: the first page only; visit 3: the first page again
    assert shown == [False, False, True, False, True]


@pytest.mark.parametrize(
    "header, login_cookie, expected",
    [
        pytest.param("demo_login=alice", "demo_login", True, id="logged-in"),
        pytest.param("theme=dark; demo_login=alice; pz=x", "demo_login", True, id="among-others"),
        # an empty value is a logged-out session cookie
        pytest.param("demo_login=", "demo_login", False, id="empty-value"),
        pytest.param("theme=dark", "demo_login", False, id="absent"),
        # without a configured login cookie nobody is logged in
        pytest.param("demo_login=alice", None, False, id="not-configured"),
        pytest.param("demo_login=alice", "", False, id="empty-name"),
        pytest.param("xdemo_login=alice", "demo_login", False, id="similar-name"),
    ],
)
def test_logged_in(header, login_cookie, expected):
    assert logged_in(header, login_cookie) is expected


# -- the profile ------------------------------------------------------------------------------


def test_profile_key_is_a_salted_hash_of_the_visitor_id():
    session = page_view(None, SIGNALS, context("/"), NOW, counter_bytes())
    key = profile_key(session, b"salt-1")
    assert re.fullmatch(r"profile/[0-9a-f]{32}", key)
    assert key == keys.profile_key(VISITOR, b"salt-1") == profile_key(session, b"salt-1")
    assert VISITOR not in key
    assert profile_key(session, b"salt-2") != key
    assert keys.profile_key("another-visitor-id", b"salt-1") != key


def test_profile_key_is_stable():
    # the jobs write under this key and the Worker reads it: it must never drift
    assert keys.profile_key(VISITOR, b"salt-1") == keys.PROFILE_PREFIX + _hmac_hex(b"salt-1", VISITOR)[:32]


def _hmac_hex(salt: bytes, visitor_id: str) -> str:
    import hashlib
    import hmac
    return hmac.new(salt, visitor_id.encode(), hashlib.sha256).hexdigest()


def test_profile_from_bytes_reads_the_jobs_envelope():
    profile = Profile(updated_at=NOW, sessions=3, pages=12, purchases=2, categories={"cameras": 1.5},
                      last_seen=NOW - DAY)
    data = schema.encode(schema.PROFILE, profile_to_payload(profile), written_at=NOW, producer="jobs")
    assert profile_from_bytes(data) == profile


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="not-msgpack"),
        pytest.param(schema.encode(schema.CONFIG, {}, written_at=1, producer="p"), id="a-config-envelope"),
        pytest.param(schema.encode(schema.PROFILE, ["not", "a", "map"], written_at=1, producer="p"),
                     id="list-payload"),
        pytest.param(schema.encode(schema.PROFILE, {"pages": -1}, written_at=1, producer="p"), id="negative-pages"),
    ],
)
def test_profile_from_bytes_refuses_what_is_not_a_profile(data):
    with pytest.raises(SchemaError):
        profile_from_bytes(data)


def test_a_session_signed_with_another_deployment_key_is_a_new_visitor():
    session = page_view(None, SIGNALS, context("/"), NOW, counter_bytes())
    other = SessionKeys.parse("k1:" + "z" * 32)
    assert returning_session(cookie_header(session, other), KEYS, NOW) is None
    assert returning_session(cookie_header(session, SessionKeys.parse(f"k1:{SECRET_1}")), KEYS, NOW) is not None
