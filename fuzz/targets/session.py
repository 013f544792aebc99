"""Fuzz targets of the signed session cookie (intentedge.session): session.load, session.round_trip,
session.tamper and session.cookie_header."""

from __future__ import annotations

import json

from hypothesis import strategies as st
from intentedge import session as session_module
from intentedge.session import (
    CLOCK_SKEW_SECONDS,
    COOKIE_NAME,
    IMPRESSION_LIMIT,
    MAX_AGE_SECONDS,
    MAX_COOKIE_BYTES,
    RECENT_LIMIT,
    Session,
    SessionKeys,
    cookie_value,
    dump,
    load,
    new_session,
    record_impressions,
    remember,
)

from fuzz.targets.registry import target
from fuzz.targets.strategies import corrupted, json_values

_SECRET_1 = "fuzz-secret-one-" + "1" * 24
_SECRET_2 = "fuzz-secret-two-" + "2" * 24
_SECRET_3 = "fuzz-secret-three-" + "3" * 22
KEYS = SessionKeys.parse(f"k1:{_SECRET_1},k2:{_SECRET_2}")   # k1 signs; k2, rotated out, still verifies
ROTATED_OUT = SessionKeys.parse(f"k2:{_SECRET_2}")              # wrote cookies before the rotation
FOREIGN_KEYS = (
    SessionKeys.parse(f"k1:{_SECRET_3}"),    # our key id, another secret
    SessionKeys.parse(f"k3:{_SECRET_1}"),    # our secret under an id we do not know
    SessionKeys.parse(f"k2:{_SECRET_1}"),    # the signing secret under the other id
)

_JSON_SAFE = 2**53  # counts in the cookie stay below it (session._are_counts)
counts = st.integers(0, 100) | st.integers(0, _JSON_SAFE - 1)
# Signals cut categories and products to 64 characters; any characters (multi-byte ones force
# trimming), but no lone surrogates (text() leaves them out): nothing that reaches a session holds one.
history_items = st.text(max_size=80).map(lambda text: text[:64])
rule_ids = st.text(min_size=1, max_size=12)


@st.composite
def sessions(draw) -> Session:
    """A Session as the engine builds them: new_session, then evolve, remember and record_impressions."""
    started = draw(st.integers(0, 2**34))
    seed = draw(st.binary(min_size=16, max_size=16))
    session = new_session(started, lambda n: seed[:n])
    session = session.evolve(
        last_seen=started + draw(st.integers(0, 10**8)), pages=draw(counts), visits=draw(counts),
        dwell=draw(counts), cart_value=draw(st.floats(0, 1e15)), cart_items=draw(counts),
        searches=draw(counts), stage=draw(counts), trial=draw(st.booleans()), purchases=draw(counts),
        is_new=draw(st.booleans()))
    for item in draw(st.lists(history_items, max_size=8)):
        session = session.evolve(categories=remember(session.categories, item))
    for item in draw(st.lists(history_items, max_size=8)):
        session = session.evolve(products=remember(session.products, item))
    for page in draw(st.lists(st.lists(rule_ids, max_size=30), max_size=3)):
        session = record_impressions(session, page)
    if draw(st.booleans()):   # large counts under crc32 tags, as years of visits would leave
        big = draw(st.dictionaries(st.integers(0, 2**32 - 1), st.tuples(counts, counts), max_size=IMPRESSION_LIMIT))
        merged = list({**session.impressions, **big}.items())[-IMPRESSION_LIMIT:]
        session = session.evolve(impressions=dict(merged))
    return session


def cookie_ages() -> st.SearchStrategy:
    """Seconds from a cookie's last_seen to now, within what load() accepts."""
    return st.integers(-CLOCK_SKEW_SECONDS, MAX_AGE_SECONDS)


def sign_body(body: bytes, keys: SessionKeys = KEYS) -> str:
    """Sign any body as dump() would, so the decoder behind the MAC is reached."""
    return session_module._sign(body, keys)


