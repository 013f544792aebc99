"""pz_* parameters never reach the origin, however their names are percent-encoded, in every path:
the visitor's own origin fetch, the page-cache key and the anonymous fill or revalidation."""

from __future__ import annotations

import time

import pytest

from intentedge.preview import mint_token
from intentedge.session import SessionKeys

from .test_engine import BROWSER

# each reserved name with its prefix written several ways (a character encoded, upper- and
# lower-case hex, every character encoded)
ENCODED = {
    "pz_preview": ["pz%5Fpreview", "%70z_preview", "p%7a_preview", "%70%7A%5Fpreview", "pz%5fpreview",
                   "%70%7A%5F%70%72%65%76%69%65%77"],
    "pz_rule": ["pz%5Frule", "%70z%5frule"],
    "pz_tier": ["PZ_tier", "pz%5Ftier"],
    "pz_set.cart.value": ["pz%5Fset.cart.value", "%70z_set%2Ecart%2Evalue"],
}
CASES = [(name, raw) for name, raws in ENCODED.items() for raw in raws]


@pytest.fixture(scope="module", autouse=True)
def warm(worker):
    """Past the cold start, whose first config read may miss KV_BUDGET_MS (the page then goes out unmodified)."""
    worker.get_until("/", lambda reply: b"data-pz-rule=" in reply.body)


@pytest.fixture(scope="module")
def token(dev_secrets) -> str:
    return mint_token(SessionKeys.parse(dev_secrets["SESSION_KEYS"]), now=time.time(), ttl=600)


@pytest.mark.parametrize("case", range(len(CASES)), ids=[raw for _, raw in CASES])
def test_an_encoded_reserved_name_is_stripped_wherever_it_is_read(worker, origin, token, case):
    name, raw = CASES[case]
    page = f"/cache/fresh/reserved-{case}.html"
    query = f"{raw}={token}" if name == "pz_preview" else f"pz_preview={token}&{raw}=premium"
    before = len(origin.requests)
    reply = worker.get(f"{page}?{query}", headers={"User-Agent": BROWSER})
    assert reply.status == 200
    if name == "pz_preview":   # the encoded name is honoured: the page is a preview ...
        assert "x-pz-trace" in reply.headers
    deadline = time.monotonic() + 5   # the visitor's own fetch, then the anonymous fill of the cache key
    while time.monotonic() < deadline and len(origin.requests) < before + 2:
        time.sleep(0.05)
    seen = [s.path for s in origin.requests[before:] if s.path.startswith(page)]
    assert seen == [page, page], f"{raw}: the origin saw {seen}"   # ... and no pz_* reaches the origin


def test_a_revalidation_asks_for_the_key_without_any_of_them(worker, origin, token):
    page = "/cache/swr/reserved-revalidated.html"
    query = "&".join(f"{raw}={token}" for _, raw in CASES)
    worker.get(f"{page}?{query}", headers={"User-Agent": BROWSER})
    time.sleep(1.2)   # max-age=1: stale, so the next request revalidates in the background
    before = len(origin.requests)
    worker.get(f"{page}?{query}", headers={"User-Agent": BROWSER})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [s for s in origin.requests[before:] if s.path.startswith(page)]:
        time.sleep(0.05)
    seen = [s.path for s in origin.requests if s.path.startswith(page)]
    assert len(seen) >= 3 and set(seen) == {page}, seen
