"""HTTP for the Cloudflare client: a transport is a plain function from a Request to a Response.

    response = urllib_transport(Request("GET", url, headers={"Authorization": ...}))

A transport returns a Response for every HTTP answer, whatever its status, and raises
TransportError when no answer came (refused, dropped or timed-out connections, TLS failures).
`urllib_transport` is the real one; tests hand the client a fake (a function that answers
as Cloudflare would), so no test needs a server.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)   # they carry the token
    body: bytes | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


class TransportError(Exception):
    """No HTTP answer came. `retryable` is False where trying again cannot help (a certificate that
    does not verify)."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


Transport = Callable[[Request], Response]


def urllib_transport(request: Request) -> Response:
    """Send `request` with urllib (which follows redirects); any status comes back as a Response."""
    sent = urllib.request.Request(request.url, data=request.body, method=request.method,
                                  headers=dict(request.headers))
    try:
        with urllib.request.urlopen(sent, timeout=request.timeout) as response:
            return Response(response.status, response.read(), dict(response.headers.items()))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, _read_quietly(exc), dict(exc.headers.items()) if exc.headers else {})
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        unverified = isinstance(getattr(exc, "reason", exc), ssl.SSLCertVerificationError)
        raise TransportError(_describe(exc), retryable=not unverified) from None


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    return f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__
