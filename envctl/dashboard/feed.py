"""The live feed: one sampler per release, however many browsers watch it.

Every second the hub asks each running release's fleet for its replicas' counters (through the
release service's Fleet, the same calls the engine makes), folds them into one chart point and
the seconds of rates that have become final, and hands that small message to every subscriber.
The browser never receives per-charger or per-replica data, and the fleet is asked once per
second per release, not once per open page.

Points are appended to the release's own journal (`dashboard_sample` events in the release
store), so a finished release keeps its chart, also across dashboard restarts. A release no
dashboard watched still gets a chart: the engine's disconnects per second, from its journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from envctl.dashboard import catalog as catalog_mod
from envctl.dashboard import ledger, series
from envctl.errors import EnvctlError
from envctl.release import service as releases
from envctl.release import timeline
from envctl.release.status import TERMINAL
from envctl.timestamps import epoch, iso

log = logging.getLogger(__name__)

SAMPLE_EVENT = "dashboard_sample"
TICK_S = 1.0
DISCOVER_EVERY_S = 3.0
ENVIRONMENTS_EVERY_S = 2.0
TAIL_S = 3  # keep sampling this long after the release finished, so the chart shows it settle
BACKFILL_S = 3  # seconds of rates before the release started
SERIES_KEPT_S = 850  # replicas keep 900 s of per-second counts (charger/rates.py); stay inside that
QUEUE_DEPTH = 30  # a browser this many messages behind is dropped; EventSource reconnects it


class ReleaseFeed:
    def __init__(self, catalog: catalog_mod.Catalog, plan_id: str) -> None:
        self.ctx, self.plan = catalog.find(plan_id)
        self.plan_id = plan_id
        self.old_ids = {r.id for r in self.plan.old_replicas}
        self.conn: list[list[Any]] = []  # [t, connected_old, connected_new]
        self.rates: list[list[Any]] = []  # [epoch second, reconnects, connect_failures]
        self.server_series: dict[str, list[list[int]]] = {}  # replica id -> its connects per second, as last seen
        self.last_answers: dict[str, tuple[float, Any]] = {}  # replica id -> (when, its last /admin/stats)
        self.tx: dict[str, Any] | None = None
        self.checked: dict[str, Any] | None = None  # the ledger reconciled, once the release finished
        self.doc: dict[str, Any] = releases.status(self.ctx, plan_id)
        self.finished = False
        self.source = "live"
        self._load()

    # -- history -------------------------------------------------------------------------------

    def _load(self) -> None:
        events = self.ctx.store.events(self.plan_id)
        samples = [e for e in events if e.get("event") == SAMPLE_EVENT]
        self.conn = series.dedupe(e["conn"] for e in samples if e.get("conn"))
        self.rates = series.dedupe(p for e in samples for p in e.get("rates", []))
        self.tx = next((e["tx"] for e in reversed(samples) if e.get("tx")), None)
        self.checked = next((e["checked"] for e in reversed(events) if e.get("event") == ledger.LEDGER_EVENT), None)
        if self.doc["phase"] in TERMINAL:
            status = self.ctx.store.load_status(self.plan_id)
            if not samples and status is not None:
                journal = timeline.timeline(self.plan, status, events)
                self.rates, self.source = series.journal_rates(journal, status.started_at), "journal"
            self.finished = True
            if self.checked is None:
                self._check_ledger()

    def _check_ledger(self) -> None:
        self.checked = ledger.reconcile(self.ctx)
        if self.checked is not None and "error" not in self.checked:
            self.ctx.store.append_event(self.plan_id, {"event": ledger.LEDGER_EVENT, "t": time.time(), "checked": self.checked})

    # -- sampling (blocking: runs in a worker thread) -----------------------------------------------

    def tick(self, now: float) -> dict[str, Any] | None:
        if self.finished:
            return None
        self.doc = releases.status(self.ctx, self.plan_id)
        ids = sorted(self.old_ids | set(self.doc.get("new_replicas") or []))
        sample = self.ctx.fleet.health(ids, now)
        for rid, stats in sample.per_replica.items():
            if stats:  # a retired replica's last series still counts for the seconds it covered
                self.server_series[rid] = stats.get("connects_per_second") or []
        retired = frozenset(rid for step in self.doc.get("steps") or [] if step.get("name") in ("retire_old", "retire_new")
                            for rid in (step.get("detail") or {}).get("retired") or [])
        answered = series.fill_unanswered(sample.per_replica, self.last_answers, now, retired)
        old, new = series.split_by_version(answered, self.old_ids, self.plan.to_version)
        point = [round(now, 3), old, new]
        sim = _simulator_status(self.ctx)
        failures = None if sim is None else (sim.get("per_second") or {}).get("connect_failures", [])
        started = int(epoch(self.doc.get("started_at")) or now)
        first = self.rates[-1][0] + 1 if self.rates else max(started - BACKFILL_S, int(now) - SERIES_KEPT_S)
        last = series.settled_until(now)
        new_rates = series.rate_points(self.server_series.values(), failures, first, last)
        if sim is not None:
            self.tx = {**(sim.get("sessions") or {}), **{f"tx_{k}": v for k, v in (sim.get("tx") or {}).items()}}
            self.tx["chargers_connected"] = sim.get("connected")
        self.conn.append(point)
        self.rates += new_rates
        finished_at = epoch(self.doc.get("finished_at"))
        if self.doc["phase"] in TERMINAL and (finished_at is None or last >= float(finished_at) + TAIL_S):
            self.finished = True
            self._check_ledger()
        if self.doc["phase"] != "Pending":  # a plan that never starts must not grow a journal
            self.ctx.store.append_event(
                self.plan_id, {"event": SAMPLE_EVENT, "t": point[0], "conn": point, "rates": new_rates, "tx": self.tx}
            )
        return {"release": self.doc, "conn": [point], "rates": new_rates, "tx": self.tx, "finished": self.finished,
                "checked": self.checked}  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return {
            "release": self.doc,
            "plan": self.plan.to_dict(),
            "conn": self.conn,
            "rates": self.rates,
            "tx": self.tx,
            "checked": self.checked,
            "source": self.source,
            "finished": self.finished,
            "peak_reconnects_per_s": series.peak(self.rates),
        }


def _simulator_status(ctx: releases.ReleaseContext) -> dict[str, Any] | None:
    """Only a runtime that runs the chargers itself (the local simulator) sees their side."""
    reader = getattr(ctx.fleet, "simulator_status", None)
    return reader() if callable(reader) else None


class FeedHub:
    """Samplers for the releases that run or are watched, and the environments list, fanned out."""

    def __init__(self, catalog: catalog_mod.Catalog) -> None:
        self.catalog = catalog
        self.feeds: dict[str, ReleaseFeed] = {}
        self.watchers: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self.env_watchers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.list_watchers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.environments: dict[str, Any] | None = None
        self.releases: dict[str, Any] | None = None
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None
        self._feed_lock = anyio.Lock()

    def ensure_running(self) -> None:
        """Started on first use, so a mounted dashboard (no lifespan of its own) samples too."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dashboard-feed")

    async def stop(self) -> None:
        for queues in [*self.watchers.values(), self.env_watchers, self.list_watchers]:
            for q in queues:
                _end(q)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await anyio.to_thread.run_sync(self.catalog.close)

    async def feed(self, plan_id: str) -> ReleaseFeed:
        async with self._feed_lock:
            feed = self.feeds.get(plan_id)
            if feed is None:
                feed = await anyio.to_thread.run_sync(ReleaseFeed, self.catalog, plan_id)
                self.feeds[plan_id] = feed
            return feed

    # -- subscriptions -------------------------------------------------------------------------

    async def release_events(self, plan_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.ensure_running()
        feed = await self.feed(plan_id)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_DEPTH)
        self.watchers.setdefault(plan_id, set()).add(queue)
        try:
            yield "snapshot", feed.snapshot()
            while (msg := await queue.get()) is not None:
                yield "update", msg
        finally:
            self.watchers.get(plan_id, set()).discard(queue)

    async def environment_events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.ensure_running()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_DEPTH)
        self.env_watchers.add(queue)
        try:
            yield "environments", self.environments or await anyio.to_thread.run_sync(_environments_doc)
            while (msg := await queue.get()) is not None:
                yield "environments", msg
        finally:
            self.env_watchers.discard(queue)

    async def release_list_events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.ensure_running()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_DEPTH)
        self.list_watchers.add(queue)
        try:
            yield "releases", self.releases or await anyio.to_thread.run_sync(self._releases_doc)
            while (msg := await queue.get()) is not None:
                yield "releases", msg
        finally:
            self.list_watchers.discard(queue)

    def _releases_doc(self) -> dict[str, Any]:
        listing = self.catalog.releases()
        return {"releases": listing.items, "notes": listing.notes, "at": iso(time.time())}

    @staticmethod
    def _publish(queues: set[asyncio.Queue[dict[str, Any] | None]], msg: dict[str, Any]) -> None:
        for q in list(queues):
            try:
                q.put_nowait(msg)
            except asyncio.QueueFull:  # a stalled browser: end its stream, it reconnects afresh
                queues.discard(q)
                _end(q)

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        # Separate loops: listing environments asks every replica of every environment and may be
        # slow under load; it must never make a running release's samples late.
        await asyncio.gather(self._every(TICK_S, self._tick_releases), self._every(DISCOVER_EVERY_S, self._discover),
                             self._every(ENVIRONMENTS_EVERY_S, self._publish_environments))  # fmt: skip

    async def _every(self, period_s: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            started = time.monotonic()
            try:
                await step()
            except Exception:  # a bad second must not end the feed for every page
                log.exception("dashboard feed: %s failed", getattr(step, "__name__", step))
            await asyncio.sleep(max(0.05, period_s - (time.monotonic() - started)))

    async def _discover(self) -> None:
        """Publish the releases list, and start sampling every release that runs, watched or not."""
        self.releases = await anyio.to_thread.run_sync(self._releases_doc)
        self._publish(self.list_watchers, self.releases)
        for r in self.releases["releases"]:
            if r["phase"] not in TERMINAL and r["phase"] != "Pending":
                await self.feed(r["plan_id"])

    async def _publish_environments(self) -> None:
        if self.env_watchers:
            self.environments = await anyio.to_thread.run_sync(_environments_doc)
            self._publish(self.env_watchers, self.environments)

    async def _tick_releases(self) -> None:
        self.ticks += 1
        for plan_id, feed in list(self.feeds.items()):
            try:
                msg = await anyio.to_thread.run_sync(feed.tick, time.time())
            except EnvctlError as err:  # e.g. the environment was torn down under it
                log.info("release %s: %s", plan_id, err.message)
                msg, feed.finished = None, True
            except Exception:
                log.exception("release %s: sampling failed; reloading it from its journal", plan_id)
                self.feeds.pop(plan_id, None)
                for q in self.watchers.pop(plan_id, set()):
                    _end(q)  # their pages reconnect and get a fresh feed
                continue
            if msg is not None:
                self._publish(self.watchers.get(plan_id, set()), msg)
            idle = feed.finished or feed.doc["phase"] == "Pending"
            if idle and not self.watchers.get(plan_id):
                self.feeds.pop(plan_id, None)  # reloaded from the journal when someone looks again


def _end(q: asyncio.Queue[dict[str, Any] | None]) -> None:
    """End a subscriber's stream, making room for the end marker if its queue is full."""
    if q.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            q.get_nowait()
    q.put_nowait(None)


def _environments_doc() -> dict[str, Any]:
    listing = catalog_mod.environments()
    return {"environments": listing.items, "notes": listing.notes, "at": iso(time.time())}
