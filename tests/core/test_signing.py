"""Signed tokens (signing.py): the wire formats of the cookie, the page token and the preview token
pinned byte for byte, the codec's round trip, key rotation, purpose contexts, the bound value, every
way a token fails to verify, and the errors' place in the tree."""

from __future__ import annotations

import base64
import hmac

import pytest

from intentedge import IntentEdgeError
from intentedge import signing
from intentedge.events import page_token
from intentedge.events.page_token import PageDecision, PageTokenError, SlotChoice
from intentedge.preview import mint_token, token_is_valid
from intentedge.session import Session, SessionKeys, advance, dump, load, new_session, record_impressions, remember
from intentedge.signing import (MALFORMED, MISMATCH, UNKNOWN_KEY, SessionKeyError, SignatureError, Signer, b64url_decode,
                                b64url_encode)

from tests.core.builders import HOUR, KEYS, MINUTE, NOW, SECRET_1, SECRET_2, counter_bytes

NEW_KEYS = SessionKeys.parse(f"k2:{SECRET_2},k1:{SECRET_1}")   # k2 signs, k1 still verifies
SIGNER = Signer(b"intentedge.test.v1\x00")


def pinned_session() -> Session:
    """A returning visitor's session, from injected clock and randomness only (non-ASCII history included)."""
    session = advance(advance(new_session(NOW - 5 * MINUTE, counter_bytes()), NOW - 5 * MINUTE), NOW - MINUTE)
    session = record_impressions(session, ["promo", "hero-sale"])
    return session.evolve(categories=remember(remember(session.categories, "cameras"), "K\u00f6ln"),
                          products=("alpha-pro",), cart_value=649.5, cart_items=1, stage=2, trial=True)


PAGE = PageDecision("3f2a9c", NOW, "/produkte/k\u00f6lsch", "high", 87.4,
                    (SlotChoice("hero", "premium-offer", "hero-premium"), SlotChoice("promo", "fallback", "news")))

# Minted by the code before signing.py existed (commit e983c3b) from the inputs above: these bytes
# are in browsers, in pages and in preview links, so they must never change.
_SESSION_BODY = ("WzEsInJISTJpbGhxR01HUWlEazFjODREQnciLDE3ODk5OTk3MDAsMTc4OTk5OTk0MCwyLDEsMjQwLFsiS8O2bG4iLCJjYW1l"
                 "cmFzIl0sWyJhbHBoYS1wcm8iXSw2NDkuNSwxLDAsMix0cnVlLDAsW1syOTU0MDc0ODc1LDEsMV0sWzM4NzA0Mjk2NzYsMSwx"
                 "XV1d")
COOKIE = f"k1.{_SESSION_BODY}.ALeRIdyDlSBcqDl2c0iJ3XIYdske1lkaZ-9-E83FbX4"
COOKIE_NEW_KEYS = f"k2.{_SESSION_BODY}.lnCdb4z3ZgMXJC-DwgCphHm-TuGJ8Wsf3SJWfkoNJ38"
_PAGE_BODY = ("WzEsIjNmMmE5YyIsMTc5MDAwMDAwMCwiL3Byb2R1a3RlL2vDtmxzY2giLCJoaWdoIiw4Ny40LFtbImhlcm8iLCJwcmVtaXVt"
              "LW9mZmVyIiwiaGVyby1wcmVtaXVtIl0sWyJwcm9tbyIsImZhbGxiYWNrIiwibmV3cyJdXV0")
PAGE_TOKEN = f"k1.{_PAGE_BODY}.TcVZBsqoLW8MHyqFoab900VShP760Sp9GLuqVzV5MgY"
PAGE_TOKEN_NEW_KEYS = f"k2.{_PAGE_BODY}.x7IPyvFQMI4DjL_uIzhaaK0_1hAfxTZwoaC7BaDjT6Y"
PREVIEW = "k1.1790003600.QrgXr9Q4NC5maMqW5bzx79s_2_7-WpsRaL3ZueZI9cA"
PREVIEW_NEW_KEYS = "k2.1790604800.5Z1W4-Qqjjeyz6hW6hTYP2evRFvCQiR0CNI6SkRZo5Q"


