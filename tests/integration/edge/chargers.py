"""A charger for the edge's tests: one WebSocket, a reader that records every frame it receives,
answers the backend's CALLs at once (or after `answer_delay`), and hands the answers to its own
CALLs back in order. It notices what a charger would: a close, a frame twice, a frame out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

_ids = itertools.count(1)


class Charger:
    def __init__(self, ws: ClientConnection, cid: str) -> None:
        self.ws, self.cid = ws, cid
        self.sent: list[list[Any]] = []  # every frame this charger sent, in order
        self.received: list[list[Any]] = []  # every frame it received, in order
        self.backend_calls: list[list[Any]] = []
        self.answer_delay = 0.0
        self.closed: ConnectionClosed | None = None
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                self.received.append(frame)
                if frame[0] == 2:
                    self.backend_calls.append(frame)
                    asyncio.create_task(self._answer(frame))
                elif frame[1] in self._waiting:
                    self._waiting.pop(frame[1]).set_result(frame)
        except ConnectionClosed as exc:
            self.closed = exc
        if self.closed is None:
            self.closed = self.ws.protocol.close_exc  # a clean close (1000, 1001) ends `async for` quietly
        for fut in self._waiting.values():
            fut.cancel()

    async def _answer(self, frame: list[Any]) -> None:
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        payload: dict[str, Any] = {"status": "Accepted"}
        if frame[2] == "DataTransfer":
            payload["data"] = frame[3].get("data")
        await self.send([3, frame[1], payload])

    async def send(self, frame: list[Any]) -> None:
        self.sent.append(frame)
        await self.ws.send(orjson.dumps(frame).decode())

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 15) -> list[Any]:
        mid = f"{self.cid}-{next(_ids)}"
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[mid] = fut
        await self.send([2, mid, action, payload])
        return await asyncio.wait_for(fut, timeout)

    def answers(self) -> list[list[Any]]:
        return [f for f in self.received if f[0] in (3, 4)]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def charger(url: str, cid: str, **kwargs: Any) -> AsyncIterator[Charger]:
    kwargs.setdefault("subprotocols", ["ocpp1.6"])
    kwargs.setdefault("compression", None)
    kwargs.setdefault("open_timeout", 10)
    async with connect(url, **kwargs) as ws:
        c = Charger(ws, cid)
        try:
            yield c
        finally:
            c._reader.cancel()


BOOT = {"chargePointVendor": "envctl", "chargePointModel": "edge-test", "firmwareVersion": "1.0"}
