"""Read an OCPP-J frame's message type and unique id without parsing the rest of it.

OCPP-J (1.6 and 2.0.1 alike) frames are JSON arrays: `[2, id, action, payload]` CALL,
`[3, id, payload]` CALLRESULT, `[4, id, code, description, details]` CALLERROR (2.1 adds
`[5, ...]` CALLRESULTERROR and `[6, ...]` SEND, which the edge forwards like any other frame).
The edge needs only the first two elements, to know which CALL is outstanding in each
direction. A byte scan costs well under a microsecond; json.loads of a whole frame costs
1.6-6 µs (measured in the prototype, see docs/edge.md). A frame the scan cannot read (escapes in
the id, not an array) falls back to json; a frame json cannot read either is UNKNOWN and is
forwarded untouched: the edge passes frames, it does not judge them.
"""

from __future__ import annotations

import json

CALL = 2
CALLRESULT = 3
CALLERROR = 4
CALLRESULTERROR = 5  # OCPP 2.1
UNKNOWN = 0

_WS = b" \t\r\n"
_ANSWERS = (CALLRESULT, CALLERROR, CALLRESULTERROR)


def is_answer(kind: int) -> bool:
    return kind in _ANSWERS


def scan(frame: bytes) -> tuple[int, str | None]:
    """(message type, unique id) of an OCPP-J frame; (UNKNOWN, None) when it is not one."""
    n = len(frame)
    i = 0
    while i < n and frame[i] in _WS:
        i += 1
    if i >= n or frame[i] != 0x5B:  # '['
        return UNKNOWN, None
    i += 1
    while i < n and frame[i] in _WS:
        i += 1
    if i >= n or not 0x30 <= frame[i] <= 0x39:
        return UNKNOWN, None
    kind = frame[i] - 0x30
    i += 1
    if i < n and 0x30 <= frame[i] <= 0x39:  # a two-digit type is not OCPP-J
        return UNKNOWN, None
    while i < n and frame[i] in _WS:
        i += 1
    if i >= n or frame[i] != 0x2C:  # ','
        return UNKNOWN, None
    i += 1
    while i < n and frame[i] in _WS:
        i += 1
    if i >= n or frame[i] != 0x22:  # '"'
        return UNKNOWN, None
    end = frame.find(b'"', i + 1)
    if end < 0:
        return UNKNOWN, None
    if frame.find(b"\\", i + 1, end) >= 0:  # an escaped id: let json unescape it
        return _slow(frame)
    try:
        return kind, frame[i + 1:end].decode()
    except UnicodeDecodeError:
        return UNKNOWN, None


def _slow(frame: bytes) -> tuple[int, str | None]:
    try:
        msg = json.loads(frame)
    except ValueError:
        return UNKNOWN, None
    if isinstance(msg, list) and len(msg) >= 2 and isinstance(msg[0], int) and isinstance(msg[1], str):
        return msg[0], msg[1]
    return UNKNOWN, None
