"""One charger's WebSocket connection: the receive loop and the central system's outbound CALLs.

Incoming CALLs are handled one after another (OCPP 1.6 lets a charger have one CALL outstanding),
inline in the receive loop: no task per message. A CALL whose write the store refuses because a
newer connection of this charger holds it (Superseded) gets no answer: this connection is closed,
and the charger sends the message again on the connection it uses now. Outbound CALLs go one at a time under a lock, as
the spec requires; their answers arrive through the same receive loop and are matched by message
id. An answer with an id we never sent (or already gave up on) is logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from envctl.charger.protocol.errors import CallErrorReceived, CallTimeout, OcppError
from envctl.charger.protocol.frames import Call, CallError, CallResult, FrameError, MessageIds, parse
from envctl.charger.protocol.schemas import validate_request, validate_response
from envctl.charger.store.base import Claim, Superseded

from envctl.charger.server.metrics import INVALID_FRAME

if TYPE_CHECKING:
    from envctl.charger.server.metrics import Metrics
    from envctl.charger.server.registry import ChargerState
    from envctl.charger.server.router import Router

log = logging.getLogger(__name__)

SUPERSEDED_CODE = 1000  # a normal close: the charger is already on its newer connection


class ChargerGone(Exception):
    """The charger disconnected before answering our CALL."""


class ChargerConnection:
    __slots__ = ("ws", "charger_id", "state", "router", "metrics", "ids", "connected_at", "closing", "claim",
                 "superseded",
                 "_lock", "_pending")

    def __init__(
        self,
        ws: ServerConnection,
        charger_id: str,
        state: ChargerState,
        router: Router,
        metrics: Metrics,
        ids: MessageIds | None = None,
    ) -> None:
        self.ws = ws
        self.charger_id = charger_id
        self.state = state
        self.router = router
        self.metrics = metrics
        self.ids = ids or MessageIds()
        self.connected_at = time.time()
        self.closing = False
        self.claim: Claim | None = None  # this connection's ownership claim (set when it is registered)
        self.superseded = False  # a newer connection of this charger holds it: handle nothing more
        self._lock = asyncio.Lock()
        self._pending: dict[str, tuple[str, asyncio.Future[CallResult | CallError]]] = {}

    # -- inbound -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve frames until the connection closes."""
        try:
            async for raw in self.ws:
                if self.superseded:  # its messages would be refused anyway; the close is under way
                    continue
                await self._on_frame(raw)
                # Frames already read off the socket are handed over without a pause: one client
                # pipelining thousands of CALLs would hold the event loop for hundreds of
                # milliseconds and every other charger's Heartbeat with it. Let them in between.
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            for _, fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ChargerGone(f"charger {self.charger_id} disconnected"))

    async def _on_frame(self, raw: str | bytes) -> None:
        started = time.perf_counter()
        try:
            frame = parse(raw)
        except FrameError as exc:
            self.metrics.callerror(exc.code.value)
            self.metrics.message(INVALID_FRAME, time.perf_counter() - started)
            await self.ws.send(CallError(exc.unique_id, exc.code.value, exc.description).encode())
            return
        if type(frame) is Call:
            try:
                answer = await self.router.dispatch(self, frame)
            except Superseded:
                self.metrics.superseded_writes += 1
                await self.supersede()
                return
            if type(answer) is CallError:
                self.metrics.callerror(answer.code)
            self.metrics.message(frame.action, time.perf_counter() - started)
            await self.ws.send(answer.encode())
            return
        pending = self._pending.get(frame.unique_id)
        if pending is None:
            log.warning("charger %s answered unknown message id %r; ignored", self.charger_id, frame.unique_id)
            return
        fut = pending[1]
        if not fut.done():
            fut.set_result(frame)  # type: ignore[arg-type]

    # -- outbound ------------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a CALL and return the charger's answer payload.

        Raises OcppError (our request is invalid), CallErrorReceived (the charger answered with a
        CALLERROR or an answer that breaks the schema), CallTimeout, ChargerGone.
        """
        validate_request(action, payload)
        try:
            async with asyncio.timeout(timeout):
                async with self._lock:
                    unique_id = self.ids()
                    fut: asyncio.Future[CallResult | CallError] = asyncio.get_running_loop().create_future()
                    self._pending[unique_id] = (action, fut)
                    try:
                        try:
                            await self.ws.send(Call(unique_id, action, payload).encode())
                        except ConnectionClosed:
                            raise ChargerGone(f"charger {self.charger_id} disconnected") from None
                        answer = await fut
                    finally:
                        self._pending.pop(unique_id, None)
        except TimeoutError:
            raise CallTimeout(f"charger {self.charger_id} did not answer {action} within {timeout:g}s") from None
        if type(answer) is CallError:
            raise CallErrorReceived(answer.code, answer.description, answer.details)
        try:
            validate_response(action, answer.payload)
        except OcppError as exc:
            raise CallErrorReceived(exc.code.value, f"charger's answer is invalid: {exc.description}", exc.details) from None
        return answer.payload

    async def supersede(self) -> None:
        self.superseded = True
        await self.close(SUPERSEDED_CODE, "superseded by a newer connection of this charger")

    async def close(self, code: int, reason: str) -> None:
        self.closing = True
        try:
            await self.ws.close(code, reason)
        except Exception:  # already gone: nothing to close
            log.debug("close of %s failed", self.charger_id, exc_info=True)

