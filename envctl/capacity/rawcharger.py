"""A deliberately lean OCPP-J client for load generation (never for correctness: see the simulator).

A Python websockets client costs about as much CPU per message as the server, so on a small
machine it would measure itself. This one speaks just enough RFC 6455: a fixed handshake, masked
text frames built with a constant mask, unmasked small server frames parsed in place. One CALL
outstanding at a time, as an OCPP charger would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def source_address(i: int) -> str:
    """127.0.0.2 .. 127.0.0.250, then 127.0.1.x, ...: many source addresses for many connections,
    so tens of thousands of them do not exhaust one address's ephemeral ports (loopback only)."""
    n = i % (250 * 250)
    return f"127.0.{n // 249}.{n % 249 + 2}"


class RawCharger:
    MASK = b"\x12\x34\x56\x78"

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: Any = None
        self.buf = bytearray()
        self.upgraded: asyncio.Future[None] = self.loop.create_future()
        self.waiter: asyncio.Future[bytes] | None = None
        self.on_answer: Callable[[bytes | None], None] | None = None  # send()'s callback
        self.closed = False

    @classmethod
    def frame(cls, text: str | bytes) -> bytes:
        payload = text.encode() if isinstance(text, str) else text
        n = len(payload)
        head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        mask = cls.MASK * (n // 4 + 1)
        return head + cls.MASK + bytes(b ^ m for b, m in zip(payload, mask))

    @classmethod
    async def connect(cls, host: str, port: int, path: str, source: str | None = None) -> RawCharger:
        self = cls()
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: _RawProtocol(self), host, port, local_addr=(source, 0) if source else None)
        self.transport.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )
        await self.upgraded
        return self

    async def call(self, frame: bytes) -> bytes:
        if self.closed:
            raise ConnectionError("connection lost")
        self.waiter = self.loop.create_future()
        self.transport.write(frame)
        return await self.waiter

    def send(self, frame: bytes, on_answer: Callable[[bytes | None], None]) -> None:
        """A CALL without a task or future: `on_answer(payload)` on the answer, `on_answer(None)`
        if the connection is lost first. Cheap enough to offer tens of thousands per second."""
        self.on_answer = on_answer
        self.transport.write(frame)

    def _answer(self, payload: bytes | None) -> None:
        callback, self.on_answer = self.on_answer, None
        if callback is not None:
            callback(payload)

    def feed(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:12])
            del self.buf[: end + 4]
            if b" 101" not in status:
                self.upgraded.set_exception(ConnectionError(f"handshake refused: {status!r}"))
                return
            self.upgraded.set_result(None)
        while len(self.buf) >= 2:
            n = self.buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, off = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, off = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < off + n:
                return
            opcode = self.buf[0] & 0x0F
            payload = bytes(self.buf[off : off + n])
            del self.buf[: off + n]
            if opcode == 0x8:  # close
                self.closed = True
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_exception(ConnectionError("closed by server"))
                self._answer(None)
                continue
            if opcode == 0x9:  # ping -> pong
                pong = bytes([0x8A, 0x80 | len(payload)]) + self.MASK
                self.transport.write(pong + bytes(b ^ m for b, m in zip(payload, self.MASK * 32)))
                continue
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(payload)
            self._answer(payload)

    def lost(self) -> None:
        self.closed = True
        self._answer(None)
        for fut in (self.upgraded, self.waiter):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError("connection lost"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            close = bytes([0x88, 0x82]) + self.MASK + bytes(b ^ m for b, m in zip(b"\x03\xe8", self.MASK))
            self.transport.write(close)
            self.transport.close()


class _RawProtocol(asyncio.Protocol):
    def __init__(self, owner: RawCharger) -> None:
        self.owner = owner

    def connection_made(self, transport: Any) -> None:
        self.owner.transport = transport

    def data_received(self, data: bytes) -> None:
        self.owner.feed(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost()
