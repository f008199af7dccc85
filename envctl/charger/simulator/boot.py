"""What a simulated charger tells the server about itself: BootNotification, heartbeats, connector
statuses, and the messages a TriggerMessage asks for.

A mixin of ChargePoint, which owns every slot; the CALLs go out through call_pump.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from envctl.charger.protocol.errors import CallErrorReceived, CallTimeout, OcppError
from envctl.charger.simulator import management
from envctl.charger.simulator.call_pump import ConnectionLost
from envctl.charger.simulator.clock import now_iso
from envctl.charger.simulator.sessions import RESERVED
from envctl.charger.simulator.txqueue import Session


class BootAndStatus:
    """Boot (and its retries), the heartbeat timer, StatusNotification, triggered messages."""

    __slots__ = ()

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
        if slot == RESERVED:
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
