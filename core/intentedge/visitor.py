"""The visitor behind a request: their edge session (from the signed cookie) and where their profile lives."""

from __future__ import annotations

from typing import Callable

from intentedge.contract import keys, schema
from intentedge.context import RequestContext
from intentedge.profile import Profile, profile_from_payload
from intentedge.session import Session, SessionKeys, advance, cookie_value, load, new_session
from intentedge.signals import Signals


def returning_session(cookie_header: str, session_keys: SessionKeys, now: float) -> Session | None:
    """The session in the request's cookie, if it is genuine and current."""
    return load(cookie_value(cookie_header), session_keys, now)


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
