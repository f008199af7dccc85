"""A small, real OCPP 1.6J central system for the simulator's tests: a test peer, not a mock.

It listens on a free loopback port, answers every charger-initiated action the way a central
system must (idempotent StartTransaction: the same key fields give the same transactionId),
validates what it receives against the official schemas, records every message with the
client's address, and lets a test misbehave on purpose: answer the next K CALLs of an action with
a CALLERROR, drop a charger's connection (optionally as soon as a given action arrives, before
answering), refuse new connections, and send central-initiated CALLs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from envctl.charger.protocol.errors import CallErrorReceived, OcppError
from envctl.charger.protocol.frames import Call, CallError, CallResult, MessageIds, parse
from envctl.charger.protocol.schemas import validate_request, validate_response


@dataclass
class Received:
    charger: str
    action: str
    payload: dict[str, Any]
    at: float
    ip: str
    unique_id: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Peer:
    def __init__(self, interval: int = 60, boot_statuses: list[str] | None = None) -> None:
        self.interval = interval
        self.boot_statuses = list(boot_statuses or [])  # consumed one per BootNotification, then Accepted
        self.received: list[Received] = []
        self.invalid: list[tuple[str, str]] = []  # (action, error) of messages that broke the schema
        self.connects: list[tuple[str, float, str]] = []  # (charger, time, client ip)
        self.closes: list[tuple[str, float]] = []
        self.connections: dict[str, ServerConnection] = {}
        self.fail_next: dict[str, int] = {}  # action -> CALLERRORs still to give
        self.drop_on: dict[str, int] = {}  # action -> drops still to do (connection closed, no answer)
        self.refuse = False  # answer new handshakes with HTTP 503
        self.transactions: dict[tuple[Any, ...], int] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = MessageIds("peer")
        self._changed = asyncio.Event()
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def start(self) -> Peer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            ping_interval=None,
            process_request=self._gate,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _gate(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.refuse:
            return Response(503, "Service Unavailable", Headers(), b"refusing\n")
        return None

    # ---- what tests look at -----------------------------------------------------------------

    def messages(self, charger: str | None = None, action: str | None = None) -> list[Received]:
        return [
            m
            for m in self.received
            if (charger is None or m.charger == charger) and (action is None or m.action == action)
        ]

    def actions(self, charger: str) -> list[str]:
        return [m.action for m in self.received if m.charger == charger]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout} s; received: {self.summary()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    def summary(self) -> list[tuple[str, str]]:
        return [(m.charger, m.action) for m in self.received[-40:]]

    # ---- what tests do ------------------------------------------------------------------------

    async def drop(self, charger: str, code: int = 1012) -> None:
        ws = self.connections.get(charger)
        if ws is not None:
            await ws.close(code, "dropped by test")

    async def call(self, charger: str, action: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        ws = self.connections[charger]
        validate_request(action, payload)
        uid = self._ids()
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[uid] = fut
        await ws.send(Call(uid, action, payload).encode())
        try:
            resp = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(uid, None)
        validate_response(action, resp)
        return resp

    async def send_raw(self, charger: str, text: str) -> None:
        await self.connections[charger].send(text)

    async def next_raw_answer(self, charger: str, text: str, timeout: float = 5.0) -> list[Any]:
        """Send a raw frame; return the charger's raw answer (CALLRESULT or CALLERROR) to it."""
        uid = orjson.loads(text)[1]
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending["raw:" + uid] = fut
        await self.send_raw(charger, text)
        try:
            return await asyncio.wait_for(fut, timeout)  # type: ignore[no-any-return]
        finally:
            self._pending.pop("raw:" + uid, None)

    # ---- the central system -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        charger = ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request else "?"
        ip = ws.remote_address[0]
        self.connections[charger] = ws
        self.connects.append((charger, time.monotonic(), ip))
        self._changed.set()
        try:
            async for raw in ws:
                await self._on_frame(ws, charger, ip, raw)
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(charger) is ws:
                del self.connections[charger]
            self.closes.append((charger, time.monotonic()))
            self._changed.set()

    async def _on_frame(self, ws: ServerConnection, charger: str, ip: str, raw: str | bytes) -> None:
        frame = parse(raw)
        if isinstance(frame, (CallResult, CallError)):
            raw_fut = self._pending.get("raw:" + frame.unique_id)
            if raw_fut is not None and not raw_fut.done():
                raw_fut.set_result(orjson.loads(raw))
            fut = self._pending.get(frame.unique_id)
            if fut is not None and not fut.done():
                if isinstance(frame, CallResult):
                    fut.set_result(frame.payload)
                else:
                    fut.set_exception(CallErrorReceived(frame.code, frame.description, frame.details))
            return
        assert isinstance(frame, Call)
        self.received.append(Received(charger, frame.action, frame.payload, time.monotonic(), ip, frame.unique_id))
        self._changed.set()
        if self.drop_on.get(frame.action, 0) > 0:
            self.drop_on[frame.action] -= 1
            if frame.action == "StartTransaction":
                self._answer(charger, frame.payload)  # the server stored it; only the answer is lost
            await ws.close(1012, "dropped by test")
            return
        if self.fail_next.get(frame.action, 0) > 0:
            self.fail_next[frame.action] -= 1
            await ws.send(CallError(frame.unique_id, "InternalError", "failing on purpose").encode())
            return
        try:
            validate_request(frame.action, frame.payload)
        except OcppError as err:
            self.invalid.append((frame.action, err.description))
            await ws.send(CallError.from_exception(frame.unique_id, err).encode())
            return
        await ws.send(CallResult(frame.unique_id, self._answer(charger, frame.payload, frame.action)).encode())

    def _answer(self, charger: str, p: dict[str, Any], action: str = "StartTransaction") -> dict[str, Any]:
        if action == "BootNotification":
            status = self.boot_statuses.pop(0) if self.boot_statuses else "Accepted"
            return {"status": status, "currentTime": _now(), "interval": self.interval}
        if action == "Heartbeat":
            return {"currentTime": _now()}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            key = (charger, p["connectorId"], p["idTag"], p["meterStart"], p["timestamp"])
            tid = self.transactions.setdefault(key, len(self.transactions) + 1)
            return {"transactionId": tid, "idTagInfo": {"status": "Accepted"}}
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "DataTransfer":
            return {"status": "Accepted"}
        return {}  # StatusNotification, MeterValues, Diagnostics/FirmwareStatusNotification


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = await Peer(interval=60).start()
    try:
        yield p
    finally:
        await p.stop()
