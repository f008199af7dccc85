"""The backend-independent half of a store: durable writes become futures resolved after COMMIT.

A backend supplies `_submit(pending)` (hand one write to its single writer) and `_stop_writer()`.
Its writer takes *everything* pending, applies it in one transaction, commits, then calls
`_resolve(batch, results)` on the event loop. While one commit is in progress the next batch
accumulates, so the number of commits per second stays bounded however many chargers write.

Ownership rides on the same batches: a claim is a durable write like a boot (so a connect costs
one more row in a batch, not one more commit), and the writer sets each claim's epoch right after
its batch commits, before the next batch runs (see fencing.py). Takeovers of this replica's
chargers arrive through `_watch_takeovers()`, the backend's notification channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from envctl.charger.store.base import (
    BOOT,
    CLAIM,
    LAZY,
    METER,
    REPLICA,
    START,
    STOP,
    BootRecord,
    Claim,
    ClaimCallback,
    CommitObserver,
    MeterSample,
    Pending,
    ReplicaInfo,
    StartRecord,
    StatusRecord,
    StopRecord,
    Takeover,
    TakeoverObserver,
)

log = logging.getLogger(__name__)

# (True, value) or (False, exception), aligned with the batch
Outcome = tuple[bool, Any]


class StoreClosed(RuntimeError):
    pass


@dataclass(slots=True)
class LazyFlush:
    """Everything lazy since the last flush: one Pending, no future."""

    seen: dict[str, datetime] = field(default_factory=dict)
    statuses: list[tuple[StatusRecord, int | None]] = field(default_factory=list)  # (status, epoch or None)
    releases: list[tuple[str, int, datetime]] = field(default_factory=list)  # (charger, epoch, at)


class GroupCommitStore:
    url: str

    def __init__(self, url: str, *, replica_id: str | None = None, lazy_flush_s: float = 1.0) -> None:
        self.url = url
        self.replica_id = replica_id
        self.lazy_flush_s = lazy_flush_s
        self.on_commit: CommitObserver | None = None
        self.on_takeover: TakeoverObserver | None = None
        # Set by the server: the charger ids connected here (a backend that may miss a takeover
        # notification, such as a LISTEN connection that dropped, re-checks these).
        self.connected_ids: Callable[[], list[str]] = list
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: dict[str, datetime] = {}
        self._statuses: dict[tuple[str, int], tuple[StatusRecord, Claim | None]] = {}
        self._releases: list[tuple[Claim, datetime]] = []
        self._lazy_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0
        self.committed_items = 0
        self.claims = 0
        self.takeovers_sent = 0  # claims that took an open connection from another replica
        self.takeovers_received = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._open_backend()
        self._lazy_task = self._loop.create_task(self._lazy_loop(), name="store-lazy-flush")
        if self.replica_id is not None:
            self._watch_task = self._loop.create_task(self._watch_takeovers(), name="store-takeovers")

    async def close(self) -> None:
        """Flush lazy state, wait for every pending write to commit, then release the backend."""
        if self._closed:
            return
        self._closed = True
        for task in (self._lazy_task, self._watch_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._flush_lazy()
        await self._stop_writer()
        await self._close_backend()

    async def _open_backend(self) -> None:
        raise NotImplementedError

    async def _close_backend(self) -> None:
        raise NotImplementedError

    def _submit(self, pending: Pending) -> None:
        raise NotImplementedError

    async def _stop_writer(self) -> None:
        raise NotImplementedError

    async def _watch_takeovers(self) -> None:
        """Deliver takeovers of this replica's chargers to on_takeover until cancelled."""
        raise NotImplementedError

    def _takeovers_arrived(self, takeovers: list[Takeover]) -> None:
        if not takeovers:
            return
        self.takeovers_received += len(takeovers)
        if self.on_takeover is not None:
            try:
                self.on_takeover(takeovers)
            except Exception:  # a failing observer must not stop the watch
                log.exception("takeover observer failed")

    # -- durable writes ----------------------------------------------------------------------
    def _durable(self, kind: str, item: Any, fence: Claim | None = None) -> asyncio.Future[Any]:
        if self._closed or self._loop is None:
            raise StoreClosed("store is closed")
        fut = self._loop.create_future()
        self._submit(Pending(kind, item, fut, fence))
        return fut

    def register_replica(self, info: ReplicaInfo) -> asyncio.Future[None]:
        return self._durable(REPLICA, info)

    def claim(self, charger_id: str, at: datetime, on_settled: ClaimCallback | None = None) -> Claim:
        """Claim the charger for a new connection of this replica: the epoch arrives through
        `on_settled(claim, error)`, or `claim.future` when no callback is given."""
        if self.replica_id is None:
            raise StoreClosed("a store without a replica id cannot claim chargers")
        if self._closed or self._loop is None:
            raise StoreClosed("store is closed")
        claim = Claim(charger_id, self.replica_id, at, on_settled)
        if on_settled is None:
            claim.future = self._loop.create_future()
        self._submit(Pending(CLAIM, claim, claim.future))
        self.claims += 1
        return claim

    def release(self, claim: Claim, at: datetime) -> None:
        """The claim's connection ended: record when, unless a newer connection claimed it since."""
        self._releases.append((claim, at))

    def record_boot(self, boot: BootRecord, fence: Claim | None = None) -> asyncio.Future[None]:
        return self._durable(BOOT, boot, fence)

    def start_transaction(self, start: StartRecord, fence: Claim | None = None) -> asyncio.Future[int]:
        return self._durable(START, start, fence)

    def stop_transaction(self, stop: StopRecord, fence: Claim | None = None) -> asyncio.Future[str]:
        return self._durable(STOP, stop, fence)

    def record_meter_values(self, samples: list[MeterSample], fence: Claim | None = None) -> asyncio.Future[None]:
        return self._durable(METER, samples, fence)

    def _set_epochs(self, claimed: dict[Claim, int]) -> None:
        """Called by the writer right after a commit, before it takes the next batch."""
        for claim, epoch in claimed.items():
            claim.epoch = epoch

    def _resolve(self, batch: list[Pending], outcomes: list[Outcome], commit_s: float) -> None:
        """Runs on the event loop once the batch is committed (or failed)."""
        now = time.perf_counter()
        waits: list[float] = []
        for p, (ok, value) in zip(batch, outcomes):
            if p.kind == CLAIM:
                claim: Claim = p.item
                claim.settled = True
                if claim.on_settled is not None:
                    waits.append(now - p.enqueued)
                    try:
                        claim.on_settled(claim, None if ok else value)
                    except Exception:  # one connection's bookkeeping must not fail the batch's others
                        log.exception("claim callback failed for %s", claim.charger_id)
                    continue
            fut = p.future
            if fut is None:
                continue
            waits.append(now - p.enqueued)
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        self.commits += 1
        self.committed_items += len(batch)
        if self.on_commit is not None:
            try:
                self.on_commit(len(batch), commit_s, waits)
            except Exception:  # metrics must never break persistence
                log.exception("commit observer failed")

    # -- lazy writes -------------------------------------------------------------------------
    def touch(self, charger_id: str, at: datetime) -> None:
        self._seen[charger_id] = at

    def record_status(self, status: StatusRecord, fence: Claim | None = None) -> None:
        self._statuses[(status.charger_id, status.connector_id)] = (status, fence)

    async def _lazy_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lazy_flush_s)
            self._flush_lazy()

    def _flush_lazy(self) -> None:
        if not self._seen and not self._statuses and not self._releases:
            return
        flush = LazyFlush(seen=self._seen)
        self._seen = {}
        statuses, self._statuses = self._statuses, {}
        for key, (status, fence) in statuses.items():
            if fence is None or fence.epoch is not None:
                flush.statuses.append((status, None if fence is None else fence.epoch))
            elif _pending(fence):  # its claim has not committed yet: next flush
                self._statuses[key] = (status, fence)
            # else: the claim failed or lost within its batch; that connection never owned the charger
        releases, self._releases = self._releases, []
        for claim, at in releases:
            if claim.epoch is not None:
                flush.releases.append((claim.charger_id, claim.epoch, at))
            elif _pending(claim):
                self._releases.append((claim, at))
        self._submit(Pending(LAZY, flush, None))

    def stats(self) -> dict[str, Any]:
        return {"backend": type(self).__name__, "commits": self.commits, "committed_items": self.committed_items,
                "claims": self.claims, "takeovers_sent": self.takeovers_sent,
                "takeovers_received": self.takeovers_received}


def _pending(claim: Claim) -> bool:
    return not claim.settled
