"""One side of a charger's path (the charger's connection, or an upstream) once it is open.

An asyncio Protocol that frames by hand (wire.py): a message goes to `on_message(opcode,
payload)`; pings are answered with pongs on the same hop; a close frame is answered with the same
code on the same hop and reported once with `on_closed(code, reason)` (code None: the TCP
connection ended without a close frame, RFC 6455's 1006). `close(code)` starts our own closing
handshake and drops the TCP connection if the peer does not answer in CLOSE_TIMEOUT_S.

Backpressure: when this hop's send buffer is full, the hop paired with it (`partner`) stops
reading until it drains, so a slow charger cannot make the edge buffer a fast backend's frames.
The edge sends no pings of its own: TCP keepalive (set on every socket) finds dead peers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from envctl.edge.wire import (
    CLOSE,
    PING,
    PONG,
    FrameError,
    FrameReader,
    close_payload,
    encode,
    parse_close,
)

CLOSE_TIMEOUT_S = 5.0
WRITE_HIGH = 256 * 1024


def keepalive(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def _ignore_message(opcode: int, payload: bytes) -> None:
    pass


def _ignore_closed(code: int | None, reason: str) -> None:
    pass


class Hop(asyncio.Protocol):
    """Subclasses run the handshake, then call `open_data_path(leftover)`."""

    is_client = False  # a client masks what it sends and expects unmasked frames

    def __init__(self, max_size: int) -> None:
        self.transport: Any = None
        self.max_size = max_size
        self.reader: FrameReader | None = None  # None until the handshake is done
        self.on_message: Callable[[int, bytes], None] = _ignore_message
        self.on_closed: Callable[[int | None, str], None] = _ignore_closed
        self.partner: Hop | None = None
        self.closing = False  # our close frame is sent
        self.closed = False  # reported through on_closed
        self.close_code: int | None = None
        self._pending: list[tuple[int, bytes]] | None = []  # messages before someone listens

    # -- asyncio ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH)  # type: ignore[attr-defined]
        keepalive(transport)

    def data_received(self, data: bytes) -> None:
        if self.reader is None:
            self.handshake_data(data)
            return
        try:
            for opcode, payload in self.reader.feed(data):
                if opcode < 0x8:
                    if self._pending is not None:
                        self._pending.append((opcode, payload))
                    else:
                        self.on_message(opcode, payload)
                elif opcode == PING:
                    self._write(encode(PONG, payload, mask=self.is_client))
                elif opcode == CLOSE:
                    self._peer_closed(*parse_close(payload))
                    return
        except FrameError as exc:
            self.close(exc.code, exc.reason)
            self._report(exc.code, exc.reason)

    def connection_lost(self, exc: Exception | None) -> None:
        self._report(self.close_code, "")

    def pause_writing(self) -> None:
        if self.partner is not None and self.partner.transport is not None:
            self.partner.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.partner is not None and self.partner.transport is not None:
            self.partner.transport.resume_reading()

    # -- the data path ---------------------------------------------------------------------------
    def handshake_data(self, data: bytes) -> None:
        raise NotImplementedError

    def open_data_path(self, leftover: bytes = b"") -> None:
        self.reader = FrameReader(masked=not self.is_client, max_size=self.max_size)
        if leftover:
            self.data_received(leftover)

    def listen(self, on_message: Callable[[int, bytes], None], on_closed: Callable[[int | None, str], None]) -> None:
        """Start delivering messages (those that came before are delivered now, in order)."""
        self.on_message, self.on_closed = on_message, on_closed
        pending, self._pending = self._pending or [], None
        for opcode, payload in pending:
            on_message(opcode, payload)
        if self.closed:
            on_closed(self.close_code, "")

    def send(self, opcode: int, payload: bytes) -> bool:
        """Write one message; False when this hop is closing or closed (nothing was written)."""
        if self.closing or self.closed or self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(encode(opcode, payload, mask=self.is_client))
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Our closing handshake: send the close frame; drop TCP if the peer does not answer."""
        if self.closing or self.transport is None or self.transport.is_closing():
            return
        self.closing = True
        self.close_code = code
        self.transport.write(encode(CLOSE, close_payload(code, reason), mask=self.is_client))
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self._abort)

    def _peer_closed(self, code: int | None, reason: str) -> None:
        if not self.closing:  # echo the peer's code (RFC 6455 §5.5.1), then end TCP
            self.closing = True
            echo = close_payload(code) if code is not None else b""
            self.transport.write(encode(CLOSE, echo, mask=self.is_client))
        self.transport.close()
        self._report(code, reason)

    def _report(self, code: int | None, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self._pending is None:
            self.on_closed(code, reason)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # a no-op on a transport that is already gone
