"""may_recognise: whether a visitor may get an id, a profile read and a session cookie. Sec-GPC always
opts out; a [consent] cookie (and value) is required when configured; NOBODY (a broken [consent] at the
edge) recognises no one. The [consent] table itself is compiled in test_config.py."""

from __future__ import annotations

import pytest

from intentedge.consent import NOBODY, ConsentPolicy, may_recognise

ANY_VALUE = ConsentPolicy(cookie="cc_consent")
ONE_VALUE = ConsentPolicy(cookie="cc_consent", value="yes")


@pytest.mark.parametrize(
    "policy, header, gpc, expected",
    [
        # no [consent]: consent is assumed
        pytest.param(ConsentPolicy(), "", False, True, id="default-no-cookies"),
        pytest.param(ConsentPolicy(), "cc_consent=no", False, True, id="default-ignores-cookies"),
        pytest.param(ConsentPolicy(), "", True, False, id="default-gpc-opts-out"),
        # a consent cookie, any value
        pytest.param(ANY_VALUE, "cc_consent=1", False, True, id="cookie-present"),
        pytest.param(ANY_VALUE, "theme=dark; cc_consent=all; lang=de", False, True, id="cookie-among-others"),
        pytest.param(ANY_VALUE, "", False, False, id="cookie-absent"),
        pytest.param(ANY_VALUE, "theme=dark", False, False, id="other-cookies-only"),
        pytest.param(ANY_VALUE, "cc_consent=", False, False, id="cookie-empty"),     # a cleared consent cookie
        pytest.param(ANY_VALUE, "cc_consent", False, False, id="cookie-without-value"),
        pytest.param(ANY_VALUE, "xcc_consent=1; cc_consentx=1", False, False, id="similar-names"),
        pytest.param(ANY_VALUE, "CC_CONSENT=1", False, False, id="name-is-case-sensitive"),
        pytest.param(ANY_VALUE, "cc_consent=1", True, False, id="cookie-but-gpc"),
        # a consent cookie with one value
        pytest.param(ONE_VALUE, "cc_consent=yes", False, True, id="value-matches"),
        pytest.param(ONE_VALUE, "cc_consent=no", False, False, id="value-differs"),
        pytest.param(ONE_VALUE, "cc_consent=YES", False, False, id="value-is-case-sensitive"),
        pytest.param(ONE_VALUE, "cc_consent=yes2", False, False, id="value-prefix-only"),
        pytest.param(ONE_VALUE, "cc_consent=yes; cc_consent=no", False, True, id="repeated-first-wins"),
        pytest.param(ONE_VALUE, "cc_consent=no; cc_consent=yes", False, False, id="repeated-first-refuses"),
        pytest.param(ONE_VALUE, "cc_consent=yes", True, False, id="value-but-gpc"),
        # a broken [consent] table at the edge fails closed, whatever the request says
        pytest.param(NOBODY, "", False, False, id="nobody"),
        pytest.param(NOBODY, "cc_consent=yes", False, False, id="nobody-with-cookie"),
    ],
)
def test_may_recognise(policy, header, gpc, expected):
    assert may_recognise(policy, header, gpc=gpc) is expected


def test_nobody_is_not_the_default():
    # NOBODY and the default both leave cookie and value unset: only `nobody` tells them apart
    assert NOBODY != ConsentPolicy()
    assert (NOBODY.cookie, NOBODY.value) == (None, None)
    assert may_recognise(ConsentPolicy(), "", gpc=False) and not may_recognise(NOBODY, "", gpc=False)


@pytest.mark.parametrize("header", [
    "tracking=a,consent=yes",            # a comma inside another cookie's value
    "tracking=a, consent=yes",
    "q=x,y,consent=yes; theme=dark",
    'note="a,consent=yes"',
])
def test_a_comma_inside_another_cookie_never_makes_the_consent_cookie(header):
    assert not may_recognise(ConsentPolicy(cookie="consent", value="yes"), header, gpc=False)
    assert not may_recognise(ConsentPolicy(cookie="consent"), header, gpc=False)
    assert may_recognise(ConsentPolicy(cookie="consent", value="yes"), header + "; consent=yes", gpc=False)
