"""What a charger id (the charge point identity in /ocpp/{id}) may be: OCPP's identifier string.

OCPP's identifierString is the character set a-z A-Z 0-9 * - _ = : + | @ . and the 1.6 security
whitepaper limits the identity to 48 characters. Anything else is refused at the handshake: ids
are written into logs, metrics, database rows and admin URLs, and `%0A` once forged a log line,
`%00` reached the database and `%FF` decoded to U+FFFD, the same id as every other invalid byte.
The path is percent-decoded strictly (invalid UTF-8 is refused, not replaced) before the check, so
one id has one spelling on the wire up to percent-encoding of its own characters.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MAX_LENGTH = 48
_IDENTITY = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{1,%d}" % MAX_LENGTH)
GRAMMAR = f"1 to {MAX_LENGTH} characters of A-Z a-z 0-9 * - _ = : + | @ ."


def is_valid(charger_id: str) -> bool:
    return _IDENTITY.fullmatch(charger_id) is not None


def from_url_segment(segment: str) -> str | None:
    """The charger id a percent-encoded path segment names, or None when it is not a valid identity."""
    try:
        cid = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return None
    return cid if is_valid(cid) else None


def problem(charger_id: str) -> str | None:
    """What is wrong with a charger id (for an error message), or None when it is valid."""
    if is_valid(charger_id):
        return None
    return f"charger id {charger_id[:60]!r} is not an OCPP charge point identity ({GRAMMAR})"
