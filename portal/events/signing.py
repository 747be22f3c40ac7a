"""Signing webhook bodies as the large payment APIs do (Stripe's scheme).

``Giftloop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>``.
Signing the timestamp with the body lets a receiver refuse a replayed old request; comparing in
constant time keeps the secret from leaking through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Giftloop-Signature"
SECRET_PREFIX = "whsec_"
# How old a signed request a receiver should accept, by default.
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The header is missing or malformed, no signature matches, or the request is too old."""


def new_secret() -> str:
    """A fresh signing secret (256 random bits), shown to its owner once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for ``body`` sent now (or at ``timestamp``)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, *, tolerance: int = TOLERANCE_SECONDS, now: int | None = None) -> int:
    """Check a received request as a receiver would; returns its timestamp.

    Raise SignatureError if the header is malformed, no ``v1`` matches, or the timestamp is
    more than ``tolerance`` seconds from ``now``.
    """
    if not header:
        raise SignatureError(f"No {HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("The signature header has no timestamp") from None
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("No signature matches the body")
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("The signed timestamp is too far from now")
    return timestamp
