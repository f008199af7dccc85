"""A simulated charger's outbound CALLs, one at a time (1.6 section 4.1.1).

Order: BootNotification first, then the "outbox" (status, heartbeat, authorize: dropped while
offline), then the transaction queue (kept while offline, see txqueue.py). The pump is a task only
while something is waiting to go out; a due-later message arms a timer instead of a task.
A mixin of ChargePoint, which owns every slot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from envctl.charger.protocol.errors import CallErrorReceived, CallTimeout, OcppError
from envctl.charger.protocol.frames import Call
from envctl.charger.protocol.schemas import validate_request, validate_response
from envctl.charger.simulator.txqueue import TxMessage

OnResult = Callable[[dict[str, Any] | None], None] | None


class ConnectionLost(Exception):
    """The connection closed while a CALL was outstanding."""


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(CallTimeout())


class CallPump:
    """Queue outbound CALLs and send them one at a time, matching each answer to its CALL."""

    __slots__ = ()

    def kick(self) -> None:
        if self.pump_task is None and self.ws is not None:
            self.pump_task = asyncio.get_running_loop().create_task(self._pump())

    def _wake(self) -> None:
        self.wake_timer = None
        self.kick()

    def _wake_in(self, delay: float) -> None:
        if self.wake_timer is None:
            self.wake_timer = asyncio.get_running_loop().call_later(delay, self._wake)

    async def _pump(self) -> None:
        # A closed connection raises from send() without ever yielding to the event loop, so the
        # pump must stop at the first ConnectionLost: looping on would starve the reader that is
        # about to notice the close (and, with it, every other charger of this worker).
        try:
            while self.ws is not None:
                if not self.booted:
                    if not self.boot_due:
                        return
                    self.boot_due = False
                    await self._boot()
                elif self.outbox:
                    action, payload, on_result = self.outbox.popleft()
                    try:
                        resp: dict[str, Any] | None = await self._call(action, payload)
                    except ConnectionLost:
                        if on_result is not None:
                            on_result(None)
                        return
                    except (CallErrorReceived, CallTimeout, OcppError):
                        resp = None
                    if on_result is not None:
                        on_result(resp)
                else:
                    msg = self.txq.head() if self.txq is not None else None
                    if msg is None:
                        return
                    wait = msg.not_before - time.monotonic()
                    if wait > 0:
                        self._wake_in(wait)
                        return
                    if not await self._send_tx(msg):
                        return
        except ConnectionLost:
            return
        finally:
            self.pump_task = None

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        if ws is None:
            raise ConnectionLost()
        ctx, st = self.ctx, self.ctx.stats
        validate_request(action, payload)
        loop = asyncio.get_running_loop()
        uid = ctx.ids()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending_uid, self.pending_fut = uid, fut
        timer = loop.call_later(ctx.cfg.call_timeout, _expire, fut)
        st.calls_total += 1
        t0 = time.perf_counter()
        try:
            try:
                await ws.send(Call(uid, action, payload).encode())
            except ConnectionClosed:
                if fut.done() and not fut.cancelled():
                    # _lost() failed it while send() waited for the close: mark it seen, or asyncio
                    # logs "exception was never retrieved" for every charger of a restart.
                    fut.exception()
                raise ConnectionLost() from None
            resp = await fut
        except CallTimeout:
            st.call_timeouts_total += 1
            raise
        finally:
            timer.cancel()
            if self.pending_fut is fut:
                self.pending_uid = self.pending_fut = None
        st.call_latency_ms.add((time.perf_counter() - t0) * 1000)
        validate_response(action, resp)
        return resp

    def send_later(self, action: str, payload: dict[str, Any], on_result: OnResult = None) -> None:
        """A non-transaction message: sent when online and booted, dropped otherwise."""
        if not self.booted:
            if on_result is not None:
                on_result(None)
            return
        if self.outbox is None:
            self.outbox = deque()
        self.outbox.append((action, payload, on_result))
        self.kick()

    async def _send_tx(self, msg: TxMessage) -> bool:
        """Send one transaction message; False when the connection is gone (the pump must stop)."""
        txq = self.txq
        assert txq is not None
        payload = msg.payload()
        if payload is None:
            txq.drop(msg, "start not acknowledged")
            return True
        txq.mark_sent(msg)
        try:
            resp = await self._call(msg.action, payload)
        except ConnectionLost:
            txq.interrupted(msg)
            return False
        except CallErrorReceived as err:
            error = f"CALLERROR {err.code}: {err.description}"
        except CallTimeout:
            error = "timeout"
        except OcppError as err:
            error = f"invalid response: {err.description}"
        else:
            txq.acknowledged(msg, resp)
            if msg.kind == "start":
                self._start_answered(msg.session, resp)
            return True
        txq.failed(
            msg,
            error,
            self.config_int("TransactionMessageAttempts") or 1,
            self.config_seconds("TransactionMessageRetryInterval", self.ctx.cfg.tx_retry_interval),
            time.monotonic(),
        )
        return True
