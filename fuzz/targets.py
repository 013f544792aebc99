"""Fuzz targets: the properties that untrusted input must not break, and the strategies that feed them.

Each target is a plain function of hypothesis-generated inputs that raises on a violated
property (an AssertionError, or whatever escaped the code under test). `TARGETS` maps
names to targets; `Target.test(settings)` is the hypothesis test that `fuzz.run` runs with
100,000 inputs and tests/core/test_fuzz.py with a few hundred. `RUNS` counts the inputs
each target has seen.

    session.load           load() of any string: None, or a session dump() writes back within the bound
    session.round_trip     a Session as the engine builds it: dump() fits the 1 KB bound, load() gives it
                           back minus the least history trimming had to drop
    session.tamper         a genuine cookie edited, or signed with a key we do not hold: refused, or read
                           exactly as the genuine one (no forgery)
    session.cookie_header  cookie_value() of any header; of a well-formed one, the first pz cookie
    schema.decode          decode() of any bytes: an Envelope or SchemaError, and the same one with
                           msgpack's C extension and with its pure-Python fallback (what the Worker runs)
    schema.round_trip      encode() then decode(), with both msgpacks: the same payload
    bundles.bundle         bundle_from_bytes() of a sound envelope around a (corrupted) config: a Bundle,
                           or ConfigError if the payload is not a map; the CLI's strict compile: ConfigError
    visitor.profile        profile_from_bytes(): SchemaError, or a Profile of non-negative numbers whose
                           readings never raise
    conditions.evaluate    compile_condition and validate_condition never raise, problems are one line
                           each; a matcher, guarded or not, returns a bool; $not and $nor negate it
    conditions.regex_time  a $regex on an adversarial request path answers within 0.1 s (ReDoS)
    fragments.render       compile_template raises only TemplateError, rendering only MissingParameter;
                           escaped output is the template's own text plus each value html-escaped
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import html
import json
import signal
import threading
import types
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgpack
import msgpack.fallback
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from intentedge import conditions
from intentedge.contract import schema
from intentedge import session as session_module
from intentedge.contract.bundles import bundle_from_bytes
from intentedge.contract.config import Bundle, compile_bundle
from intentedge.errors import ConfigError, Problem, SchemaError
from intentedge.fragments import (
    ContentType,
    Fragment,
    MissingParameter,
    Param,
    Template,
    TemplateError,
    compile_template,
    lookup_path,
)
from intentedge.profile import Profile
from intentedge.scoring import VECTORS
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
from intentedge.visitor import profile_from_bytes

RUNS: Counter[str] = Counter()
TARGETS: dict[str, Target] = {}


def fuzz_settings(examples: int, *, derandomize: bool = False) -> settings:
    """Generate `examples` inputs, then shrink a failure to a minimal one; no example database."""
    return settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                    suppress_health_check=list(HealthCheck), phases=(Phase.generate, Phase.shrink))


@dataclass(frozen=True)
class Target:
    name: str
    check: Callable[..., None]
    strategies: dict[str, st.SearchStrategy]

    def test(self, examples: settings) -> Callable[[], None]:
        """The hypothesis test of this target, run under `examples` (see fuzz_settings)."""
        return examples(given(**self.strategies)(self.check))


def target(name: str, /, **strategies: st.SearchStrategy):
    """Register the decorated check as target `name`, fed by `strategies` (one per parameter)."""

    def register(check: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(check)
        def counted(**inputs: Any) -> None:
            RUNS[name] += 1
            check(**inputs)

        TARGETS[name] = Target(name, counted, strategies)
        return check

    return register


class TooSlow(Exception):
    """An evaluation ran past its time budget: the fuzzer's verdict, not an error intentedge raises."""


class _Expired(BaseException):
    """Raised by the timer inside the code under test: not an Exception, so no `except Exception`
    there (the guarded matcher has one) can swallow it."""


@contextmanager
def time_limit(seconds: float, what: Callable[[], str]):
    """Interrupt the block after `seconds` with TooSlow (re's matching loop checks for signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise TooSlow(f"{what()} took more than {seconds} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- shared strategies ------------------------------------------------------------------------

# What JSON and msgpack can both carry; floats include NaN and the infinities.
scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
           | st.text(max_size=24))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
# msgpack adds bytes, bytes map keys, extension types and timestamps (extension type -1).
msgpack_values = st.recursive(
    scalars | st.binary(max_size=24) | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=12))
    | st.builds(msgpack.Timestamp, st.integers(-2**40, 2**40), st.integers(0, 999_999_999)),
    lambda inner: (st.lists(inner, max_size=5)
                   | st.dictionaries(st.text(max_size=8) | st.binary(max_size=4), inner, max_size=4)),
    max_leaves=16,
)
# Integer map keys too: msgpack writes them, the reader refuses them (strict_map_key).
any_keyed_maps = st.dictionaries(st.text(max_size=8) | st.integers(-2**63, 2**64 - 1), msgpack_values, max_size=4)


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, odds: int = 4) -> st.SearchStrategy:
    """`usual` but one time in `odds` (one_of would not do: it counts a repeated strategy once)."""
    return st.integers(0, odds - 1).flatmap(lambda roll: odd if roll == 0 else usual)


def sometimes(shaped: st.SearchStrategy, junk: st.SearchStrategy = msgpack_values) -> st.SearchStrategy:
    """Mostly what the reader expects, sometimes anything: wrong types deep inside well-formed data."""
    return mostly(shaped, junk)


def maps(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A map holding any subset of `fields`, plus the odd unknown key (newer minors add keys)."""
    known = st.fixed_dictionaries({}, optional=fields)
    extra = st.dictionaries(st.text(max_size=8), msgpack_values, max_size=1)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside nested maps and lists."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    places = []
    for key, item in items:
        places.append((value, key))
        places.extend(_places(item))
    return places


