"""Whether a visitor may be recognised: without consent, only the request itself personalizes.

Recognising a visitor means an id in the session cookie, a profile read from KV and
impressions counted. A `Sec-GPC: 1` request never is; with `[consent] cookie` set, a
visitor is only when that cookie is present (and, with `value`, holds that value).
"""

from __future__ import annotations

from dataclasses import dataclass

from intentedge.session import cookie_value


@dataclass(frozen=True)
class ConsentPolicy:
    cookie: str | None = None      # None: consent is assumed (Sec-GPC still opts out)
    value: str | None = None       # None: any value of `cookie` counts as consent
    nobody: bool = False           # a broken [consent] table at the edge: fail closed, not open


NOBODY = ConsentPolicy(nobody=True)


def may_recognise(policy: ConsentPolicy, cookie_header: str, *, gpc: bool) -> bool:
    """True if the visitor may get a visitor id, a profile read and a session cookie."""
    if gpc or policy.nobody:
        return False
    if policy.cookie is None:
        return True
    given = cookie_value(cookie_header, policy.cookie)
    return bool(given) and (policy.value is None or given == policy.value)
