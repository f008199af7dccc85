"""Webhook signatures: `X-Hub-Signature-256: sha256=HMAC-SHA256(secret, raw body)`.

Verified over the raw bytes, in constant time, before anything parses the body.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True only for a well-formed header carrying the right digest of exactly these bytes."""
    if not secret or not header or not header.startswith(PREFIX):
        return False
    expected = sign(secret, body)
    # compare_digest on bytes: constant time and no failure on non-ASCII input
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))
