"""log_line: one compact JSON object per line, event first."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from intentedge import log_line


def test_event_only():
    assert log_line("fail_open") == '{"event":"fail_open"}'


def test_fields_follow_the_event_in_order_compactly():
    assert log_line("choose", slot="hero", rule=None, n=2, ok=True) == (
        '{"event":"choose","slot":"hero","rule":null,"n":2,"ok":true}'
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(PurePosixPath("/a/b"), "/a/b", id="path"),
        pytest.param(ValueError("boom"), "boom", id="exception"),
        pytest.param(b"\x00", "b'\\x00'", id="bytes"),
        pytest.param({1, 2}, "{1, 2}", id="set"),
    ],
)
def test_values_json_cannot_carry_are_logged_as_str(value, expected):
    assert json.loads(log_line("x", value=value)) == {"event": "x", "value": expected}


@pytest.mark.parametrize(
    "text",
    ["two\nlines", "cr\r\nlf", "sep\u2028arator", 'quote " and \\'],
    ids=["newline", "crlf", "unicode-line-separator", "quote-backslash"],
)
def test_one_line_whatever_the_values(text):
    line = log_line("x", reason=text)
    assert line.splitlines() == [line]
    assert json.loads(line)["reason"] == text


def test_nested_values_round_trip():
    fields = {"choices": [{"slot": "hero", "rule": "r1"}], "ms": 1.5}
    assert json.loads(log_line("personalized", **fields)) == {"event": "personalized", **fields}


def test_non_finite_numbers_still_give_strict_json():
    line = log_line("x", v=float("nan"), w=float("inf"))
    assert json.loads(line) == {"event": "x", "v": "nan", "w": "inf"}
