"""The charger's connection: websockets' Sans-I/O server for the handshake, then a Hop.

The handshake is answered only after `decide(request)` (the gateway) has opened the charger's
upstream: it returns either a Response to refuse with (the backend's own status, or the edge's
503) or the subprotocol to accept with. Then `on_open(self)` gets the open hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from envctl.edge.hop import Hop

HANDSHAKE_TIMEOUT_S = 10.0

Decision = Response | str | None  # refuse with this / accept with this subprotocol / accept without one


class ChargerHop(Hop):
    def __init__(self, decide: Callable[[ChargerHop, Request], Awaitable[Decision]],
                 on_open: Callable[[ChargerHop], None], max_size: int) -> None:
        super().__init__(max_size)
        self.decide = decide
        self.on_open = on_open
        self.ws = ServerProtocol(select_subprotocol=lambda _protocol, _offered: self._select(), max_size=max_size)
        self._chosen: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.context: Any = None  # the gateway keeps the upstream here between decide and on_open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT_S, self._too_slow)

    def _select(self) -> Subprotocol | None:  # the backend's choice, made before we accept
        return Subprotocol(self._chosen) if self._chosen else None

    def handshake_data(self, data: bytes) -> None:
        if self._task is not None:
            return  # a charger does not send before our 101; anything early is dropped with the handshake
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._task = asyncio.ensure_future(self._handshake(event))
                return
        if self.ws.handshake_exc is not None:  # not HTTP, or not a WebSocket upgrade
            self._respond(self.ws.reject(400, f"not a WebSocket handshake: {self.ws.handshake_exc}\n"))

    async def _handshake(self, request: Request) -> None:
        decision = await self.decide(self, request)
        alive = self.transport is not None and not self.transport.is_closing()
        if isinstance(decision, Response):
            if alive:
                self._respond(decision)
            return
        if not alive:  # the charger left while its backend was asked: on_open sees it closed
            self.on_open(self)
            return
        self._chosen = decision
        response = self.ws.accept(request)
        self._respond(response)
        if response.status_code == 101:
            if self._timer is not None:
                self._timer.cancel()
            self.open_data_path()
            self.on_open(self)

    def _respond(self, response: Response) -> None:
        self.ws.send_response(response)
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
        if response.status_code != 101:
            self.transport.close()

    def _too_slow(self) -> None:
        if self.reader is None and self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    @property
    def handshake_done(self) -> bool:
        return self.reader is not None
