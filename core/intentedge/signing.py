"""Signed tokens: the one codec behind the session cookie, the page token and the preview token.

    <key id>.<payload>.<base64url HMAC-SHA256, unpadded>
    MAC = HMAC-SHA256(secret, context + key id + "." [+ bound + "."] + payload)

Each purpose has its own context (b"intentedge.session.v1\\x00", ...), so under the same keys a
token of one purpose never verifies as another. `bound` is a value the verifier already knows and
the token does not carry: the page token binds the visitor id, so it does not verify for anyone
else. The payload is text without "."; what it holds is its module's business (base64url JSON for
the session and the page, the expiry in decimal for a preview).

Keys rotate by id (SessionKeys): the first key signs, every listed key verifies. Never change what
an existing context signs: tokens minted before the change must still verify after it.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass, field

from intentedge.errors import IntentEdgeError
from intentedge.secret import Secret

# SignatureError.reason
MALFORMED = "malformed"          # not <id>.<payload>.<mac>, or a MAC that is not ASCII
UNKNOWN_KEY = "unknown key"      # a key id SESSION_KEYS does not list (retired, or never ours)
MISMATCH = "signature mismatch"  # forged, tampered, another purpose's, or bound to another value


class SessionKeyError(IntentEdgeError, ValueError):
    """The SESSION_KEYS secret is malformed."""


class SignatureError(IntentEdgeError, ValueError):
    """A token that does not verify; `reason` is MALFORMED, UNKNOWN_KEY or MISMATCH."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, repr=False)
class SessionKeys:
    """Signing keys by id (the SESSION_KEYS secret); the first one signs, all of them verify."""

    keys: tuple[tuple[str, Secret], ...]
    _by_id: dict[str, Secret] = field(init=False, compare=False)

    def __post_init__(self):
        by_id: dict[str, Secret] = {}
        for kid, secret in self.keys:
            by_id.setdefault(kid, secret)   # a repeated id: the first one, as a search in order finds
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def parse(cls, spec: str) -> "SessionKeys":
        """`"k2:<secret>,k1:<older secret>"`; each secret at least 32 characters."""
        keys = []
        for item in (spec or "").split(","):
            kid, sep, secret = item.strip().partition(":")
            if not sep or not kid or not kid.isalnum() or len(kid) > 8:
                raise SessionKeyError("SESSION_KEYS must be 'id:secret[,id:secret...]' with ids of 1-8 letters or digits")
            if len(secret) < 32:
                raise SessionKeyError(f"SESSION_KEYS: the secret of key {kid!r} is shorter than 32 characters")
            keys.append((kid, Secret(secret.encode())))
        return cls(tuple(keys))

    def __repr__(self) -> str:
        return f"SessionKeys(ids={[kid for kid, _ in self.keys]})"

    @property
    def signing(self) -> tuple[str, Secret]:
        return self.keys[0]

    def get(self, kid: str) -> Secret | None:
        return self._by_id.get(kid)


@dataclass(frozen=True)
class Signer:
    """Signs and verifies the tokens of one purpose, named by its MAC context."""

    context: bytes

    def sign(self, keys: SessionKeys, payload: str, bound: str | None = None) -> str:
        kid, secret = keys.signing
        signed = f"{kid}.{payload}"
        mac = self.mac(secret, signed if bound is None else f"{kid}.{bound}.{payload}")
        return f"{signed}.{b64url_encode(mac)}"

    def verify(self, keys: SessionKeys, token: str, bound: str | None = None) -> str:
        """The payload of `token`, or SignatureError saying why not."""
        signed, _, mac = token.rpartition(".")
        kid, dot, payload = signed.partition(".")
        # isascii: compare_digest() raises on a non-ASCII str
        if not dot or "." in payload or not mac.isascii():
            raise SignatureError(MALFORMED)
        secret = keys.get(kid)
        if secret is None:
            raise SignatureError(UNKNOWN_KEY)
        try:
            expected = self.mac(secret, signed if bound is None else f"{kid}.{bound}.{payload}")
        except UnicodeEncodeError:   # a lone surrogate, which JSON's "\ud800" escape can carry
            raise SignatureError(MALFORMED) from None
        # the MAC as its one canonical spelling: padding or stray characters do not pass
        if not hmac.compare_digest(mac, b64url_encode(expected)):
            raise SignatureError(MISMATCH)
        return payload

    def mac(self, secret: Secret, message: str) -> bytes:
        """HMAC-SHA256 of context + `message` (the key id, the bound value and the payload, joined by ".")."""
        return hmac.digest(secret.reveal(), self.context + message.encode(), "sha256")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The inverse of b64url_encode (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