@st.composite
def corrupted(draw, valid: st.SearchStrategy, junk: st.SearchStrategy = msgpack_values, edits: int = 3) -> Any:
    """A valid value with up to `edits` entries deleted or replaced by junk, anywhere inside."""
    value = copy.deepcopy(draw(valid))   # a fresh object, so hypothesis reports it as it is
    for _ in range(draw(st.integers(0, edits))):
        places = _places(value)
        if not places:
            break
        container, key = places[draw(st.integers(0, len(places) - 1))]
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(junk)
    return value


# -- session: the signed cookie ---------------------------------------------------------------

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
separators = st.sampled_from([";", "; ", " ;", ";  ", "\t;\t", ", ", ","])


@target("session.cookie_header", pairs=cookie_pairs, separator=separators, junk=st.text(max_size=60),
        name=st.just(COOKIE_NAME) | st.text(max_size=4))
def session_cookie_header(pairs: list[tuple[str, str]], separator: str, junk: str, name: str) -> None:
    """cookie_value() never raises, and in a well-formed header finds the first cookie of that name."""
    found = cookie_value(junk, name)
    assert found is None or (isinstance(found, str) and not set(found) & set(";,"))
    header = separator.join(f"{key}={value}" for key, value in pairs)
    expected = next((value.strip() for key, value in pairs if key == COOKIE_NAME), None)
    assert cookie_value(header) == expected


# -- schema: the msgpack envelope -------------------------------------------------------------

SCHEMAS = (schema.CONFIG, schema.POINTER, schema.PROFILE)
# The Worker runs msgpack's pure-Python modules (jobs/build_worker.py), the jobs the C extension.
MSGPACKS = {"c": msgpack, "fallback": types.SimpleNamespace(unpackb=msgpack.fallback.unpackb)}


@contextmanager
def msgpack_implementation(name: str):
    """Run schema.decode with the named msgpack unpacker."""
    original = schema.msgpack
    schema.msgpack = MSGPACKS[name]
    try:
        yield
    finally:
        schema.msgpack = original


def envelope(schema_: schema.Schema, payload: Any, *, minor: int = 0) -> bytes:
    """An envelope as encode() writes it, without encode's own check, so the reader sees everything."""
    return msgpack.packb({"schema": schema_.name, "version": [schema_.major, minor], "written_at": 1_790_000_000,
                          "producer": "fuzz", "payload": payload}, use_bin_type=True)


versions = sometimes(st.lists(st.integers(-2, 3) | st.integers(-2**63, 2**64 - 1) | st.booleans(),
                              min_size=0, max_size=3))
