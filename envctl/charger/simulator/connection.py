"""A simulated charger's transport: connect, serve one WebSocket, notice its loss, reconnect.

The reader loop is the charger's one long-lived task: it also sleeps between reconnect attempts.
Inbound CALLs go to central.handle (routed by action name) and are answered here; inbound
CALLRESULT/CALLERROR frames settle the one outstanding outbound CALL of the pump (call_pump.py).
A mixin of ChargePoint, which owns every slot; it must stay free of per-message allocations.
"""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from envctl.charger.protocol.errors import CallErrorReceived, ErrorCode, OcppError
from envctl.charger.protocol.frames import (
    Call,
    CallError,
    CallResult,
    FrameError,
    parse,
)
from envctl.charger.simulator import central
from envctl.charger.simulator.call_pump import ConnectionLost

OCPP16 = Subprotocol("ocpp1.6")


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, InvalidStatus):
        return f"http_{exc.response.status_code}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, ConnectionClosed, EOFError)):
        return "reset"
    if isinstance(exc, OSError):
        return f"os_{exc.errno}"
    return type(exc).__name__


class ChargerConnection:
    """Connection lifecycle and the inbound side of the wire."""

    __slots__ = ()

    async def run(self) -> None:
        ctx = self.ctx
        while not ctx.stopping:
            ws = await self._connect()
            if ctx.stopping:
                if ws is not None:
                    await ws.close()
                break
            if ws is None:
                ctx.stats.connect_failures_total += 1
                ctx.stats.failures_per_second.add()
                await asyncio.sleep(self._delay(after_failure=True))
                continue
            await self._serve(ws)
            if ctx.stopping:
                break
            delay = self._delay(after_failure=False)
            if delay > 0:
                await asyncio.sleep(delay)

    def _delay(self, after_failure: bool) -> float:
        cfg = self.ctx.cfg
        if self.resetting:
            self.resetting = False
            return 0.0
        if cfg.reconnect == "immediate":
            # Real firmware reconnects at once after a close and retries a failed attempt on a fixed timer.
            return cfg.backoff_min if after_failure else 0.0
        ceiling = min(cfg.backoff_max, cfg.backoff_min * 2**self.backoff_step)
        self.backoff_step = min(self.backoff_step + 1, 30)
        return self.ctx.rng.uniform(ceiling / 2, ceiling)

    async def _connect(self) -> ClientConnection | None:
        gate = None if self.connected_once else self.ctx.initial_gate
        if gate is None:
            return await self._open()
        async with gate:
            return await self._open()

    async def _open(self) -> ClientConnection | None:
        cfg = self.ctx.cfg
        try:
            ws = await connect(
                f"{cfg.url}/{self.id}",
                subprotocols=[OCPP16],
                compression=None,
                proxy=None,
                additional_headers=self.ctx.auth_header(self.id),
                user_agent_header=None,
                open_timeout=cfg.open_timeout,
                ping_interval=None,  # OCPP heartbeats instead; no keepalive task per connection
                ping_timeout=None,
                close_timeout=2,
                max_size=2**16,
                max_queue=4,
                write_limit=2**14,
                logger=self.ctx.logger,
                local_addr=(self.source, 0) if self.source else None,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused, reset, timed out, HTTP 4xx/5xx: all count as a connect failure
            reasons = self.ctx.stats.failure_reasons
            reason = _failure_reason(exc)
            reasons[reason] = reasons.get(reason, 0) + 1
            return None
        if ws.subprotocol != OCPP16:
            await ws.close(1002, "ocpp1.6 required")
            return None
        return ws

    async def _serve(self, ws: ClientConnection) -> None:
        st = self.ctx.stats
        self.ws = ws
        st.connected += 1
        st.connects_total += 1
        if self.connected_once:
            st.reconnects_total += 1
            st.reconnects_per_second.add()
        else:
            self.connected_once = True
            st.never_connected -= 1
            if st.never_connected == 0:
                st.first_connected_at = time.time()
        self.boot_due = True
        self.kick()
        try:
            async for raw in ws:
                await self._on_message(ws, raw)
        except ConnectionClosed:
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        st = self.ctx.stats
        self.ws = None
        st.connected -= 1
        if self.booted:
            self.booted = False
            st.booted -= 1
        for timer in (self.hb_timer, self.wake_timer):
            if timer is not None:
                timer.cancel()
        self.hb_timer = self.wake_timer = None
        if self.pending_fut is not None and not self.pending_fut.done():
            self.pending_fut.set_exception(ConnectionLost())
        if self.outbox:
            pending, self.outbox = self.outbox, None
            for _, _, on_result in pending:
                if on_result is not None:
                    on_result(None)
        if not self.ctx.stopping:
            st.disconnects_total += 1
            if self.offline_since is None:
                self.offline_since = time.monotonic()
                st.currently_offline += 1

    async def _on_message(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = parse(raw)
        except FrameError as err:
            await ws.send(CallError.from_exception(err.unique_id, err).encode())
            return
        if isinstance(frame, Call):
            self.ctx.stats.central_calls_total += 1
            follow_up = None
            try:
                payload, follow_up = central.handle(self, frame.action, frame.payload)
                out = CallResult(frame.unique_id, payload).encode()
            except OcppError as err:
                out = CallError.from_exception(frame.unique_id, err).encode()
            except Exception as err:  # a bug in a handler must not kill the charger
                out = CallError(frame.unique_id, ErrorCode.INTERNAL_ERROR.value, repr(err)[:200]).encode()
            await ws.send(out)
            if follow_up is not None:
                follow_up()
            return
        fut = self.pending_fut
        if fut is None or fut.done() or frame.unique_id != self.pending_uid:
            return  # a late answer to a CALL that already timed out
        if isinstance(frame, CallResult):
            fut.set_result(frame.payload)
        else:
            self.ctx.stats.callerrors_total += 1
            fut.set_exception(CallErrorReceived(frame.code, frame.description, frame.details))