# -- the wire formats, pinned -----------------------------------------------------------------


def test_a_cookie_is_minted_byte_for_byte_as_before():
    assert dump(pinned_session(), KEYS) == COOKIE
    assert dump(pinned_session(), NEW_KEYS) == COOKIE_NEW_KEYS


def test_a_page_token_is_minted_byte_for_byte_as_before():
    visitor = pinned_session().visitor_id
    assert page_token.sign(PAGE, visitor, KEYS) == PAGE_TOKEN
    assert page_token.sign(PAGE, visitor, NEW_KEYS) == PAGE_TOKEN_NEW_KEYS


def test_a_preview_token_is_minted_byte_for_byte_as_before():
    assert mint_token(KEYS, now=NOW, ttl=HOUR) == PREVIEW
    assert mint_token(NEW_KEYS, now=NOW + 0.5, ttl=7 * 24 * HOUR) == PREVIEW_NEW_KEYS


@pytest.mark.parametrize("keys", [pytest.param(KEYS, id="same-keys"), pytest.param(NEW_KEYS, id="after-rotation")])
def test_tokens_minted_before_still_verify(keys):
    expected = pinned_session()
    assert load(COOKIE, keys, NOW) == expected
    assert page_token.verify(PAGE_TOKEN, expected.visitor_id, keys, NOW) == PAGE
    assert token_is_valid(PREVIEW, keys, now=NOW)


def test_tokens_of_a_newer_key_verify_where_it_is_listed():
    visitor = pinned_session().visitor_id
    assert load(COOKIE_NEW_KEYS, NEW_KEYS, NOW) == pinned_session()
    assert page_token.verify(PAGE_TOKEN_NEW_KEYS, visitor, NEW_KEYS, NOW) == PAGE
    assert token_is_valid(PREVIEW_NEW_KEYS, NEW_KEYS, now=NOW)
    assert load(COOKIE_NEW_KEYS, KEYS, NOW) is None   # not yet listed


def test_the_mac_is_hmac_sha256_over_context_key_id_bound_and_payload():
    # what signing.py's docstring says, computed here with nothing but the standard library
    secret = SECRET_1.encode()
    expected = hmac.new(secret, b"intentedge.page.v1\x00k1." + pinned_session().visitor_id.encode() + b"."
                        + _PAGE_BODY.encode(), "sha256").digest()
    assert PAGE_TOKEN.rsplit(".", 1)[1] == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    expected = hmac.new(secret, b"intentedge.preview.v1\x00k1.1790003600", "sha256").digest()
    assert PREVIEW.rsplit(".", 1)[1] == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


# -- the codec ----------------------------------------------------------------------------------


def test_sign_then_verify_gives_the_payload():
    token = SIGNER.sign(KEYS, "payload-text")
    assert token.startswith("k1.payload-text.")
    assert SIGNER.verify(KEYS, token) == "payload-text"
    assert SIGNER.verify(NEW_KEYS, token) == "payload-text"       # the old key still listed
    assert SIGNER.verify(NEW_KEYS, SIGNER.sign(NEW_KEYS, "p")) == "p"


def test_the_bound_value_must_match():
    token = SIGNER.sign(KEYS, "p", bound="visitor-a")
    assert SIGNER.verify(KEYS, token, bound="visitor-a") == "p"
    assert _reason(token, bound="visitor-b") == MISMATCH
    assert _reason(token) == MISMATCH                               # a bound token is not an unbound one
    assert _reason(SIGNER.sign(KEYS, "p"), bound="visitor-a") == MISMATCH


def test_another_context_does_not_verify():
    assert _reason(Signer(b"intentedge.other.v1\x00").sign(KEYS, "p")) == MISMATCH


def test_the_mac_covers_the_key_id():
    same_secret = SessionKeys.parse(f"k1:{SECRET_1},k2:{SECRET_1}")
    token = SIGNER.sign(same_secret, "p")
    assert _reason("k2" + token[2:], same_secret) == MISMATCH