envelope_maps = maps({
    "schema": sometimes(st.sampled_from([s.name for s in SCHEMAS])),
    "version": versions,
    "written_at": sometimes(st.integers(-2**63, 2**64 - 1)),
    "producer": sometimes(st.text(max_size=8)),
    "payload": msgpack_values,
})
# Headers of msgpack's containers and sizes, so lengths claim more than the bytes hold.
_MSGPACK_HEADERS = [b"\x91", b"\x81", b"\xdc\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xde\x00\x10",
                    b"\xdf\x7f\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\x7f\xff\xff\xff", b"\xc7\x05\xff",
                    b"\xd4\xff", b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff", b"\xc1", b"\xc0", b"\xa1a", b"\x80"]
header_soup = st.lists(st.sampled_from(_MSGPACK_HEADERS) | st.binary(max_size=4), max_size=12).map(b"".join)
deep_nesting = st.builds(lambda depth, tail: b"\x91" * depth + tail, st.integers(0, 5000), header_soup)


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    """Byte edits of a valid encoding: flips, inserts, deletions, truncation, repeated slices."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        end = draw(st.integers(at, len(data)))
        byte = bytes([draw(st.integers(0, 255))])
        data = draw(st.sampled_from([
            data[:at] + byte + data[at + 1:],
            data[:at] + byte + data[at:],
            data[:at] + data[end:],
            data[:at],
            data[:end] + data[at:end] + data[end:],
        ]))
    return data


@st.composite
def envelope_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["binary", "headers", "nesting", "map", "valid", "mutated"]))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "headers":
        return draw(header_soup)
    if kind == "nesting":
        return draw(deep_nesting)
    if kind == "map":
        return msgpack.packb(draw(envelope_maps | msgpack_values | any_keyed_maps), use_bin_type=True)
    valid = envelope(draw(st.sampled_from(SCHEMAS)), draw(msgpack_values), minor=draw(st.integers(0, 3)))
    return valid if kind == "valid" else draw(mutated_bytes(valid))


def decoded_with(implementation: str, expected: schema.Schema, data: bytes) -> schema.Envelope | SchemaError:
    """The envelope in `data`, or the SchemaError decode() raised; any other error propagates."""
    with msgpack_implementation(implementation):
        try:
            return schema.decode(expected, data)
        except SchemaError as error:
            return error


def same_envelope(a: schema.Envelope | SchemaError, b: schema.Envelope | SchemaError) -> bool:
    """The same error class, or the same envelope (payloads compared as msgpack, since NaN != NaN)."""
    if isinstance(a, SchemaError) or isinstance(b, SchemaError):
        return type(a) is type(b)
    pack = functools.partial(msgpack.packb, use_bin_type=True)
    return ((a.schema, a.version, a.written_at, a.producer) == (b.schema, b.version, b.written_at, b.producer)
            and pack(a.payload) == pack(b.payload))


@target("schema.decode", data=envelope_bytes())
def schema_decode(data: bytes) -> None:
    """decode() of any bytes: an Envelope of the expected schema and major, or SchemaError; the same
    with the C and the pure-Python msgpack, so the Worker reads exactly what the jobs read."""
    for expected in SCHEMAS:
        decoded = decoded_with("c", expected, data)
        assert same_envelope(decoded, decoded_with("fallback", expected, data)), "the two msgpacks disagree"
        if isinstance(decoded, SchemaError):
            continue
        assert decoded.schema == expected.name and decoded.version[0] == expected.major
        assert all(type(v) is int and v >= 0 for v in decoded.version)
        assert type(decoded.written_at) is int and decoded.written_at >= 0 and isinstance(decoded.producer, str)


@target("schema.round_trip", payload=msgpack_values, implementation=st.sampled_from(sorted(MSGPACKS)),
        written_at=st.integers(0, 2**64 - 1), producer=st.text(max_size=12))
def schema_round_trip(payload: Any, implementation: str, written_at: int, producer: str) -> None:
    """What a writer encodes, the reader decodes to the same payload (compared as msgpack: NaN != NaN)."""
    for expected in SCHEMAS:
        data = schema.encode(expected, payload, written_at=written_at, producer=producer)
        with msgpack_implementation(implementation):
            decoded = schema.decode(expected, data)
        assert msgpack.packb(decoded.payload, use_bin_type=True) == msgpack.packb(payload, use_bin_type=True)
        assert (decoded.written_at, decoded.producer) == (written_at, producer)


# -- conditions: GrowthBook targeting ---------------------------------------------------------

_ATTRIBUTE_KEYS = ["a", "b", "x", "0", "1", "length", "request", "path", "tags"]
attribute_paths = st.lists(st.sampled_from(_ATTRIBUTE_KEYS), min_size=1, max_size=3).map(".".join)
# Attribute strings stay short, so a catastrophic $regex costs milliseconds here rather than
# hours: conditions.regex_time looks for those on purpose, with long adversarial input.
short_text = st.text(st.sampled_from("aAb1 .-+v\n") | st.characters(codec="utf-8"), max_size=12)
attribute_scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | short_text
                     | st.sampled_from(["", "0", "1", "null", "true", "1.2.3", "v2.0.0-rc.1", "Infinity", "0x1f",
                                        " 12 ", "[object Object]"]))
attribute_values = st.recursive(
    attribute_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_ATTRIBUTE_KEYS), inner, max_size=4),
    max_leaves=12,
)
attribute_maps = st.dictionaries(st.sampled_from(_ATTRIBUTE_KEYS), attribute_values, max_size=5)

_REGEX_ATOMS = ["a", "b", "1", ".", "\\w", "\\d", "\\s", "[ab]", "[^b]", "a|b", "a|a", "aa|a", "\\b"]
_QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{2,}", "*?", "+?"]
regex_bodies = st.recursive(
    st.sampled_from(_REGEX_ATOMS),
    lambda inner: st.one_of(
        st.builds("(?:{}){}".format, inner, st.sampled_from(_QUANTIFIERS)),
        st.builds("({}){}".format, inner, st.sampled_from(_QUANTIFIERS)),
        st.lists(inner, min_size=2, max_size=3).map("".join),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: "(" + "|".join(parts) + ")"),
    ),
    max_leaves=6,
)
regexes = st.builds("{}{}{}".format, st.sampled_from(["", "^"]), regex_bodies, st.sampled_from(["", "$"]))
# Broken syntax too: validate_condition reports each problem on one line.
_REGEX_SYNTAX = ["(", ")", "(?", "(?<", "(?P<", "(?P=", "[", "]", "{", "}", "\\", "*", "+", "?", "|", "^", "$",
                 "\n", "\u2028", "a", "{4294967296}", "(?i)", "\\p", "(?#"]
regex_soup = (st.lists(st.sampled_from(_REGEX_SYNTAX) | st.characters(codec="utf-8"), max_size=8).map("".join)
              | st.integers(0, 1500).map(lambda n: "(" * n + ")" * n))

SAVED_GROUPS = {"vip": ["a", 1, None, True, 2.5], "empty": [], "junk": "not a list", "nested": [[1], {"a": 1}]}
_TYPE_NAMES = ["string", "number", "boolean", "object", "array", "null", "int"]
operands = attribute_values


_VERSIONS = st.text(st.sampled_from("v0123456789.-+rcbeta\n"), max_size=12)


def _operator_entries(value_condition: st.SearchStrategy, condition: st.SearchStrategy) -> st.SearchStrategy:
    """(operator, operand) pairs of an operator object, each operand of the shape its operator expects."""
    return st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), attribute_scalars),
        st.tuples(st.sampled_from(["$lt", "$lte", "$gt", "$gte"]), attribute_scalars.filter(_is_comparable)),
        st.tuples(st.sampled_from(["$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"]), _VERSIONS),
        st.tuples(st.just("$exists"), st.booleans()),
        st.tuples(st.sampled_from(["$in", "$nin", "$ini", "$nini"]), st.lists(attribute_scalars, max_size=4)),
        st.tuples(st.sampled_from(["$all", "$alli"]), st.lists(value_condition, max_size=3)),
        st.tuples(st.sampled_from(["$inGroup", "$notInGroup"]), st.sampled_from([*SAVED_GROUPS, "missing"])),
        st.tuples(st.just("$not"), value_condition),
        st.tuples(st.just("$size"), st.integers(-1, 4) | value_condition),
        st.tuples(st.just("$elemMatch"), value_condition | condition),
        st.tuples(st.sampled_from(["$regex", "$regexi"]), regexes),
        st.tuples(st.just("$type"), st.sampled_from(_TYPE_NAMES)),
    )


def _is_comparable(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


# Operators with operands of the wrong shape, and operators that do not exist.
_malformed_entries = st.one_of(
    st.tuples(st.sampled_from(conditions.VALUE_OPERATORS), operands),
    st.tuples(st.sampled_from(["$regex", "$regexi"]), regex_soup),
    st.tuples(st.sampled_from(["$and", "$or", "$regx", "$", "$foo", "eq"]), operands),
)


def _condition_entries(value_condition: st.SearchStrategy, condition: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(attribute_paths, value_condition),
        st.tuples(attribute_paths, value_condition),
        st.tuples(st.sampled_from(["$and", "$or", "$nor"]), st.lists(condition, max_size=3)),
        st.tuples(st.just("$not"), condition),
    )


# Odd keys: operators where paths go, values where a list of conditions goes, keys msgpack allows.
_odd_condition_entries = st.one_of(
    st.tuples(st.sampled_from(conditions.VALUE_OPERATORS), operands),
    st.tuples(st.sampled_from(["$and", "$or", "$nor", "$not"]), operands),
    st.tuples(st.binary(max_size=2) | st.integers(-2**63, 2**64 - 1), operands),
)


value_conditions = st.deferred(lambda: operands | st.lists(
    mostly(_operator_entries(value_conditions, condition_objects), _malformed_entries, odds=16),
    min_size=1, max_size=3).map(dict))
condition_objects = st.deferred(lambda: st.lists(
    mostly(_condition_entries(value_conditions, condition_objects), _odd_condition_entries, odds=16),
    max_size=3).map(dict))
any_conditions = mostly(condition_objects, operands, odds=8)


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max(map(nesting, value), default=0)
    return 0


@target("conditions.evaluate", condition=any_conditions,
        saved_groups=st.none() | st.just(SAVED_GROUPS) | msgpack_values,
        attribute_sets=st.lists(attribute_maps, min_size=1, max_size=3))
def conditions_evaluate(condition: Any, saved_groups: Any, attribute_sets: list[dict]) -> None:
    """Compiling never raises; on JSON attributes a matcher, guarded or not, returns a bool and never raises."""
    guarded = conditions.compile_condition(condition, saved_groups)
    unguarded = conditions.compile_condition(condition, saved_groups, guarded=False)
    problems = conditions.validate_condition(condition, saved_groups)
    assert all(isinstance(p, str) and len(p.splitlines()) == 1 for p in problems), problems
    shallow = isinstance(condition, dict) and nesting(condition) < conditions.MAX_DEPTH
    negated = conditions.compile_condition({"$not": condition}, saved_groups) if shallow else None
    nor = conditions.compile_condition({"$nor": [condition]}, saved_groups) if shallow else None
    for attributes in attribute_sets:
        with time_limit(1.0, lambda: "a condition"):
            result = unguarded(attributes)
        assert result is True or result is False, f"the matcher returned {result!r}"
        assert guarded(attributes) is result
        if shallow:
            assert negated(attributes) is (not result) and nor(attributes) is (not result)


REGEX_BUDGET_SECONDS = 0.1
_RUNS_OF = ["a", "b", "1", "ab", "a1", " ", "aa", "\n"]
# A long run of one thing, then a character that makes the match fail at the end: up to the length
# $regex searches, and past it (conditions.py cuts longer values).
_LIMIT = conditions.REGEX_SUBJECT_LIMIT
adversarial_subjects = st.builds(
    lambda head, run, times, tail: head + run * times + tail,
    short_text, st.sampled_from(_RUNS_OF),
    st.sampled_from([0, 1, 16, 64, 256, 512, _LIMIT // 2 - 1, _LIMIT - 2, _LIMIT]) | st.integers(0, _LIMIT),
    st.sampled_from(["!", "/", "", "\n"]) | short_text,
)


@target("conditions.regex_time", pattern=regexes, subject=adversarial_subjects)
def conditions_regex_time(pattern: str, subject: str) -> None:
    """A $regex condition on a request path answers within 0.1 s, whatever the path.

    The path is the visitor's to choose and the pattern the marketer's: a pattern that
    backtracks catastrophically lets any visitor burn the Worker's CPU."""
    matches = conditions.compile_condition({"request.path": {"$regex": pattern}})
    with time_limit(REGEX_BUDGET_SECONDS, lambda: f"$regex {pattern!r} on a {len(subject)}-character path"):
        matches({"request": {"path": subject}})


# -- fragments: templates ---------------------------------------------------------------------

_PARAM_KEYS = ["city", "cart", "value", "params", "discount", "a", "_b", "0"]   # "0" cannot start a path
param_paths = st.lists(st.sampled_from(_PARAM_KEYS), min_size=1, max_size=3).map(".".join)


def _rarely(*options: str) -> st.SearchStrategy:
    """A format spec component: mostly left out, since each one rules out some types."""
    return st.sampled_from(("",) * 2 * len(options) + options)


format_specs = st.builds(
    "{}{}{}{}{}{}{}{}".format,
    st.just("") | st.builds(str.__add__, st.sampled_from(["", "*", " ", "0", "<", "}"]), st.sampled_from("<>=^")),
    _rarely("+", "-", " "), _rarely("#"), _rarely("0"),
    st.just("") | st.integers(0, 999).map(str), _rarely(",", "_"),
    _rarely(".0", ".2") | st.integers(0, 99).map(".{}".format), st.sampled_from(["", *"bcdeEfFgGnosxX%"]),
)
_COMMON_SPECS = st.sampled_from(["c", "d", "x", "b", "o", "n", ",", ".2f", "08.2f", ">8", "^5", "e", "G", "%", "s"])
param_texts = st.builds(lambda path, spec: "{" + path + ("" if spec is None else ":" + spec) + "}",
                        param_paths, mostly(st.none() | _COMMON_SPECS | format_specs, st.text(max_size=4)))
# Markup too: HTML fragments go through config's markup checks (html.parser) when a bundle compiles.
_TEMPLATE_BITS = ["{{", "}}", "{", "}", "<", ">", '"', "'", "&", "=", " ", "&amp;", "<b>", "</b>", "<br>", "</p>",
                  "<a href=", "<img src=", " onclick=", " style=", "<script>", "</script>", "<!--", "-->", "<!",
                  "<![", "<![CDATA[", "]]>", "<?", "</", "<html>", "javascript:"]
template_texts = st.lists(mostly(param_texts, st.text(max_size=6) | st.sampled_from(_TEMPLATE_BITS), odds=2),
                          min_size=1, max_size=8).map("".join)

_HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' onmouseover='x", "&lt;", "&",
            "{city}", "{{", "", "\x00", "\u2028"]
