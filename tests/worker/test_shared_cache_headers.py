"""No header that lets a shared cache store a response survives on a personalized one.

Under RFC 9213 a targeted field (CDN-Cache-Control, Cloudflare-CDN-Cache-Control, each CDN's
`*-Cache-Control`) and Surrogate-Control take precedence over Cache-Control for the caches they
target: left on a personalized page, a CDN in front of or behind the Worker could store one
visitor's page for everyone. The rule is core's (intentedge/outcome.py: grants_shared_storage).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from intentedge.outcome import grants_shared_storage

from .test_engine import BROWSER

# Every targeted or surrogate header a CDN or proxy documents, and made-up ones of the same shape.
GRANTING = ["CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Vercel-CDN-Cache-Control",
            "Netlify-CDN-Cache-Control", "Akamai-Cache-Control", "Fastly-Cache-Control", "Acme-Edge-Cache-Control",
            "Surrogate-Control", "Edge-Control", "X-Accel-Expires", "Expires"]
VALUES = {"X-Accel-Expires": "3600", "Expires": "Thu, 01 Jan 2037 00:00:00 GMT"}
KEPT = {"Surrogate-Key": "page-1", "X-Cache-Tag": "slots"}   # tags and names, no permission to store


def page(headers: dict[str, str], request) -> str:
    query = {name: VALUES.get(name, "public, max-age=3600") for name in headers} | {"t": request.node.name}
    return "/fault/headers.html?" + urlencode(query)


@pytest.mark.parametrize("name", GRANTING)
def test_core_names_every_header_that_grants_storage(name):
    assert grants_shared_storage(name.lower())
    assert not any(grants_shared_storage(kept.lower()) for kept in KEPT)


@pytest.mark.parametrize("visitor", ["new", "returning", "crawler"])
def test_a_personalized_page_loses_every_storage_grant(worker, mint_cookie, request, visitor):
    headers = {"new": {"User-Agent": BROWSER}, "returning": {"User-Agent": BROWSER, "Cookie": mint_cookie()},
               "crawler": {"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}}[visitor]
    path = page(dict.fromkeys(GRANTING, ""), request) + "&" + urlencode(KEPT)
    reply = worker.get(path, headers=headers)
    assert reply.status == 200 and b"data-pz-rule=" in reply.body
    assert reply.headers["cache-control"] == "private, no-store"
    left = [name for name in GRANTING if reply.headers.get(name) is not None]
    assert left == [], f"{visitor}: {left} survived"
    assert all(reply.headers.get(name) == value for name, value in KEPT.items())


def test_a_page_from_the_page_cache_loses_them_too(worker, mint_cookie, request):
    path = page({"Cache-Control": "", "CDN-Cache-Control": "", "Surrogate-Control": ""}, request)
    for _ in range(3):   # a miss, then hits of the stored copy (it keeps the origin's headers)
        reply = worker.get(path, headers={"User-Agent": BROWSER, "Cookie": mint_cookie()})
        assert b"data-pz-rule=" in reply.body
        assert reply.headers.get("cdn-cache-control") is None and reply.headers.get("surrogate-control") is None


def test_a_page_passed_through_keeps_the_origins_headers(worker):
    """A Range request is the origin's alone (intentedge/eligibility.py): its answer is not ours to change."""
    reply = worker.get("/fault/headers.html?" + urlencode({"CDN-Cache-Control": "max-age=60"}),
                       headers={"Range": "bytes=0-"})
    assert reply.headers.get("cdn-cache-control") == "max-age=60"
