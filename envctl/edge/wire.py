"""RFC 6455 framing for the data path, by hand: the edge's per-frame cost is this and nothing more.

The handshakes are websockets' (its Sans-I/O protocols: hop.py, charger_side.py, upstream.py);
once a connection is open the edge reads and writes frames itself, because websockets' asyncio
connection costs ~45 µs of CPU per forwarded frame (its locks, queues and a task wake-up per
message) against the issue's goal of 15 (docs/edge.md has the measurements). Masking uses
websockets' C `apply_mask`.

Frames from a client (the charger) must be masked, frames from a server (the backend) must not;
fragmented messages are reassembled (OCPP messages are small and rarely fragmented, but RFC 6455
allows it), control frames may come between fragments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets ships it compiled on the platforms we run
    from websockets.utils import apply_mask

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PROTOCOL_ERROR, TOO_BIG = 1002, 1009


class FrameError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def encode(opcode: int, payload: bytes, *, mask: bool) -> bytes:
    n = len(payload)
    first = 0x80 | opcode
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes((first, bit | n))
    elif n < 65536:
        head = bytes((first, bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, bit | 127)) + n.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)  # RFC 6455 §5.3: unpredictable per frame
        return head + key + apply_mask(payload, key)
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[:120]


def parse_close(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""  # 1005: no status code
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")


class FrameReader:
    """Bytes in, whole messages and control frames out: (opcode, payload)."""

    __slots__ = ("_frag_op", "_frags", "buf", "masked", "max_size")

    def __init__(self, *, masked: bool, max_size: int) -> None:
        self.buf = bytearray()
        self.masked = masked
        self.max_size = max_size
        self._frag_op = 0
        self._frags: list[bytes] = []

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        buf = self.buf
        buf += data
        while True:
            have = len(buf)
            if have < 2:
                return
            b0, b1 = buf[0], buf[1]
            n = b1 & 0x7F
            off = 2
            if n == 126:
                if have < 4:
                    return
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if have < 10:
                    return
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if b1 & 0x80:
                if not self.masked:
                    raise FrameError(PROTOCOL_ERROR, "a server must not mask its frames")
                key_at, off = off, off + 4
            elif self.masked:
                raise FrameError(PROTOCOL_ERROR, "a client must mask its frames")
            if n > self.max_size:
                raise FrameError(TOO_BIG, f"frame of {n} bytes is over the limit of {self.max_size}")
            if have < off + n:
                return
            payload = bytes(buf[off:off + n])
            if self.masked:
                payload = apply_mask(payload, bytes(buf[key_at:key_at + 4]))
            del buf[:off + n]
            if b0 & 0x70:
                raise FrameError(PROTOCOL_ERROR, "reserved bits set without an extension")
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode >= 0x8:
                yield opcode, payload
            elif opcode == CONT:
                if not self._frag_op:
                    raise FrameError(PROTOCOL_ERROR, "continuation frame without a message")
                self._frags.append(payload)
                if fin:
                    op, whole = self._frag_op, b"".join(self._frags)
                    self._frag_op, self._frags = 0, []
                    if len(whole) > self.max_size:
                        raise FrameError(TOO_BIG, "message over the size limit")
                    yield op, whole
            elif fin:
                yield opcode, payload
            else:
                self._frag_op, self._frags = opcode, [payload]
