"""One simulated OCPP 1.6J charge point: the state of a charger and the parts that act on it.

Kept cheap because a worker runs ~15,000 of them: one slotted object per charger, one task per
charger (the connection's reader, which also sleeps between reconnect attempts), a sender task
only while something is waiting to go out, and timers via loop.call_later. The behaviour lives in
mixins, one concept each, that keep no state of their own (`__slots__ = ()`, so no per-charger
dict and no extra object per message):

connection.py          transport: connect, serve, loss, reconnect policy, inbound frames
call_pump.py           outbound CALLs one at a time: boot, outbox, transaction queue
boot.py                BootNotification, heartbeat, StatusNotification, triggered messages
sessions.py            arrivals, sessions, meter samples, transaction messages, reset
configuration_keys.py  the charger's OCPP configuration keys (defaults + what a server changed)
central.py             answers to central-system CALLs, routed by action name (with management.py)
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from websockets.asyncio.client import ClientConnection

from envctl.charger.simulator.boot import BootAndStatus
from envctl.charger.simulator.call_pump import CallPump, OnResult
from envctl.charger.simulator.configuration_keys import ConfiguredCharger
from envctl.charger.simulator.connection import ChargerConnection
from envctl.charger.simulator.context import Context
from envctl.charger.simulator.management import Management
from envctl.charger.simulator.sessions import ChargingSessions
from envctl.charger.simulator.txqueue import Session, TxQueue


class ChargePoint(ChargerConnection, CallPump, BootAndStatus, ChargingSessions, ConfiguredCharger):
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

    def close(self) -> Any:
        """Stop everything; returns the close coroutine of an open connection (or None)."""
        for timer in (self.hb_timer, self.wake_timer, self.arrival_timer):
            if timer is not None:
                timer.cancel()
        for slot in self.connectors:
            if isinstance(slot, Session):
                slot.cancel_timers()
        return self.ws.close() if self.ws is not None else None
