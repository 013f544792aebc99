"""Benchmark: the full decision for one request, as the Worker makes it, on CPython.

    .venv/bin/python bench/decision.py [requests]

Per request: build the request context, verify the session cookie, advance the
session with the page's signals, score, evaluate 100 compiled rules, render the
chosen fragments, and sign the new cookie. Prints median and p99 in microseconds.
Pyodide in workerd runs the same code about 2.6x slower. No assertions.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from conditions import realistic_conditions

from intentedge import RequestContext, RequestData, SessionKeys, compile_bundle, decide
from intentedge.session import Session, dump, set_cookie_header
from intentedge.visitor import logged_in, page_view, returning_session

NOW = 1_795_000_000.0
KEYS = SessionKeys.parse("k1:" + "s" * 40)
SLOTS = ("hero", "promo", "sidebar", "footer")
HEADERS = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "referer": "https://www.google.com/",
    "accept-language": "en-US,en;q=0.9,de;q=0.7",
}


def bundle_with_100_rules():
    conditions = realistic_conditions()
    config = {
        "signals": {"pages": [{"pattern": r"^/products/(?P<category>[a-z]+)/(?P<product>[a-z0-9-]+)", "stage": "product"},
                              {"pattern": r"^/cart/", "stage": "cart"}]},
        "slots": {slot: {"fallback": f"{slot}-default"} for slot in SLOTS},
        "fragments": {
            **{f"{slot}-default": {"html": f"<p>{slot} default</p>"} for slot in SLOTS},
            "offer": {"html": '<div class="offer">Hello {city}: {params.discount} off, cart {cart.value:.2f}</div>'},
            "plain": {"html": "<p>Plain block</p>"},
        },
        "rules": [
            {"id": f"rule-{i:03d}", "slot": SLOTS[i % len(SLOTS)], "fragment": "offer" if i % 3 == 0 else "plain",
             "priority": i % 7, "when": condition, "params": {"discount": f"{i % 20} %"},
             **({"group": f"chain-{i % 5}"} if i % 2 else {}), **({"cap": {"session": 5}} if i % 4 == 0 else {}),
             **({"holdout": 10} if i % 10 == 0 else {})}
            for i, condition in enumerate(conditions[:100])
        ],
    }
    return compile_bundle(config, source="bench")


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    bundle = bundle_with_100_rules()
    assert len(bundle.rules) == 100, bundle.problems
    returning = Session("bench-visitor-00000001", int(NOW) - 600, int(NOW) - 40, pages=4, visits=2,
                        categories=("cameras",), products=("pro-x200",), cart_value=180.0, cart_items=1)
    cookie_header = "other=1; pz=" + dump(returning, KEYS)
    url = "https://shop.example/products/cameras/pro-x200?utm_source=google&utm_medium=cpc&gclid=abc"
    cf = {"country": "US", "region": "California", "city": "San Francisco", "timezone": "America/Los_Angeles"}

    def one_request() -> str:
        data = RequestData(url=url, headers={**HEADERS, "cookie": cookie_header}, cf=cf, now=NOW,
                           local_hour=14, local_weekday=2)
        context = RequestContext(data)
        previous = returning_session(data.headers["cookie"], KEYS, data.now)
        session = page_view(previous, bundle.signals, context, data.now, os.urandom)
        decision = decide(bundle, context, session, None, now=data.now,
                          logged_in=logged_in(data.headers["cookie"], bundle.login_cookie))
        return set_cookie_header(dump(decision.session, KEYS))

    for _ in range(200):
        one_request()
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        one_request()
        timings.append((time.perf_counter() - start) * 1e6)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"full decision, 100 rules, {requests} requests on CPython {sys.version.split()[0]}: "
          f"median {statistics.median(timings):.1f} us, p99 {p99:.1f} us")


if __name__ == "__main__":
    main()
