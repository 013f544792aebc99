"""The page token: what the Worker decided for one page, signed, so that the page's events can be
enriched with the decision without the Worker storing anything.

    <key id>.<base64url JSON [version, decision id, issued, path, tier, score, choices]>.<base64url MAC>

The Worker puts it in the beacon's script tag; the beacon sends it back with the page's
events. It is bound to the visitor: the MAC covers the visitor id from the session cookie,
so a token copied into another visitor's requests does not verify. Signed with SESSION_KEYS
under its own MAC context (signing.py: neither a cookie nor a preview token can pass for one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from intentedge.errors import IntentEdgeError
from intentedge.signing import (MALFORMED, MISMATCH, UNKNOWN_KEY, SessionKeys, SignatureError, Signer, b64url_decode,
                                b64url_encode)

MAX_AGE_SECONDS = 24 * 3600     # a tab left open for a day still reports
MAX_TOKEN_CHARS = 4096      # the Worker leaves the beacon out of a page whose token would be longer
CLOCK_SKEW_SECONDS = 300
_VERSION = 1
_SIGNER = Signer(b"intentedge.page.v1\x00")
_FAILURES = {MALFORMED: "not a page token", UNKNOWN_KEY: "signed with an unknown key",
             MISMATCH: "signature does not match this visitor"}


class PageTokenError(IntentEdgeError, ValueError):
    """A page token that does not verify, has expired, or is not one."""


@dataclass(frozen=True)
class SlotChoice:
    slot: str
    rule: str         # a rule id, or "fallback"
    variant: str      # the fragment id, or "control" for a visitor held out of `rule`


@dataclass(frozen=True)
class PageDecision:
    id: str
    issued: int       # epoch seconds
    path: str
    tier: str
    score: float
    choices: tuple[SlotChoice, ...]

    def choice(self, slot: str) -> SlotChoice | None:
        return next((c for c in self.choices if c.slot == slot), None)

    def as_json(self) -> dict:
        return {"id": self.id, "path": self.path, "tier": self.tier, "score": self.score,
                "choices": {c.slot: {"rule": c.rule, "variant": c.variant} for c in self.choices}}


def sign(page: PageDecision, visitor_id: str, keys: SessionKeys) -> str:
    state = [_VERSION, page.id, page.issued, page.path, page.tier, page.score,
             [[c.slot, c.rule, c.variant] for c in page.choices]]
    body = b64url_encode(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())
    return _SIGNER.sign(keys, body, bound=visitor_id)


def verify(token: str, visitor_id: str, keys: SessionKeys, now: float) -> PageDecision:
    """The decision in `token`, or PageTokenError saying why not."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise PageTokenError("not a page token")
    try:
        body = _SIGNER.verify(keys, token, bound=visitor_id)
    except SignatureError as exc:
        raise PageTokenError(_FAILURES[exc.reason]) from None
    page = _unpack(b64url_decode(body))   # signed by us: well-formed unless the format changed
    if page is None:
        raise PageTokenError("unknown page token version")
    if not -CLOCK_SKEW_SECONDS <= now - page.issued <= MAX_AGE_SECONDS:
        raise PageTokenError("expired")
    return page


def _unpack(data: bytes) -> PageDecision | None:
    try:
        version, decision_id, issued, path, tier, score, choices = json.loads(data)
    except (ValueError, TypeError):
        return None
    if version != _VERSION:
        return None
    return PageDecision(decision_id, issued, path, tier, score,
                        tuple(SlotChoice(slot, rule, variant) for slot, rule, variant in choices))


def page_decision(choices, trace: dict, *, decision_id: str, now: float, path: str) -> PageDecision:
    """The page token's content for a decision's choices and trace (decision.py)."""
    return PageDecision(decision_id, int(now), path[:512], trace.get("tier") or "",
                        round(float(trace.get("score") or 0.0), 1),
                        tuple(SlotChoice(c.slot, c.rule_id or "fallback", c.variant) for c in choices))
