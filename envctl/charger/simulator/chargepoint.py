"""One simulated OCPP 1.6J charge point: connect, boot, report, charge, answer, reconnect.

Kept cheap because a worker runs ~15,000 of them: slotted state, one task per charger (the
connection's reader, which also sleeps between reconnect attempts), a sender task only while
something is waiting to go out, and timers via loop.call_later. Outbound CALLs go one at a time
(1.6 section 4.1.1): boot first, then status/heartbeat/authorize (the "outbox", dropped while
offline), then the transaction queue (kept while offline, see txqueue.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from envctl.charger.protocol.errors import CallErrorReceived, CallTimeout, ErrorCode, OcppError
from envctl.charger.protocol.frames import Call, CallError, CallResult, FrameError, parse
from envctl.charger.protocol.schemas import validate_request, validate_response
from envctl.charger.simulator import central, management
from envctl.charger.simulator.context import Context
from envctl.charger.simulator.management import Management
from envctl.charger.simulator.txqueue import Session, TxMessage, TxQueue

OCPP16 = Subprotocol("ocpp1.6")
WH_PER_SECOND = 11_000 / 3600  # an 11 kW session
_RESERVED = "reserved"  # a connector promised to an authorizing or remotely started session
_background: set[asyncio.Task[Any]] = set()

OnResult = Callable[[dict[str, Any] | None], None] | None


class ConnectionLost(Exception):
    """The connection closed while a CALL was outstanding."""


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


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


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(CallTimeout())


class ChargePoint:
    __slots__ = (
        "ctx", "id", "source", "ws", "booted", "boot_due", "hb_interval", "hb_timer", "wake_timer",
        "arrival_timer", "connectors", "txq", "outbox", "pump_task", "pending_uid", "pending_fut",
        "overrides", "offline_since", "connected_once", "backoff_step", "seq", "meter_wh", "resetting", "mgmt",
    )  # fmt: skip

    def __init__(self, ctx: Context, charger_id: str, source: str | None = None) -> None:
        self.ctx = ctx
        self.id = charger_id
        self.source = source
        self.ws: ClientConnection | None = None
        self.booted = False
        self.boot_due = False
        self.hb_interval = float(ctx.cfg.heartbeat_interval or 0)
        self.hb_timer: asyncio.TimerHandle | None = None
        self.wake_timer: asyncio.TimerHandle | None = None
        self.arrival_timer: asyncio.TimerHandle | None = None
        self.connectors: list[Session | str | None] = [None] * ctx.cfg.connectors
        self.txq: TxQueue | None = None
        self.outbox: deque[tuple[str, dict[str, Any], OnResult]] | None = None
        self.pump_task: asyncio.Task[None] | None = None
        self.pending_uid: str | None = None
        self.pending_fut: asyncio.Future[dict[str, Any]] | None = None
        self.overrides: dict[str, str] | None = None
        self.offline_since: float | None = None
        self.connected_once = False
        self.backoff_step = 0
        self.seq = 0
        self.meter_wh = 0
        self.resetting = False
        self.mgmt: Management | None = None  # availability, local list, reservations, profiles: on first use

    # ---- connection lifecycle -------------------------------------------------------------

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

    def close(self) -> Any:
        """Stop everything; returns the close coroutine of an open connection (or None)."""
        for timer in (self.hb_timer, self.wake_timer, self.arrival_timer):
            if timer is not None:
                timer.cancel()
        for slot in self.connectors:
            if isinstance(slot, Session):
                slot.cancel_timers()
        return self.ws.close() if self.ws is not None else None

    # ---- receiving ------------------------------------------------------------------------

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

    # ---- sending --------------------------------------------------------------------------

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

    # ---- boot, status, heartbeat ----------------------------------------------------------

    def boot_payload(self) -> dict[str, Any]:
        return {
            "chargePointVendor": "envctl",
            "chargePointModel": "envctl-sim",
            "chargePointSerialNumber": self.id[-25:],
            "firmwareVersion": "envctl-sim-1",
        }

    async def _boot(self) -> None:
        cfg = self.ctx.cfg
        try:
            resp = await self._call("BootNotification", self.boot_payload())
        except ConnectionLost:
            return
        except (CallErrorReceived, CallTimeout, OcppError):
            self._retry_boot(cfg.boot_retry)
            return
        if resp["status"] == "Accepted":
            self._boot_accepted(resp["interval"])
        else:  # Pending / Rejected: try again after the interval the server asked for
            self._retry_boot(resp["interval"] or cfg.boot_retry)

    def _retry_boot(self, delay: float) -> None:
        def due() -> None:
            self.wake_timer = None
            if self.ws is not None and not self.booted:
                self.boot_due = True
                self.kick()

        if self.wake_timer is not None:
            self.wake_timer.cancel()
        self.wake_timer = asyncio.get_running_loop().call_later(delay, due)

    def _boot_accepted(self, interval: int) -> None:
        ctx, st = self.ctx, self.ctx.stats
        self.booted = True
        st.booted += 1
        self.backoff_step = 0
        if self.offline_since is not None:
            st.offline_s.add(time.monotonic() - self.offline_since)
            self.offline_since = None
            st.currently_offline -= 1
        self.hb_interval = float(ctx.cfg.heartbeat_interval or interval or self.hb_interval)
        self._arm_heartbeat()
        self._send_statuses()
        if ctx.cfg.session_rate > 0 and self.arrival_timer is None:
            self._arm_arrival()

    def _arm_heartbeat(self) -> None:
        if self.hb_timer is not None:
            self.hb_timer.cancel()
            self.hb_timer = None
        if self.booted and self.hb_interval > 0:
            self.hb_timer = asyncio.get_running_loop().call_later(self.hb_interval, self._heartbeat_due)

    def _heartbeat_due(self) -> None:
        self.hb_timer = None
        self.send_later("Heartbeat", {})
        self._arm_heartbeat()

    def connector_status(self, connector: int) -> str:
        slot = self.connectors[connector - 1] if connector else None
        if isinstance(slot, Session):
            return "Charging"
        if self.mgmt is not None and self.mgmt.unavailable(connector):
            return "Unavailable"
        if connector == 0:
            return "Available"
        if slot == _RESERVED:
            return "Preparing"
        return "Reserved" if self.mgmt is not None and self.mgmt.reservation(connector) else "Available"

    def send_status(self, connector: int) -> None:
        self._status(connector)

    def _status(self, connector: int) -> None:
        payload = {
            "connectorId": connector,
            "errorCode": "NoError",
            "status": self.connector_status(connector),
            "timestamp": now_iso(),
        }
        self.send_later("StatusNotification", payload)

    def _send_statuses(self) -> None:
        for connector in range(self.ctx.cfg.connectors + 1):
            self._status(connector)

    def triggered(self, what: str, connector: int | None) -> None:
        if what == "BootNotification":
            if not self.booted:
                self.boot_due = True
                self.kick()
            else:
                self.send_later("BootNotification", self.boot_payload(), self._triggered_boot_answered)
        elif what == "Heartbeat":
            self.send_later("Heartbeat", {})
        elif what == "StatusNotification":
            if connector is None:
                self._send_statuses()
            else:
                self._status(connector)
        elif what == "MeterValues":
            c = connector or 1
            slot = self.connectors[c - 1]
            payload: dict[str, Any] = {"connectorId": c, "meterValue": [self._sample(slot)]}
            if isinstance(slot, Session) and slot.transaction_id is not None:
                payload["transactionId"] = slot.transaction_id
            self.send_later("MeterValues", payload)
        elif what in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            self.send_later(what, {"status": management.job_status(self, what)})

    def _triggered_boot_answered(self, resp: dict[str, Any] | None) -> None:
        if (
            resp is not None
            and resp["status"] == "Accepted"
            and not self.ctx.cfg.heartbeat_interval
            and resp["interval"]
        ):
            self.hb_interval = float(resp["interval"])
            self._arm_heartbeat()

    # ---- configuration --------------------------------------------------------------------

    def config_value(self, key: str) -> str:
        if key == "HeartbeatInterval":
            return str(int(self.hb_interval))
        if self.overrides is not None and key in self.overrides:
            return self.overrides[key]
        return self.ctx.config_defaults[key]

    def config_int(self, key: str) -> int:
        return int(self.config_value(key))

    def config_seconds(self, key: str, fleet_default: float) -> float:
        """An interval key: the fleet's (possibly fractional, for tests) value until a server changes it."""
        if self.overrides is not None and key in self.overrides:
            return float(self.overrides[key])
        return fleet_default

    def set_config(self, key: str, value: str) -> None:
        if key == "HeartbeatInterval":
            self.hb_interval = float(value)
            self._arm_heartbeat()
            return
        if self.overrides is None:
            self.overrides = {}
        self.overrides[key] = value

    # ---- charging sessions ----------------------------------------------------------------

    def _arm_arrival(self) -> None:
        rate_per_s = self.ctx.cfg.session_rate / 3600
        delay = self.ctx.rng.expovariate(rate_per_s)
        self.arrival_timer = asyncio.get_running_loop().call_later(delay, self._arrival_due)

    def _arrival_due(self) -> None:
        self.arrival_timer = None
        if self.ctx.stopping:
            return
        self._arm_arrival()
        free = [i + 1 for i, slot in enumerate(self.connectors) if slot is None]
        if not free:
            return
        connector = self.ctx.rng.choice(free)
        id_tag = f"TAG{self.ctx.rng.randrange(10**8):08d}"
        self.reserve(connector)
        if not self.booted:  # LocalAuthorizeOffline: charge now, tell the server later
            self.start_session(connector, id_tag)
            return

        def authorized(resp: dict[str, Any] | None) -> None:
            if resp is not None and resp["idTagInfo"]["status"] == "Accepted":
                self.start_session(connector, id_tag)
            elif self.connectors[connector - 1] == _RESERVED:
                self.connectors[connector - 1] = None

        self.send_later("Authorize", {"idTag": id_tag}, authorized)

    def free_connector(self, wanted: int | None) -> int | None:
        """A connector free for a session: not charging, not promised, available and not reserved."""
        def free(c: int) -> bool:
            m = self.mgmt
            return self.connectors[c - 1] is None and (m is None or not (m.unavailable(c) or m.reservation(c)))

        if wanted is not None:
            return wanted if 1 <= wanted <= len(self.connectors) and free(wanted) else None
        for c in range(1, len(self.connectors) + 1):
            if free(c):
                return c
        return None

    def reserve(self, connector: int) -> None:
        self.connectors[connector - 1] = _RESERVED

    def session_by_transaction(self, transaction_id: int) -> Session | None:
        for slot in self.connectors:
            if isinstance(slot, Session) and slot.active and slot.transaction_id == transaction_id:
                return slot
        return None

    def _ledger_id(self) -> str:
        self.seq += 1
        return f"{self.id}:{self.seq}"

    def _queue(self, kind: str, session: Session, body: dict[str, Any]) -> TxMessage:
        if self.txq is None:
            self.txq = TxQueue(self.id, self.ctx.stats, self.ctx.ledger)
        msg = TxMessage(self._ledger_id(), kind, session, body)
        self.txq.push(msg)
        self.kick()
        return msg

    def _reading(self, session: Session) -> int:
        return session.meter_start + int((time.monotonic() - session.started) * WH_PER_SECOND)

    def _sample(self, slot: Session | str | None) -> dict[str, Any]:
        value = self._reading(slot) if isinstance(slot, Session) else self.meter_wh
        return {
            "timestamp": now_iso(),
            "sampledValue": [
                {
                    "value": str(value),
                    "context": "Sample.Periodic",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                }
            ],
        }

    def start_session(self, connector: int, id_tag: str, remote: bool = False) -> Session | None:
        slot = self.connectors[connector - 1]
        if slot is not None and slot != _RESERVED:
            return None
        cfg, loop = self.ctx.cfg, asyncio.get_running_loop()
        session = Session(connector, id_tag, self.meter_wh, now_iso())
        self.connectors[connector - 1] = session
        body = {
            "connectorId": connector,
            "idTag": id_tag,
            "meterStart": session.meter_start,
            "timestamp": session.timestamp,
        }
        session.start_msg = self._queue("start", session, body)
        self.ctx.stats.sessions_started += 1
        self._status(connector)
        interval = self.config_seconds("MeterValueSampleInterval", self.ctx.cfg.meter_interval)
        if interval > 0:
            session.meter_timer = loop.call_later(interval, self._meter_due, session)
        lo, hi = cfg.session_minutes
        session.stop_timer = loop.call_later(self.ctx.rng.uniform(lo, hi) * 60, self.stop_session, session, "Local")
        return session

    def _meter_due(self, session: Session) -> None:
        session.meter_timer = None
        if not session.active or self.ctx.stopping:
            return
        self._queue("meter", session, {"connectorId": session.connector, "meterValue": [self._sample(session)]})
        interval = self.config_seconds("MeterValueSampleInterval", self.ctx.cfg.meter_interval)
        if interval > 0:
            session.meter_timer = asyncio.get_running_loop().call_later(interval, self._meter_due, session)

    def stop_session(self, session: Session, reason: str) -> None:
        if not session.active:
            return
        session.active = False
        session.cancel_timers()
        reading = self._reading(session)
        self.meter_wh = max(self.meter_wh, reading)
        self.connectors[session.connector - 1] = None
        body = {"meterStop": reading, "timestamp": now_iso(), "idTag": session.id_tag, "reason": reason}
        self._queue("stop", session, body)
        self.ctx.stats.sessions_stopped += 1
        management.session_ended(self, session.connector)
        self._status(session.connector)

    def _start_answered(self, session: Session, resp: dict[str, Any]) -> None:
        if resp["idTagInfo"]["status"] != "Accepted" and session.active:
            if self.config_value("StopTransactionOnInvalidId") == "true":
                self.stop_session(session, "DeAuthorized")

    def reset(self, reason: str) -> None:
        """Reset was accepted: end sessions (their stops are queued), drop the link, boot again."""
        for slot in list(self.connectors):
            if isinstance(slot, Session):
                self.stop_session(slot, reason)
        ws = self.ws
        if ws is None:
            return
        self.resetting = True
        task = asyncio.get_running_loop().create_task(ws.close(1000, "reset"))
        _background.add(task)
        task.add_done_callback(_background.discard)
