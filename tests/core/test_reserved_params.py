"""Our pz_* query parameters, however a URL encodes their names: every name the Worker would honour
is one it strips before the origin and the cache key (intentedge/preview.py, caching/pages.py)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentedge.caching.pages import normalized_cache_url
from intentedge.preview import is_reserved_param, without_preview_params

from tests.core.builders import context

NAMES = ["pz_preview", "pz_tier", "pz_rule", "pz_set.request.country", "pz_anything"]


def encodings(name: str) -> list[str]:
    """`name` with each character of its `pz_` prefix percent-encoded or not, in upper- and lower-case
    hex, and with the whole name encoded."""
    def forms(ch: str) -> list[str]:
        code = f"{ord(ch):02X}"
        return [ch, f"%{code}", f"%{code.lower()}"]
    prefixes = ("".join(parts) for parts in itertools.product(*(forms(ch) for ch in "pz_")))
    whole = "".join(f"%{ord(ch):02X}" for ch in name)
    return sorted({prefix + name[3:] for prefix in prefixes} | {whole})


CASES = [(name, raw) for name in NAMES for raw in encodings(name)]


@pytest.mark.parametrize("name, raw", CASES, ids=[raw for _, raw in CASES])
def test_a_name_the_worker_reads_is_a_name_it_strips(name, raw):
    url = f"https://shop.example/p?a=1&{raw}=secret&b=2"
    assert context(f"/p?a=1&{raw}=secret&b=2").query[name] == "secret"   # honoured under its decoded name
    assert is_reserved_param(raw)
    assert without_preview_params(url) == "https://shop.example/p?a=1&b=2"
    assert normalized_cache_url(url) == "https://shop.example/p?a=1&b=2"


@pytest.mark.parametrize("raw", ["PZ_preview", "Pz_tier", "pZ%5Frule"])
def test_other_cases_of_the_prefix_are_stripped_too(raw):
    assert without_preview_params(f"https://shop.example/?{raw}=x&keep=1") == "https://shop.example/?keep=1"


@pytest.mark.parametrize("url", ["https://shop.example/p?a=1&b=2", "https://shop.example/p?xpz_a=1&q=pz",
                                 "https://shop.example/p", "https://shop.example/p?q=%20a+b"])
def test_a_url_without_them_is_unchanged(url):
    assert without_preview_params(url) == url


@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=8)), max_size=6))
def test_no_reserved_name_survives_whatever_the_query(pairs):
    from urllib.parse import quote_plus, parse_qsl, urlsplit
    query = "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in pairs)
    stripped = urlsplit(without_preview_params(f"https://shop.example/p?{query}")).query
    assert not any(name.lower().startswith("pz_") for name, _ in parse_qsl(stripped, keep_blank_values=True))
    kept = [(n, v) for n, v in parse_qsl(query, keep_blank_values=True) if not n.lower().startswith("pz_")]
    assert parse_qsl(stripped, keep_blank_values=True) == kept