template_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**64, 2**64) | st.floats()
                    | st.text(max_size=12) | st.sampled_from(_HOSTILE))
template_values = st.recursive(
    template_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_PARAM_KEYS), inner, max_size=4),
    max_leaves=12,
)


def _put(values: dict, path: tuple[str, ...], value: Any) -> None:
    """values[a][b]... = value, replacing whatever is in the way."""
    for key in path[:-1]:
        if not isinstance(values.get(key), dict):
            values[key] = {}
        values = values[key]
    values[path[-1]] = value


@st.composite
def templates_with_values(draw) -> tuple[str, dict]:
    """Template text and the values it is rendered with: most of its parameters have one."""
    text = draw(template_texts)
    values = copy.deepcopy(draw(st.dictionaries(st.sampled_from(_PARAM_KEYS), template_values, max_size=4)))
    try:
        params = compile_template(text).params
    except TemplateError:
        return text, values
    for param in params:
        if draw(st.integers(0, 9)):
            _put(values, param.path, draw(_VALUES_FOR_TYPE.get(param.spec[-1:], _VALUES_FOR_TEXT)))
    return text, values


# Mostly values of the type a format spec formats, so that most specs render rather than go missing.
# Built once: strategies made during a draw can differ between runs (one_of merges cached ones).
_INTEGER_VALUES = mostly(st.integers() | st.integers(-2**64, 2**64) | st.integers(-10, 0x110010), template_scalars)
_NUMBER_VALUES = mostly(st.floats() | st.integers(), template_scalars)
_VALUES_FOR_TYPE = {**dict.fromkeys("bcdoxXn", _INTEGER_VALUES), **dict.fromkeys("eEfFgG%", _NUMBER_VALUES)}
_VALUES_FOR_TEXT = mostly(st.text(max_size=12) | st.sampled_from(_HOSTILE) | st.integers() | st.floats(),
                          template_scalars)


