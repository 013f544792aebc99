"""The visitor behind a request: whether they may be recognised, their edge session (from the
signed cookie) and where their profile lives.

Recognition is decided here and nowhere else: the page, the events endpoint and the profile read
all ask a `Visitor`. Recognising means a visitor id in the session cookie, a profile read from KV
and impressions counted. Without SESSION_KEYS nobody is; a crawler or a `Sec-GPC: 1` request never
is; otherwise the bundle's `[consent]` decides (intentedge/consent.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from intentedge.consent import ConsentPolicy, may_recognise
from intentedge.contract import keys, schema
from intentedge.context import RequestContext
from intentedge.profile import Profile, profile_from_payload
from intentedge.session import Session, SessionKeys, advance, cookie_value, load, new_session, session_cookie
from intentedge.signals import Signals


@dataclass(frozen=True)
class Visitor:
    """Who sent a request, as far as the request itself tells: known before any KV read, so the
    profile read can start while the origin works."""

    cookie: str                     # the request's Cookie header ("" without one)
    keys: SessionKeys | None        # SESSION_KEYS: None means nobody is recognised
    crawler: bool                   # never recognised, whatever the config says
    gpc: bool                       # Sec-GPC: never recognised, and a cookie they hold is deleted
    previous: Session | None        # the genuine, current session in the cookie, if it may be used

    def recognised(self, consent: ConsentPolicy) -> bool:
        """May this visitor get a visitor id, a profile read and a session cookie."""
        return (self.keys is not None and not self.crawler
                and may_recognise(consent, self.cookie, gpc=self.gpc))

    def forgotten(self, consent: ConsentPolicy) -> bool:
        """Not recognised (consent withdrawn, Sec-GPC) but still holding a session cookie: it is deleted."""
        return (self.keys is not None and not self.crawler and not self.recognised(consent)
                and session_cookie(self.cookie) is not None)

    def logged_in(self, login_cookie: str | None) -> bool:
        return logged_in(self.cookie, login_cookie)

    def profile_key(self, salt: str | None) -> str | None:
        """Where the profile of a returning visitor lives (None for a new one, or without a salt)."""
        if self.previous is None or not salt:
            return None
        return profile_key(self.previous, salt.encode())


def visitor_of(context: RequestContext, session_keys: SessionKeys | None) -> Visitor:
    cookie = context.data.headers.get("cookie", "")
    crawler, gpc = context.is_bot, context.gpc
    usable = session_keys is not None and not crawler and not gpc
    previous = returning_session(cookie, session_keys, context.data.now) if usable else None
    return Visitor(cookie, session_keys, crawler, gpc, previous)


def returning_session(cookie_header: str, session_keys: SessionKeys, now: float) -> Session | None:
    """The session in the request's cookie, if it is genuine and current."""
    return load(session_cookie(cookie_header), session_keys, now)


def page_view(previous: Session | None, signals: Signals, context: RequestContext, now: float,
              random_bytes: Callable[[int], bytes]) -> Session:
    """The session after this page view: a new visitor if there was none."""
    session = previous if previous is not None else new_session(now, random_bytes)
    return signals.observe(advance(session, now), context)


def logged_in(cookie_header: str, login_cookie: str | None) -> bool:
    return bool(login_cookie) and bool(cookie_value(cookie_header, login_cookie))


def profile_key(session: Session, salt: bytes) -> str:
    return keys.profile_key(session.visitor_id, salt)


def profile_from_bytes(data: bytes) -> Profile:
    return profile_from_payload(schema.decode(schema.PROFILE, data).payload)