@st.composite
def signed_states(draw) -> tuple[str, int]:
    """Genuinely signed cookies around states a writer bug or a leaked key could produce, and a time
    at which the state's own last_seen is current."""
    session = draw(sessions())
    state = draw(corrupted(st.just(json.loads(session_module._pack(session))), json_values))
    if draw(st.integers(0, 3)) == 0:
        state = draw(st.one_of(st.just(state[:draw(st.integers(0, 17))]), json_values))
    body = json.dumps(state, separators=(",", ":"), ensure_ascii=draw(st.booleans())).encode()
    if draw(st.integers(0, 7)) == 0:
        body = draw(st.binary(max_size=40))
    return sign_body(body, draw(st.sampled_from([KEYS, ROTATED_OUT]))), session.last_seen + draw(cookie_ages())


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
cookie_shaped = st.builds(
    lambda kid, body, mac: f"{kid}.{body}.{mac}",
    st.sampled_from(["k1", "k2", "k3", ""]) | st.text(max_size=9),
    st.text(alphabet=_B64 + "=+/.!", max_size=80),
    st.text(alphabet=_B64 + "=+/.", max_size=60),
)
cookies_at = st.one_of(st.tuples(st.none() | st.text(max_size=1100) | cookie_shaped, st.integers(0, 2**35)),
                       signed_states(), signed_states())


def assert_valid_session(session: Session) -> None:
    """What load() promises about a session it returns: dump() can write it again."""
    assert isinstance(session.visitor_id, str) and 16 <= len(session.visitor_id) <= 32
    for value in (session.started, session.last_seen, session.pages, session.visits, session.dwell,
                  session.cart_items, session.searches, session.stage, session.purchases):
        assert type(value) is int and 0 <= value < _JSON_SAFE
    assert session.started <= session.last_seen
    assert type(session.cart_value) is float and 0 <= session.cart_value < float("inf")
    assert type(session.trial) is bool and session.is_new is False
    for items in (session.categories, session.products):
        assert len(items) <= RECENT_LIMIT and all(isinstance(i, str) and len(i) <= 64 for i in items)
    for tag, pair in session.impressions.items():
        assert type(tag) is int and len(pair) == 2


def assert_round_trips(session: Session, age: int) -> None:
    """dump() fits the bound, load() gives back the session minus the least history that had to go."""
    value = dump(session, KEYS)
    assert value.isascii() and len(f"{COOKIE_NAME}={value}") <= MAX_COOKIE_BYTES
    loaded = load(value, KEYS, session.last_seen + age)
    assert loaded is not None, "a cookie dump() wrote was refused"
    assert_valid_session(loaded)
    expected = session.evolve(categories=loaded.categories, products=loaded.products,
                              impressions=loaded.impressions, cart_value=round(session.cart_value, 2),
                              is_new=False)
    assert loaded == expected
    trims = max(len(session.categories) - len(loaded.categories), len(session.products) - len(loaded.products))
    assert loaded.categories == session.categories[:max(0, len(session.categories) - trims)]
    assert loaded.products == session.products[:max(0, len(session.products) - trims)]
    dropped = len(session.impressions) - len(loaded.impressions)
    assert list(loaded.impressions.items()) == list(session.impressions.items())[dropped:]
    assert not dropped or not (loaded.categories or loaded.products), "impressions went before history"
    if dropped or trims:   # one trim less would not have fitted
        less = _one_trim_less(session, expected, trims, dropped)
        assert dump(less, KEYS) == value, "trimmed more than needed"
    assert dump(loaded, KEYS) == value


def _one_trim_less(session: Session, trimmed: Session, trims: int, dropped: int) -> Session:
    if dropped:
        return trimmed.evolve(impressions=dict(list(session.impressions.items())[dropped - 1:]))
    fewer = trims - 1
    return trimmed.evolve(categories=session.categories[:max(0, len(session.categories) - fewer)],
                          products=session.products[:max(0, len(session.products) - fewer)])