def template_source(template: Template) -> str:
    """Template text that compiles to `template`."""
    return "".join(part.replace("{", "{{").replace("}", "}}") if isinstance(part, str)
                   else "{" + part.name + (":" + part.spec if part.spec else "") + "}"
                   for part in template.parts)


def render_or_none(render: Callable[..., str], *args: Any) -> str | None:
    """render(*args), or None for MissingParameter, the one error rendering may raise."""
    try:
        text = render(*args)
    except MissingParameter:
        return None
    assert isinstance(text, str)
    return text


@target("fragments.render", text_and_values=templates_with_values(), content_type=st.sampled_from(ContentType))
def fragments_render(text_and_values: tuple[str, dict], content_type: ContentType) -> None:
    """Compiling raises only TemplateError, rendering only MissingParameter; escaped output is the
    template's own text plus each value escaped, so every '<' or '"' in it is the template's."""
    text, values = text_and_values
    try:
        template = compile_template(text)
    except TemplateError:
        return
    assert compile_template(template_source(template)) == template
    lookup = functools.partial(lookup_path, values)
    rendered = render_or_none(template.render, lookup, True)
    raw = render_or_none(template.render, lookup, False)
    pieces = [render_or_none(Template((part,)).render, lookup, False) if isinstance(part, Param) else part
              for part in template.parts]
    if None in pieces:
        assert rendered is None and raw is None
    else:
        assert raw == "".join(pieces)
        escaped = [html.escape(piece, quote=True) if isinstance(part, Param) else piece
                   for part, piece in zip(template.parts, pieces, strict=True)]
        assert rendered == "".join(escaped)
        for part, piece in zip(template.parts, escaped, strict=True):
            assert not isinstance(part, Param) or not set(piece) & set("<>\"'"), piece
    fragment = Fragment("fuzz", text, content_type)
    assert render_or_none(fragment.render, values) == (rendered if fragment.is_html else raw)


