"""The backend-independent half of a store: durable writes become futures resolved after COMMIT.

A backend supplies `_submit(pending)` (hand one write to its single writer) and `_stop_writer()`.
Its writer takes *everything* pending, applies it in one transaction, commits, then calls
`_resolve(batch, results)` on the event loop. While one commit is in progress the next batch
accumulates, so the number of commits per second stays bounded however many chargers write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from envctl.charger.store.base import (
    BOOT,
    LAZY,
    METER,
    START,
    STOP,
    BootRecord,
    CommitObserver,
    MeterSample,
    Pending,
    StartRecord,
    StatusRecord,
    StopRecord,
)

log = logging.getLogger(__name__)

# (True, value) or (False, exception), aligned with the batch
Outcome = tuple[bool, Any]


class StoreClosed(RuntimeError):
    pass


class GroupCommitStore:
    url: str

    def __init__(self, url: str, *, replica_id: str | None = None, lazy_flush_s: float = 1.0) -> None:
        self.url = url
        self.replica_id = replica_id
        self.lazy_flush_s = lazy_flush_s
        self.on_commit: CommitObserver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: dict[str, datetime] = {}
        self._statuses: dict[tuple[str, int], StatusRecord] = {}
        self._lazy_task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0
        self.committed_items = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._open_backend()
        self._lazy_task = self._loop.create_task(self._lazy_loop(), name="store-lazy-flush")

    async def close(self) -> None:
        """Flush lazy state, wait for every pending write to commit, then release the backend."""
        if self._closed:
            return
        self._closed = True
        if self._lazy_task is not None:
            self._lazy_task.cancel()
            try:
                await self._lazy_task
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

    # -- durable writes ----------------------------------------------------------------------
    def _durable(self, kind: str, item: Any) -> asyncio.Future[Any]:
        if self._closed or self._loop is None:
            raise StoreClosed("store is closed")
        fut = self._loop.create_future()
        self._submit(Pending(kind, item, fut))
        return fut

    def record_boot(self, boot: BootRecord) -> asyncio.Future[None]:
        return self._durable(BOOT, boot)

    def start_transaction(self, start: StartRecord) -> asyncio.Future[int]:
        return self._durable(START, start)

    def stop_transaction(self, stop: StopRecord) -> asyncio.Future[None]:
        return self._durable(STOP, stop)

    def record_meter_values(self, samples: list[MeterSample]) -> asyncio.Future[None]:
        return self._durable(METER, samples)

    def _resolve(self, batch: list[Pending], outcomes: list[Outcome], commit_s: float) -> None:
        """Runs on the event loop once the batch is committed (or failed)."""
        now = time.perf_counter()
        waits: list[float] = []
        for p, (ok, value) in zip(batch, outcomes):
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

    def record_status(self, status: StatusRecord) -> None:
        self._statuses[(status.charger_id, status.connector_id)] = status

    async def _lazy_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lazy_flush_s)
            self._flush_lazy()

    def _flush_lazy(self) -> None:
        if not self._seen and not self._statuses:
            return
        seen, self._seen = self._seen, {}
        statuses, self._statuses = self._statuses, {}
        self._submit(Pending(LAZY, (seen, list(statuses.values())), None))

    def stats(self) -> dict[str, Any]:
        return {"backend": type(self).__name__, "commits": self.commits, "committed_items": self.committed_items}
