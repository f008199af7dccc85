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
    # transactionData: stored in the stop's own database transaction, with the connector the
    # database has for this transaction (the replica stopping it may not be the one that started it)
    samples: list[MeterSample] = field(default_factory=list)


# What a StopTransaction did to the database (the charger is answered the same way in every case,
# as OCPP 1.6 requires, so firmware stops retrying; only STORED and REPEATED changed nothing wrong).
STOP_STORED = "stored"  # the stop row was written now
STOP_REPEATED = "repeated"  # this transaction already had its stop (a resend): the first one stays
STOP_OTHER_CHARGER = "other_charger"  # the transaction belongs to another charger: not applied
STOP_UNKNOWN = "unknown_transaction"  # no such transaction: not applied


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


# Kinds of durable writes, in the order a batch applies them: claims first (a write in the same
# batch is fenced by the epoch the claim just took), a stop may follow its start in the same batch.
REPLICA, CLAIM, BOOT, START, STOP, METER, LAZY = "replica", "claim", "boot", "start", "stop", "meter", "lazy"
KIND_ORDER = (REPLICA, CLAIM, BOOT, START, STOP, METER, LAZY)


@dataclass(slots=True)
class Pending:
    kind: str
    item: Any
    future: asyncio.Future[Any] | None  # None for lazy flushes nobody waits on
    fence: Claim | None = None  # the connection this write comes from; None: not fenced
    enqueued: float = field(default_factory=time.perf_counter)


class Claim:
    """One connection's claim to be the charger's current connection, fleet-wide.

    The database gives each claim the next epoch of that charger; a write fenced by a claim is
    applied only while the claim's epoch is still the charger's current one, checked inside the
    write's own database transaction. `epoch` is set by the store's writer right after the claim
    commits (before any later batch runs), so writes queued before the claim resolved are fenced
    correctly too.

    The outcome is delivered either to `on_settled(claim, error)` (the server: called straight
    from the commit's resolution, no future and no extra loop iteration per connect) or, when no
    callback is given, through `future` (tools and tests await it).
    """

    __slots__ = ("charger_id", "replica_id", "connected_at", "epoch", "future", "on_settled", "settled")

    def __init__(self, charger_id: str, replica_id: str, connected_at: datetime,
                 on_settled: ClaimCallback | None = None) -> None:
        self.charger_id = charger_id
        self.replica_id = replica_id
        self.connected_at = connected_at
        self.epoch: int | None = None
        self.future: asyncio.Future[int] | None = None
        self.on_settled = on_settled
        self.settled = False

    def __repr__(self) -> str:
        return f"Claim({self.charger_id!r}, epoch={self.epoch})"


ClaimCallback = Callable[["Claim", BaseException | None], None]


class Superseded(Exception):
    """A newer connection of this charger holds it (here or on another replica): write refused."""

    def __init__(self, charger_id: str, epoch: int | None, current: int | None) -> None:
        super().__init__(f"charger {charger_id}: connection epoch {epoch} superseded by epoch {current}")
        self.charger_id = charger_id
        self.epoch = epoch
        self.current = current


@dataclass(slots=True, frozen=True)
class Takeover:
    """A claim that took a charger from another replica whose connection was still open."""

    charger_id: str
    epoch: int
    replica_id: str  # the new owner
    previous_replica_id: str


@dataclass(slots=True)
class ReplicaInfo:
    replica_id: str
    admin_url: str | None
    version: str
    started_at: datetime
    stopped_at: datetime | None = None


class Store(Protocol):
    """The async persistence API; `open_store(url)` returns one of these."""

    url: str
    on_commit: CommitObserver | None

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def schema_version(self) -> int: ...

    # ownership: claim on connect (durable), release on disconnect (lazy); takeovers of this
    # replica's connections by another replica are delivered to on_takeover (LISTEN/NOTIFY on
    # Postgres, a polled takeover log on SQLite)
    on_takeover: TakeoverObserver | None
    def register_replica(self, info: ReplicaInfo) -> Awaitable[None]: ...
    def claim(self, charger_id: str, at: datetime, on_settled: ClaimCallback | None = None) -> Claim: ...
    def release(self, claim: Claim, at: datetime) -> None: ...

    # durable writes: the awaitable completes after COMMIT; with a fence, it raises Superseded
    # instead when a newer connection of that charger has claimed it
    def record_boot(self, boot: BootRecord, fence: Claim | None = None) -> Awaitable[None]: ...
    def start_transaction(self, start: StartRecord, fence: Claim | None = None) -> Awaitable[int]: ...
    def stop_transaction(self, stop: StopRecord, fence: Claim | None = None) -> Awaitable[str]: ...
    def record_meter_values(self, samples: list[MeterSample], fence: Claim | None = None) -> Awaitable[None]: ...

    # lazy writes (flushed about once a second, and on close); a fenced status is dropped when stale
    def touch(self, charger_id: str, at: datetime) -> None: ...
    def record_status(self, status: StatusRecord, fence: Claim | None = None) -> None: ...

    # reads, for the admin API, tests and benchmarks
    async def get_charger(self, charger_id: str) -> dict[str, Any] | None: ...
    async def count_chargers(self) -> int: ...
    async def count_transactions(self) -> int: ...
    async def list_transactions(self, charger_id: str | None = None) -> list[dict[str, Any]]: ...
    async def find_duplicate_transactions(self) -> list[dict[str, Any]]: ...
    async def count_meter_values(self, charger_id: str | None = None) -> int: ...
    async def list_meter_values(self) -> list[dict[str, Any]]: ...
    async def connector_statuses(self, charger_id: str) -> dict[int, str]: ...
    async def owner(self, charger_id: str) -> dict[str, Any] | None: ...
    async def owners(self, charger_ids: list[str]) -> dict[str, int]: ...
    async def charger_snapshot(self, charger_id: str) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...


# Called on the event loop after each committed batch: (items in the batch, commit seconds,
# each item's seconds from enqueue to durable). The server wires it to its metrics.
CommitObserver = Callable[[int, float, list[float]], None]
# Called on the event loop with takeovers of this replica's chargers by other replicas.
TakeoverObserver = Callable[[list[Takeover]], None]


def group(batch: list[Pending]) -> dict[str, list[Pending]]:
    by_kind: dict[str, list[Pending]] = {k: [] for k in KIND_ORDER}
    for p in batch:
        by_kind[p.kind].append(p)
    return by_kind