# -- bundles and profiles: what the edge reads from KV ----------------------------------------

numbers = st.integers(-2**63, 2**64 - 1) | st.floats() | st.integers(0, 200)
ids = st.sampled_from(["r1", "r2", "f1", "f2", "promo"]) | st.text(max_size=6)
slot_names = st.sampled_from(["hero", "main"]) | st.text(max_size=4)
_OPERATIONS = ["inner", "append", "prepend", "before", "after", "replace", "outer"]
iso_times = st.one_of(
    st.datetimes(timezones=st.none() | st.integers(-23 * 60 + 1, 23 * 60 - 1).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))).map(dt.datetime.isoformat),
    st.dates().map(dt.date.isoformat),
    st.text(max_size=12),
)
timezones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Nope/Zone", "", "../../etc/passwd",
                             "UTC\x00"])
schedules = maps({"start": sometimes(numbers | iso_times), "end": sometimes(numbers | iso_times),
                  "timezone": sometimes(timezones)})
fragment_specs = maps({"html": sometimes(template_texts), "text": sometimes(template_texts),
                       "op": sometimes(st.sampled_from(_OPERATIONS))})
rule_specs = maps({
    "id": sometimes(ids), "slot": sometimes(slot_names), "slots": sometimes(st.lists(slot_names, max_size=3)),
    "fragment": sometimes(ids), "priority": sometimes(numbers), "score": sometimes(numbers),
    "group": sometimes(ids), "when": sometimes(any_conditions),
    "path_prefix": sometimes(st.sampled_from(["/", "/shop", "shop"])), "schedule": sometimes(schedules),
    "cap": sometimes(maps({"session": sometimes(numbers), "visitor": sometimes(numbers)})),
    "holdout": sometimes(numbers), "params": sometimes(st.dictionaries(st.text(max_size=6), scalars, max_size=3)),
})
page_specs = maps({
    "pattern": sometimes(regexes | regex_soup), "stage": sometimes(st.sampled_from(["browse", "cart", "x"])),
    "category": sometimes(st.text(max_size=8)), "cart_add": sometimes(st.text(max_size=8)),
    "purchase": sometimes(st.booleans()), "trial": sometimes(st.booleans()),
})
cache_policies = maps({name: sometimes(numbers) for name in ("fresh", "swr", "sie", "negative")})
vector_tables = st.dictionaries(st.sampled_from(VECTORS) | st.text(max_size=4), numbers, max_size=3)
config_payloads = maps({
    "slots": sometimes(st.dictionaries(slot_names, sometimes(maps({"fallback": sometimes(ids)})), max_size=3)),
    "fragments": sometimes(st.dictionaries(ids, sometimes(fragment_specs), max_size=3)),
    "rules": sometimes(st.lists(sometimes(rule_specs), max_size=3)),
    "engine": sometimes(maps({"max_active": sometimes(numbers)})),
    "scoring": sometimes(maps({
        "weights": sometimes(vector_tables), "saturation": sometimes(vector_tables),
        "tiers": sometimes(st.dictionaries(st.text(max_size=6), numbers, max_size=3)),
        "half_life_days": sometimes(numbers)})),
    "signals": sometimes(maps({
        "stages": sometimes(st.lists(st.sampled_from(["browse", "cart"]) | st.text(max_size=6), max_size=4)),
        "search_params": sometimes(st.lists(st.text(max_size=4), max_size=3)),
        "pages": sometimes(st.lists(sometimes(page_specs), max_size=3)),
        "login_cookie": sometimes(st.sampled_from(["sid", "a b", ""]) | st.text(max_size=8))})),
    "products": sometimes(st.dictionaries(
        st.text(max_size=6), sometimes(st.dictionaries(st.text(max_size=6), scalars, max_size=3)), max_size=3)),
    "saved_groups": sometimes(st.dictionaries(st.text(max_size=6), st.lists(scalars, max_size=4), max_size=3)),
    "cache": sometimes(maps({"config": sometimes(cache_policies), "profiles": sometimes(cache_policies)})),
    "consent": sometimes(maps({"cookie": sometimes(st.sampled_from(["consent", "a b", ""])),
                               "value": sometimes(st.sampled_from(["yes", ""]))})),
})


