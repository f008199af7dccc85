"""OCPP 1.6 transaction messages: one ordered queue per charger that survives disconnections.

StartTransaction, StopTransaction and a transaction's MeterValues must reach the central system
in the order they happened, exactly once from the charger's point of view (section 4.8 / 3.16).
While offline they wait here; after a reconnect and an accepted boot they go out oldest first,
one at a time. A CALLERROR or a timeout counts as a failed attempt: the message is retried after
TransactionMessageRetryInterval x attempt number, and dropped after TransactionMessageAttempts
failures. A connection lost while a message is in flight is not a failure: it is simply resent.
Stop/meter messages carry their session, whose transactionId is only known once the server has
acknowledged the start; the queue's order guarantees that happens first.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envctl.charger.simulator.ledger import LedgerWriter
    from envctl.charger.simulator.stats import WorkerStats

ACTIONS = {"start": "StartTransaction", "stop": "StopTransaction", "meter": "MeterValues"}


class Session:
    """One charging session on one connector."""

    __slots__ = (
        "connector", "id_tag", "meter_start", "timestamp", "started", "transaction_id", "start_msg",
        "meter_timer", "stop_timer", "active",
    )  # fmt: skip

    def __init__(self, connector: int, id_tag: str, meter_start: int, timestamp: str) -> None:
        self.connector = connector
        self.id_tag = id_tag
        self.meter_start = meter_start
        self.timestamp = timestamp
        self.started = time.monotonic()
        self.transaction_id: int | None = None
        self.start_msg: TxMessage | None = None
        self.meter_timer: Any = None  # asyncio.TimerHandle of the next MeterValues
        self.stop_timer: Any = None  # asyncio.TimerHandle of the planned stop
        self.active = True

    def cancel_timers(self) -> None:
        for timer in (self.meter_timer, self.stop_timer):
            if timer is not None:
                timer.cancel()
        self.meter_timer = self.stop_timer = None


class TxMessage:
    __slots__ = (
        "ledger_id", "kind", "session", "body", "attempts", "failures", "state",
        "created_at", "sent_at", "acked_at", "not_before", "error",
    )  # fmt: skip

    def __init__(self, ledger_id: str, kind: str, session: Session, body: dict[str, Any]) -> None:
        self.ledger_id = ledger_id
        self.kind = kind
        self.session = session
        self.body = body  # the payload without transactionId (filled in when sent)
        self.attempts = 0
        self.failures = 0
        self.state = "queued"
        self.created_at = time.time()
        self.sent_at: float | None = None
        self.acked_at: float | None = None
        self.not_before = 0.0  # monotonic time before which a retry must not go out
        self.error: str | None = None

    @property
    def action(self) -> str:
        return ACTIONS[self.kind]

    def payload(self) -> dict[str, Any] | None:
        """The wire payload, or None when the transactionId can never be known."""
        if self.kind == "start":
            return self.body
        tid = self.session.transaction_id
        if tid is None:
            return None
        return {**self.body, "transactionId": tid}

    def key(self) -> dict[str, Any]:
        b = self.body
        if self.kind == "start":
            return {
                "connector": b["connectorId"],
                "id_tag": b["idTag"],
                "meter_start": b["meterStart"],
                "timestamp": b["timestamp"],
            }
        if self.kind == "stop":
            return {
                "transaction_id": self.session.transaction_id,
                "timestamp": b["timestamp"],
                "meter_stop": b["meterStop"],
                "reason": b.get("reason"),
            }
        return {
            "transaction_id": self.session.transaction_id,
            "timestamp": b["meterValue"][0]["timestamp"],
            "connector": b["connectorId"],
            "meter_value": b["meterValue"],  # every sample as sent, so the server's copy can be checked
        }

    def row(self, charger: str) -> dict[str, Any]:
        start = self.session.start_msg
        return {
            "id": self.ledger_id,
            "charger": charger,
            "kind": self.kind,
            "key": self.key(),
            "start_id": start.ledger_id if start is not None and start is not self else None,
            "state": self.state,
            "attempts": self.attempts,
            "failures": self.failures,
            "acknowledged": self.state == "acknowledged",
            "transaction_id": self.session.transaction_id,
            "error": self.error,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "acked_at": self.acked_at,
            "updated_at": time.time(),
        }


class TxQueue:
    __slots__ = ("charger", "items", "_stats", "_ledger")

    def __init__(self, charger: str, stats: WorkerStats, ledger: LedgerWriter) -> None:
        self.charger = charger
        self.items: deque[TxMessage] = deque()
        self._stats = stats
        self._ledger = ledger

    def __len__(self) -> int:
        return len(self.items)

    def push(self, msg: TxMessage) -> None:
        self.items.append(msg)
        self._stats.tx_queued += 1
        self._ledger.write(msg.row(self.charger))

    def head(self) -> TxMessage | None:
        return self.items[0] if self.items else None

    def mark_sent(self, msg: TxMessage) -> None:
        msg.attempts += 1
        msg.state = "sent"
        msg.sent_at = time.time()
        self._stats.tx_sent += 1
        self._ledger.write(msg.row(self.charger))

    def acknowledged(self, msg: TxMessage, response: dict[str, Any]) -> None:
        self._pop(msg)
        if msg.kind == "start":
            msg.session.transaction_id = int(response["transactionId"])
        msg.state = "acknowledged"
        msg.acked_at = time.time()
        msg.error = None
        self._stats.tx_acknowledged += 1
        self._ledger.write(msg.row(self.charger))

    def interrupted(self, msg: TxMessage) -> None:
        """The connection went away with `msg` in flight: it goes out again after the reconnect."""
        if msg.state == "sent":
            msg.state = "queued"
            self._ledger.write(msg.row(self.charger))

    def failed(self, msg: TxMessage, error: str, max_attempts: int, retry_interval: float, now: float) -> None:
        msg.failures += 1
        msg.error = error
        if msg.failures >= max_attempts:
            self.drop(msg, error)
            return
        msg.state = "queued"
        msg.not_before = now + retry_interval * msg.failures
        self._ledger.write(msg.row(self.charger))

    def drop(self, msg: TxMessage, error: str) -> None:
        self._pop(msg)
        msg.state = "dropped"
        msg.error = error
        self._stats.tx_dropped += 1
        self._ledger.write(msg.row(self.charger))
        if msg.kind == "start":
            # Without a transactionId its stop and meter values can never be sent.
            for other in [m for m in self.items if m.session is msg.session]:
                self.drop(other, "start not acknowledged")

    def _pop(self, msg: TxMessage) -> None:
        if self.items and self.items[0] is msg:
            self.items.popleft()
        else:
            self.items.remove(msg)
        self._stats.tx_queued -= 1
