"""What the OCPP server needs from persistence, independent of the backend.

Writes that the server acknowledges to a charger (boot, start/stop transaction, meter values) are
*durable* writes: the coroutine returns only after the database committed them. Backends batch the
durable writes of many connections into one transaction (group commit) so one commit pays for many
chargers. Last-seen times and connector statuses are *lazy*: kept in memory and flushed about once
a second, because losing a second of heartbeats on a crash loses nothing a charger cares about.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

UTC = timezone.utc


def parse_ts(value: str) -> datetime:
    """An OCPP dateTime as an aware UTC datetime (naive times are taken as UTC)."""
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class BootRecord:
    charger_id: str
    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None
    payload: dict[str, Any]
    at: datetime


@dataclass(slots=True)
class StartRecord:
    charger_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    reservation_id: int | None = None

    def key(self) -> tuple[str, int, str, int, datetime]:
        return (self.charger_id, self.connector_id, self.id_tag, self.meter_start, self.started_at)


@dataclass(slots=True)
class StopRecord:
    transaction_id: int
    charger_id: str
    meter_stop: int
    stopped_at: datetime
    id_tag: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class MeterSample:
    charger_id: str
    connector_id: int
    transaction_id: int  # 0 when the sample belongs to no transaction
    ts: datetime
    value: str
    measurand: str = ""
    phase: str = ""
    location: str = ""
    context: str = ""
    unit: str = ""

    def key(self) -> tuple[Any, ...]:
        return (self.charger_id, self.connector_id, self.transaction_id, self.ts,
                self.measurand, self.phase, self.location, self.context)


@dataclass(slots=True)
class StatusRecord:
    charger_id: str
    connector_id: int
    status: str
    error_code: str
    info: str | None
    at: datetime


# Kinds of durable writes, in the order a batch applies them (a stop may follow its start in the
# same batch, so starts go first).
BOOT, START, STOP, METER, LAZY = "boot", "start", "stop", "meter", "lazy"
KIND_ORDER = (BOOT, START, STOP, METER, LAZY)


@dataclass(slots=True)
class Pending:
    kind: str
    item: Any
    future: asyncio.Future[Any] | None  # None for lazy flushes nobody waits on
    enqueued: float = field(default_factory=time.perf_counter)


class Store(Protocol):
    """The async persistence API; `open_store(url)` returns one of these."""

    url: str
    on_commit: CommitObserver | None

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def schema_version(self) -> int: ...

    # durable writes: the awaitable completes after COMMIT
    def record_boot(self, boot: BootRecord) -> Awaitable[None]: ...
    def start_transaction(self, start: StartRecord) -> Awaitable[int]: ...
    def stop_transaction(self, stop: StopRecord) -> Awaitable[None]: ...
    def record_meter_values(self, samples: list[MeterSample]) -> Awaitable[None]: ...

    # lazy writes (flushed about once a second, and on close)
    def touch(self, charger_id: str, at: datetime) -> None: ...
    def record_status(self, status: StatusRecord) -> None: ...

    # reads, for the admin API, tests and benchmarks
    async def get_charger(self, charger_id: str) -> dict[str, Any] | None: ...
    async def count_chargers(self) -> int: ...
    async def count_transactions(self) -> int: ...
    async def list_transactions(self, charger_id: str | None = None) -> list[dict[str, Any]]: ...
    async def find_duplicate_transactions(self) -> list[dict[str, Any]]: ...
    async def count_meter_values(self, charger_id: str | None = None) -> int: ...
    async def connector_statuses(self, charger_id: str) -> dict[int, str]: ...

    def stats(self) -> dict[str, Any]: ...


# Called on the event loop after each committed batch: (items in the batch, commit seconds,
# each item's seconds from enqueue to durable). The server wires it to its metrics.
CommitObserver = Callable[[int, float, list[float]], None]


def group(batch: list[Pending]) -> dict[str, list[Pending]]:
    by_kind: dict[str, list[Pending]] = {k: [] for k in KIND_ORDER}
    for p in batch:
        by_kind[p.kind].append(p)
    return by_kind
