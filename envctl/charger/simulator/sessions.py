"""A simulated charger's charging sessions: arrivals, start/stop, meter samples, transactions, reset.

Transaction messages go into the charger's TxQueue (txqueue.py), which survives going offline;
the pump (call_pump.py) sends them. A mixin of ChargePoint, which owns every slot.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from envctl.charger.simulator import management
from envctl.charger.simulator.clock import now_iso
from envctl.charger.simulator.txqueue import Session, TxMessage, TxQueue

WH_PER_SECOND = 11_000 / 3600  # an 11 kW session
RESERVED = "reserved"  # a connector promised to an authorizing or remotely started session
_background: set[asyncio.Task[Any]] = set()


class ChargingSessions:
    """Connector slots, session timers and the transaction messages they queue."""

    __slots__ = ()

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
            elif self.connectors[connector - 1] == RESERVED:
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
        self.connectors[connector - 1] = RESERVED

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
        if slot is not None and slot != RESERVED:
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
