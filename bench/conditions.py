"""Micro-benchmark: ~100 compiled rule conditions against one visitor's attributes.

    .venv/bin/python bench/conditions.py [passes]

Prints the median time of one pass (every condition evaluated once), as the Worker does
per request, plus compile time and, for contrast, compiling on every evaluation. CPython
numbers; Pyodide in workerd runs the same code about 2.6x slower. No assertions.
"""

from __future__ import annotations

import statistics
import sys
import time

from intentedge.conditions import compile_condition, eval_condition, validate_condition

ATTRIBUTES = {
    "request": {
        "path": "/products/cameras/pro-x200",
        "referrer": "search",
        "device": "mobile",
        "language": "en-US",
        "country": "US",
        "region": "CA",
        "city": "San Francisco",
        "hour": 14,
        "weekday": 3,
        "utm": {"source": "google", "medium": "cpc", "campaign": "spring-cameras"},
        "query": {"q": "mirrorless camera"},
        "save_data": False,
        "gpc": False,
    },
    "session": {
        "new_visitor": False,
        "pages": 5,
        "visits": 3,
        "dwell": 93.5,
        "categories": ["cameras", "lenses"],
        "products": ["pro-x200", "lens-50mm"],
        "searches": 2,
        "stage": "consideration",
        "trial": False,
        "purchases": 1,
        "seconds": 412,
    },
    "cart": {"value": 180.0, "items": 2},
    "profile": {"visits_30d": 7, "purchases": 4, "logged_in": True, "segments": ["photo-pro", "loyal"], "ltv": 420.0},
    "score": {"score": 72.5, "tier": "warm"},
    "app": {"version": "2.4.1"},
}

COUNTRIES = ["US", "CA", "GB", "DE", "FR", "AU", "JP", "NL", "SE", "ES"]
CATEGORIES = ["cameras", "lenses", "drones", "audio", "lighting", "tripods", "bags", "memory"]


def realistic_conditions() -> list[dict]:
    """A hundred conditions shaped like a real rules file: mostly cheap, some regex, some nesting."""
    out: list[dict] = []
    for i in range(10):
        out.append({"cart.value": {"$gt": 50 + 25 * i}})
        out.append({"session.pages": {"$gte": 1 + i % 5}, "request.device": ["mobile", "desktop", "tablet"][i % 3]})
        out.append({"request.country": {"$in": COUNTRIES[i % 5: i % 5 + 4]}})
        out.append({"request.path": {"$regex": f"^/products/{CATEGORIES[i % len(CATEGORIES)]}/"}})
        out.append({"session.categories": {"$elemMatch": {"$eq": CATEGORIES[(i + 1) % len(CATEGORIES)]}}})
        out.append({"$or": [
            {"request.utm.source": {"$in": ["google", "bing"]}, "request.utm.medium": "cpc"},
            {"request.referrer": "social"},
        ]})
        out.append({"$and": [
            {"profile.logged_in": True},
            {"profile.purchases": {"$gte": 3}},
            {"session.new_visitor": False},
        ]})
        out.append({"score.score": {"$gte": 60 + i, "$lt": 85 + i}, "score.tier": {"$ne": "cold"}})
        out.append({"request.hour": {"$gte": 9, "$lt": 18}, "request.weekday": {"$nin": [0, 6]}})
        out.append({
            "$or": [{"request.query.q": {"$regexi": "mirrorless|dslr"}}, {"session.searches": {"$gt": 3}}],
            "$not": {"request.path": {"$regex": "^/(checkout|account)"}},
            "app.version": {"$vgte": f"2.{i % 5}.0"},
        })
    return out


def main() -> None:
    passes = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    sources = realistic_conditions()
    assert not any(validate_condition(c) for c in sources)

    started = time.perf_counter_ns()
    matchers = [compile_condition(c) for c in sources]
    compile_us = (time.perf_counter_ns() - started) / 1000

    def one_pass() -> int:
        started = time.perf_counter_ns()
        for matcher in matchers:
            matcher(ATTRIBUTES)
        return time.perf_counter_ns() - started

    for _ in range(200):  # warm up
        one_pass()
    median_us = statistics.median(one_pass() for _ in range(passes)) / 1000

    def naive_pass() -> int:
        started = time.perf_counter_ns()
        for condition in sources:
            eval_condition(ATTRIBUTES, condition)
        return time.perf_counter_ns() - started

    naive_us = statistics.median(naive_pass() for _ in range(max(passes // 20, 20))) / 1000
    hits = sum(m(ATTRIBUTES) for m in matchers)

    print(f"python {sys.version.split()[0]}: {len(matchers)} conditions, {hits} match")
    print(f"compile all:              {compile_us:9.1f} us (once, when the bundle loads)")
    print(f"evaluate all (median):    {median_us:9.1f} us  = {1000 * median_us / len(matchers):.0f} ns per condition")
    print(f"compile + evaluate all:   {naive_us:9.1f} us  (eval_condition, for contrast)")


if __name__ == "__main__":
    main()
