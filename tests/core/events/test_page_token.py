"""The page token: it verifies for its visitor only, expires, survives key rotation, is no session
cookie, and names every slot's choice of the page's decision."""

from __future__ import annotations

import pytest

from intentedge.decision import Choice
from intentedge.events.page_token import (MAX_AGE_SECONDS, PageDecision, PageTokenError, SlotChoice, page_decision, sign,
                                          verify)
from intentedge.fragments import ContentType, Fragment, Operation
from intentedge.session import Session, SessionKeys

from tests.core.builders import KEYS, NOW, SECRET_1, SECRET_2

VISITOR = "v" * 22
PAGE = PageDecision("d1", NOW, "/products/alpha-pro/", "medium", 64.2,
                    (SlotChoice("hero", "premium-offer", "hero-premium"),
                     SlotChoice("promo", "bundle-on-products", "control")))


def test_a_page_token_round_trips_for_its_visitor_only():
    token = sign(PAGE, VISITOR, KEYS)
    assert verify(token, VISITOR, KEYS, NOW + 60) == PAGE
    with pytest.raises(PageTokenError, match="does not match this visitor"):
        verify(token, "w" * 22, KEYS, NOW)


@pytest.mark.parametrize("mangle, message", [
    (lambda t: t + "x", "not a page token|does not match"),
    (lambda t: "k9" + t[2:], "unknown key"),
    (lambda t: t.replace(".", "", 1), "not a page token"),
    (lambda t: "a.b.c.d", "not a page token"),
])
def test_forged_page_tokens_do_not_verify(mangle, message):
    with pytest.raises(PageTokenError, match=message):
        verify(mangle(sign(PAGE, VISITOR, KEYS)), VISITOR, KEYS, NOW)


def test_a_page_token_expires_and_survives_key_rotation():
    token = sign(PAGE, VISITOR, KEYS)
    with pytest.raises(PageTokenError, match="expired"):
        verify(token, VISITOR, KEYS, NOW + MAX_AGE_SECONDS + 1)
    rotated = SessionKeys.parse(f"k2:{SECRET_2},k1:{SECRET_1}")
    assert verify(token, VISITOR, rotated, NOW) == PAGE


def test_a_session_cookie_does_not_pass_for_a_page_token():
    from intentedge.session import dump
    cookie = dump(Session(VISITOR, NOW, NOW), KEYS)
    with pytest.raises(PageTokenError):
        verify(cookie, VISITOR, KEYS, NOW)


def test_the_page_decision_names_every_choice_and_control():
    fragment = Fragment("hero-premium", "x", ContentType.HTML, Operation.INNER)
    choices = [Choice("hero", fragment, "x", "premium-offer", "hero-premium"),
               Choice("promo", fragment, "x", None, "promo-newsletter"),
               Choice("side", fragment, "x", "bundle", "control")]
    page = page_decision(choices, {"tier": "high", "score": 87.449}, decision_id="d", now=NOW + 0.7, path="/p")
    assert page == PageDecision("d", NOW, "/p", "high", 87.4, (
        SlotChoice("hero", "premium-offer", "hero-premium"), SlotChoice("promo", "fallback", "promo-newsletter"),
        SlotChoice("side", "bundle", "control")))
