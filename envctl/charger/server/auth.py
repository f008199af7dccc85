"""OCPP security profiles 1 and 2: HTTP Basic auth per charger, optionally over TLS.

Passwords are stored as "pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>". PBKDF2 is slow on
purpose, which is exactly wrong for a reconnect storm (every charger of a replica reconnecting
within seconds of a release). So a successful verification is remembered in memory as
sha256(password) per charger: a reconnect with the same password costs one sha256 instead of
100k PBKDF2 rounds; a wrong password still pays the full price. First-time verifications run in a
worker thread so they never stall the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import ssl
from pathlib import Path

DEFAULT_ITERATIONS = 100_000


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
        return hmac.compare_digest(digest, bytes.fromhex(expected))
    except (ValueError, TypeError):
        return False


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class BasicAuth:
    def __init__(self, credentials: dict[str, str]) -> None:
        self.credentials = credentials
        self._verified: dict[str, bytes] = {}  # charger id -> sha256(password) last verified
        self.pbkdf2_runs = 0  # how many full verifications ran (tests check the cache works)

    async def check(self, charger_id: str, header: str | None) -> bool:
        """True when the Authorization header carries this charger's id and its password."""
        parsed = parse_basic(header)
        if parsed is None:
            return False
        user, password = parsed
        encoded = self.credentials.get(charger_id)
        if user != charger_id or encoded is None:
            return False
        quick = hashlib.sha256(encoded.encode() + b"\0" + password.encode()).digest()
        known = self._verified.get(charger_id)
        if known is not None and hmac.compare_digest(known, quick):
            return True
        self.pbkdf2_runs += 1
        ok = await asyncio.to_thread(verify_password, password, encoded)
        if ok:
            self._verified[charger_id] = quick
        return ok


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