@target("session.load", cookie=cookies_at)
def session_load(cookie: tuple[str | None, int]) -> None:
    """Any cookie value: None, or a session that satisfies every invariant and survives a round trip."""
    value, now = cookie
    loaded = load(value, KEYS, now)
    if loaded is not None:
        assert_valid_session(loaded)
        assert -CLOCK_SKEW_SECONDS <= now - loaded.last_seen <= MAX_AGE_SECONDS
        assert_round_trips(loaded, now - loaded.last_seen)


@target("session.round_trip", session=sessions(), age=cookie_ages())
def session_round_trip(session: Session, age: int) -> None:
    """Any session the engine can build: within the cookie bound, and back again."""
    assert_round_trips(session, age)


@st.composite
def mutations(draw, value: str) -> str:
    """One to three edits of a genuine cookie: characters, key ids, another key's MAC, spliced parts."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        char = draw(st.sampled_from(_B64 + ".=") | st.characters())
        kid, _, rest = value.partition(".")
        body, _, mac = rest.partition(".")
        value = draw(st.sampled_from([
            value[:at] + char + value[at + 1:],                               # replace
            value[:at] + char + value[at:],                                   # insert
            value[:at] + value[at + 1:],                                      # delete
            value[:at],                                                       # truncate
            value.swapcase(),
            f"{draw(st.sampled_from(['k1', 'k2', 'k3', 'K1', '']))}.{rest}",  # another key id
            f"{kid}.{body}.{mac}.{mac}",
            f"{kid}.{mac}.{body}",
        ]))
    return value


@st.composite
def tampered_cookies(draw) -> tuple[str, str, int]:
    session = draw(sessions())
    genuine = dump(session, draw(st.sampled_from([KEYS, ROTATED_OUT])))
    if draw(st.booleans()):
        forged = draw(mutations(genuine))
    else:   # the genuine body under a MAC from a key we do not hold
        loaded = load(genuine, KEYS, session.last_seen)
        forged = dump(draw(st.sampled_from([loaded, session])), draw(st.sampled_from(FOREIGN_KEYS)))
        if draw(st.booleans()):
            forged = draw(mutations(forged))
    return genuine, forged, session.last_seen + draw(cookie_ages())


@target("session.tamper", cookies=tampered_cookies())
def session_tamper(cookies: tuple[str, str, int]) -> None:
    """A mutated cookie is refused, or it reads exactly as the genuine one did: no forgery."""
    genuine, forged, now = cookies
    loaded = load(forged, KEYS, now)
    if loaded is not None:
        assert loaded == load(genuine, KEYS, now), "a tampered cookie was accepted"


_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
# Cookie values hold neither ";" nor "," (RFC 6265): a header sent twice reaches the Worker joined by ", ".
cookie_pairs = st.lists(st.tuples(st.text(alphabet=_TOKEN, min_size=1, max_size=6) | st.just(COOKIE_NAME),
                                  st.text(st.characters(exclude_characters=";,"), max_size=12)), max_size=5)
separators = st.sampled_from([";", "; ", " ;", ";  ", "\t;\t"])   # RFC 6265: pairs end at ";" only


@target("session.cookie_header", pairs=cookie_pairs, separator=separators, junk=st.text(max_size=60),
        name=st.just(COOKIE_NAME) | st.text(max_size=4))
def session_cookie_header(pairs: list[tuple[str, str]], separator: str, junk: str, name: str) -> None:
    """cookie_value() never raises, in a well-formed header finds the first cookie of that name, and
    never finds one inside another cookie's value (a comma does not separate pairs)."""
    found = cookie_value(junk, name)
    assert found is None or (isinstance(found, str) and ";" not in found)
    header = separator.join(f"{key}={value}" for key, value in pairs)
    expected = next((value.strip() for key, value in pairs if key == COOKIE_NAME), None)
    assert cookie_value(header) == expected
    assert cookie_value(f"other=x,{COOKIE_NAME}=sneaked{separator}" + header) == expected