GOOD = SIGNER.sign(KEYS, "payload")
_KID, _PAYLOAD, _MAC = GOOD.split(".")


@pytest.mark.parametrize(
    "token, reason",
    [
        pytest.param("", MALFORMED, id="empty"),
        pytest.param("k1", MALFORMED, id="one-part"),
        pytest.param(f"{_KID}.{_MAC}", MALFORMED, id="two-parts"),
        pytest.param(GOOD + ".x", MALFORMED, id="four-parts"),
        pytest.param(f"{_KID}.{_PAYLOAD}.\u00e9{_MAC[1:]}", MALFORMED, id="mac-non-ascii"),
        pytest.param(f"{_KID}.\ud800.{_MAC}", MALFORMED, id="payload-lone-surrogate"),
        pytest.param(f"k9.{_PAYLOAD}.{_MAC}", UNKNOWN_KEY, id="unknown-key-id"),
        pytest.param(f".{_PAYLOAD}.{_MAC}", UNKNOWN_KEY, id="empty-key-id"),
        pytest.param(f"{_KID}.payloaD.{_MAC}", MISMATCH, id="payload-changed"),
        pytest.param(f"{_KID}.{_PAYLOAD}.{_MAC[:-1]}", MISMATCH, id="mac-shortened"),
        pytest.param(f"{_KID}.{_PAYLOAD}.{_MAC}A", MISMATCH, id="mac-lengthened"),
        # the same MAC bytes in another spelling: only the canonical one passes
        pytest.param(f"{_KID}.{_PAYLOAD}.{_MAC}=", MISMATCH, id="mac-padded"),
        pytest.param(f"{_KID}.{_PAYLOAD}.!{_MAC}", MISMATCH, id="mac-with-a-stray-character"),
        pytest.param(f"{_KID}.{_PAYLOAD}.", MISMATCH, id="mac-empty"),
    ],
)
def test_a_token_that_does_not_verify_says_why(token, reason):
    assert _reason(token) == reason


def test_a_page_token_with_a_lone_surrogate_is_not_a_page_token():
    # a JSON batch can carry "\ud800"; it is a refusal like any other, not an encoding error
    kid, _, mac = PAGE_TOKEN.split(".")
    with pytest.raises(PageTokenError, match="not a page token"):
        page_token.verify(f"{kid}.\ud800.{mac}", pinned_session().visitor_id, KEYS, NOW)


def test_the_mac_is_compared_in_constant_time(monkeypatch):
    compared = []
    original = hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", compare_digest)
    assert SIGNER.verify(KEYS, GOOD) == "payload"
    assert _reason(f"{_KID}.{_PAYLOAD}.{_MAC[:-1]}") == MISMATCH
    assert compared == [(_MAC, _MAC), (_MAC[:-1], _MAC)]


@pytest.mark.parametrize("data", [b"", b"\x00", b"ab", b"abc", bytes(range(256)), "K\u00f6ln".encode()])
def test_base64url_round_trips_without_padding(data):
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


def test_a_repeated_key_id_verifies_with_its_first_secret():
    keys = SessionKeys.parse(f"k1:{SECRET_1},k1:{SECRET_2}")
    assert keys.get("k1").reveal() == SECRET_1.encode()


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [SessionKeyError, SignatureError, PageTokenError])
def test_signing_errors_are_intentedge_errors_and_value_errors(error):
    assert issubclass(error, IntentEdgeError) and issubclass(error, ValueError)


def test_a_signature_error_carries_its_reason():
    with pytest.raises(SignatureError) as caught:
        SIGNER.verify(KEYS, "k9.p.m")
    assert (caught.value.reason, str(caught.value)) == (UNKNOWN_KEY, UNKNOWN_KEY)


def _reason(token: str, keys: SessionKeys = KEYS, bound: str | None = None) -> str:
    with pytest.raises(SignatureError) as caught:
        SIGNER.verify(keys, token, bound)
    return caught.value.reason
