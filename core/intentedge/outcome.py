"""One page request's outcome: given the request, the visitor, the bundle and the profile, what happens.

    visitor = visitor_of(context, keys)               # before any read: who may be recognised
    outcome = page_outcome(context, visitor, bundle, profile, document=..., timings=..., random_bytes=...)

The outcome is everything the Worker does to the origin's page: the fragments for its slots, the
response's header changes (the session cookie to set or forget among them), the beacon with its
signed page token, and the decision's log line. The Worker converts; it decides nothing here. The
coming JSON decision API calls the same function.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Callable, Iterable

from intentedge.caching.pages import CacheStatus, server_timing
from intentedge.context import RequestContext
from intentedge.contract.config import Bundle
from intentedge.decision import Decision, decide
from intentedge.events.beacon import SOURCE as BEACON_SOURCE
from intentedge.events.batch import beacon_tag
from intentedge.events.page_token import MAX_TOKEN_CHARS, page_decision, sign
from intentedge.logs import log_line
from intentedge.preview import TOKEN_PARAM, TRACE_HEADER, Preview, requested_preview, trace_header
from intentedge.profile import Profile
from intentedge.session import SessionKeys, dump, expired_cookie_header, set_cookie_header
from intentedge.visitor import Visitor, page_view

# Headers that describe the origin's body, not the personalized one.
ORIGIN_VALIDATORS = ("etag", "last-modified")
# Headers that let a shared cache store a response whatever its Cache-Control says, beside every
# `*-Cache-Control` (RFC 9213's CDN-Cache-Control, Cloudflare-CDN-Cache-Control, each CDN's own):
# Surrogate-Control (Fastly, Varnish, Akamai), Akamai's Edge-Control, nginx's X-Accel-Expires, and
# Expires (a freshness lifetime for caches that read no Cache-Control).
SHARED_STORAGE_HEADERS = frozenset({"surrogate-control", "edge-control", "x-accel-expires", "expires"})

HeaderChange = tuple[str, str, str]   # (operation: "set" | "append" | "delete", lower-case name, value)


@dataclass
class PageOutcome:
    decision: Decision
    headers: list[HeaderChange]     # applied to the origin's response, in order
    beacon: str | None              # the beacon's script element, for the document's end
    log: str                        # the decision's log line
    problems: list[str]             # log lines of what went wrong but did not stop the page

    @property
    def choices(self) -> list:
        """The fragment for each slot (the decision's)."""
        return self.decision.choices


def page_outcome(context: RequestContext, visitor: Visitor, bundle: Bundle, profile: Profile | None, *,
                 origin_headers: Iterable[str], document: bool, timings: Iterable[tuple[str, CacheStatus, float]],
                 random_bytes: Callable[[int], bytes]) -> PageOutcome:
    """What the Worker does to this HTML page. `profile` is the visitor's as read from KV (ignored
    unless they are recognised); `origin_headers` the names of the origin response's headers;
    `document` says the request is a top-level page (the beacon goes into no iframe or fetched
    HTML); `timings` are the Server-Timing entries of the reads."""
    now = context.data.now
    keys = visitor.keys
    preview = requested_preview(context.query, keys, now=now) if TOKEN_PARAM in context.query else None
    recognised = visitor.recognised(bundle.consent)
    session = page_view(visitor.previous, bundle.signals, context, now, random_bytes) if recognised else None
    decision = decide(bundle, context, session, profile if recognised else None, now=now,
                      logged_in=visitor.logged_in(bundle.login_cookie), preview=preview)
    forget = not recognised and visitor.forgotten(bundle.consent)
    headers = personal_headers(decision, keys, secure=not context.is_local_http, forget=forget, preview=preview,
                               origin_headers=origin_headers)
    headers.append(("set", "server-timing", server_timing(timings)))
    problems: list[str] = []
    beacon = (_beacon(bundle, decision, keys, context.path, now, random_bytes, problems)
              if preview is None and document else None)
    log = log_line("decision", path=context.path, **decision.trace)
    return PageOutcome(decision, headers, beacon, log, problems)


def personal_headers(decision: Decision, keys: SessionKeys | None, *, secure: bool, forget: bool,
                     preview: Preview | None, origin_headers: Iterable[str] = ()) -> list[HeaderChange]:
    """The header changes of a page this visitor's decision touched: one visitor's page must never
    be stored for another (no cache in front of or behind the Worker may keep it, whichever header
    it reads), and the validators of the origin's body do not describe it."""
    headers: list[HeaderChange] = []
    if decision.choices or decision.session is not None or forget or preview is not None:
        headers += [("set", "cache-control", "private, no-store"), ("append", "vary", "Cookie")]
        headers += [("delete", name, "") for name in ORIGIN_VALIDATORS]
        headers += [("delete", name, "") for name in dict.fromkeys(origin_headers) if grants_shared_storage(name)]
    if preview is not None:   # a preview shows the trace and leaves the visitor's session as it was
        headers.append(("set", TRACE_HEADER, trace_header(decision.trace)))
    elif decision.session is not None:
        headers.append(("append", "set-cookie", set_cookie_header(dump(decision.session, keys), secure=secure)))
    elif forget:
        headers.append(("append", "set-cookie", expired_cookie_header(secure=secure)))
    return headers


def grants_shared_storage(name: str) -> bool:
    """Whether a response header (lower-case name) lets some shared cache store the response."""
    return name.endswith("-cache-control") or name in SHARED_STORAGE_HEADERS


def _beacon(bundle: Bundle, decision: Decision, keys: SessionKeys | None, path: str, now: float,
            random_bytes: Callable[[int], bytes], problems: list[str]) -> str | None:
    """The beacon's script element for this page, when the config asks for it and the visitor has a
    session (events are only accepted from one)."""
    if bundle.events is None or not bundle.events.beacon or decision.session is None or keys is None:
        return None
    page = page_decision(decision.choices, decision.trace, decision_id=random_id(9, random_bytes), now=now,
                         path=path)
    token = sign(page, decision.session.visitor_id, keys)
    if len(token) > MAX_TOKEN_CHARS:   # a page of very many slots: its events could not be verified
        problems.append(log_line("beacon_skipped", reason=f"page token of {len(token)} characters", path=path))
        return None
    return beacon_tag(BEACON_SOURCE, token, bundle.events.path)


def random_id(n: int, random_bytes: Callable[[int], bytes]) -> str:
    """An id of `n` random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(random_bytes(n)).rstrip(b"=").decode()