# A config the CLI would publish: every reference resolves, so rules compile, and what corrupted()
# then breaks is seen one problem at a time.
_ROOT_PATHS = ["request.path", "request.utm.source", "session.pages", "cart.value", "country", "tier",
               "profile.known", "score", "request.query.q"]
_GOOD_TEMPLATES = ["<b>{city}</b>", "Page {session.pages}", "{params.discount:.0f}% off", "plain text",
                   "<p>Free shipping over {cart.value:,.2f}</p>", '<a href="/c/{city}">go</a>', "{country:>4}"]
well_formed_conditions = st.recursive(
    st.builds(lambda path, value: {path: value}, st.sampled_from(_ROOT_PATHS), attribute_scalars | value_conditions),
    lambda inner: st.one_of(
        st.builds(lambda op, parts: {op: parts}, st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, max_size=3)),
        st.builds(lambda part: {"$not": part}, inner),
        st.lists(inner, max_size=3).map(lambda parts: {k: v for part in parts for k, v in part.items()}),
    ),
    max_leaves=5,
)


@st.composite
def valid_rules(draw, index: int, fragment_ids: list[str]) -> dict:
    rule = {"id": f"r{index}", "fragment": draw(st.sampled_from(fragment_ids)),
            "when": draw(well_formed_conditions), "params": {"discount": draw(st.integers(0, 90))}}
    rule.update(draw(st.sampled_from([{"slot": "hero"}, {"slot": "main"}, {"slots": ["hero", "main"]}])))
    rule.update(draw(st.fixed_dictionaries({}, optional={
        "priority": st.integers(-10, 10), "score": st.floats(0, 100), "group": st.sampled_from(["g1", "g2"]),
        "path_prefix": st.sampled_from(["/", "/shop"]), "holdout": st.floats(0, 100),
        "cap": st.fixed_dictionaries({}, optional={"session": st.integers(1, 5), "visitor": st.integers(1, 9)}),
        "schedule": st.fixed_dictionaries({"start": st.integers(0, 2**31) | iso_times,
                                           "end": st.integers(2**31, 2**32) | iso_times,
                                           "timezone": st.sampled_from(["UTC", "Europe/Paris"])}),
    })))
    return rule


@st.composite
def valid_configs(draw) -> dict:
    fragment_ids = ["f1", "f2", "f3"]
    fragments = {fid: {draw(st.sampled_from(["html", "text"])): draw(st.sampled_from(_GOOD_TEMPLATES)),
                       "op": draw(st.sampled_from(_OPERATIONS[:-1]))} for fid in fragment_ids}
    fragments["f1"] = {"html": "<b>Welcome</b>"}   # the fallback: no {params...}
    config = {
        "fragments": fragments,
        "slots": {"hero": {"fallback": "f1"}, "main": {}},
        "rules": [draw(valid_rules(index, fragment_ids)) for index in range(draw(st.integers(0, 4)))],
        "saved_groups": {"vip": draw(st.lists(st.text(max_size=4) | st.integers(0, 9), max_size=3))},
    }
    config.update(draw(st.fixed_dictionaries({}, optional={
        "engine": st.fixed_dictionaries({"max_active": st.integers(1, 5)}),
        "scoring": st.fixed_dictionaries({"weights": st.dictionaries(st.sampled_from(VECTORS), st.floats(0, 10)),
                                          "half_life_days": st.floats(0.5, 60)}),
        "signals": st.fixed_dictionaries({
            "stages": st.just(["browse", "product", "cart"]),
            "pages": st.lists(st.fixed_dictionaries({"pattern": regexes | st.just("^/p/(?P<product>[^/]+)")},
                                                    optional={"stage": st.sampled_from(["product", "cart"]),
                                                              "cart_add": st.just("price")}), max_size=2)}),
        "products": st.dictionaries(st.sampled_from(["p1", "p2"]), st.fixed_dictionaries({"price": st.floats(0, 1e4)})),
        "cache": st.fixed_dictionaries({"config": st.fixed_dictionaries({"fresh": st.integers(0, 60)})}),
        "consent": st.just({"cookie": "consent", "value": "yes"}),
    })))
    return config


@target("bundles.bundle", payload=st.one_of(corrupted(valid_configs()), corrupted(valid_configs()), config_payloads,
                                            msgpack_values), minor=st.integers(0, 5),
        implementation=st.sampled_from(sorted(MSGPACKS)))
def bundles_bundle(payload: Any, minor: int, implementation: str) -> None:
    """A sound config envelope read at the edge: a Bundle (what is broken listed in its problems), or
    ConfigError if the payload is not a map; the CLI's strict compile of it: a Bundle or ConfigError."""
    data = envelope(schema.CONFIG, payload, minor=minor)
    readable = not isinstance(decoded_with("c", schema.CONFIG, data), SchemaError)   # int map keys are not
    with msgpack_implementation(implementation):
        try:
            bundle = bundle_from_bytes(data, source="fuzz")
        except SchemaError:
            assert not readable, "one msgpack reads what the other refuses"
            return
        except ConfigError:   # not a config at all
            assert not isinstance(payload, dict)
            return
    assert isinstance(bundle, Bundle) and all(isinstance(p, Problem) for p in bundle.problems)
    try:
        compile_bundle(schema.decode(schema.CONFIG, data).payload, source="fuzz", strict=True)
    except ConfigError as error:
        assert error.problems


_PROFILE_NUMBERS = [f.name for f in dataclasses.fields(Profile) if f.type in ("int", "float")]
profile_payloads = maps({
    **{name: sometimes(numbers) for name in _PROFILE_NUMBERS},
    "trial": sometimes(st.booleans()),
    "categories": sometimes(st.dictionaries(st.text(max_size=8) | st.binary(max_size=3), numbers, max_size=4)),
})


valid_profiles = st.fixed_dictionaries({
    **{name: st.integers(0, 2**64 - 1) | st.floats(0) for name in _PROFILE_NUMBERS},
    "trial": st.booleans(),
    "categories": st.dictionaries(st.text(max_size=8), st.integers(0, 2**64 - 1) | st.floats(0), max_size=4),
})


@target("visitor.profile", payload=st.one_of(corrupted(valid_profiles, edits=2), profile_payloads, msgpack_values),
        now=st.integers(0, 2**40) | st.floats(0, 2**40),
        half_life_days=st.floats(0, 1e6), implementation=st.sampled_from(sorted(MSGPACKS)))
def visitor_profile(payload: Any, now: float, half_life_days: float, implementation: str) -> None:
    """A profile envelope: SchemaError, or a Profile of non-negative numbers whose readings never raise."""
    data = envelope(schema.PROFILE, payload)
    with msgpack_implementation(implementation):
        try:
            profile = profile_from_bytes(data)
        except SchemaError:
            return
    assert isinstance(profile, Profile)
    for name in _PROFILE_NUMBERS:
        value = getattr(profile, name)
        assert type(value) in (int, float) and value >= 0, (name, value)
    assert type(profile.trial) is bool
    assert 0 <= profile.decay(now, half_life_days) <= 1
    name, share = profile.top_category()
    assert isinstance(name, str) and 0 <= share <= 1
    assert profile.attributes(now)["known"] is True
    assert profile.pages_per_session >= 0 and profile.interaction_rate >= 0
