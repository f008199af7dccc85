"""One worker process: a shard of the fleet on its own uvloop, reporting to the parent once a second.

The parent talks to a worker over a multiprocessing pipe: the worker sends snapshots (see
stats.WorkerStats.snapshot), the parent sends "stop". A worker also stops on SIGTERM/SIGINT or
when the parent disappears (pipe EOF), and always flushes its ledger and sends a final snapshot.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from envctl.charger.gctuning import freeze_startup_objects, tune_gc
from envctl.charger.simulator.chargepoint import ChargePoint
from envctl.charger.simulator.context import Context
from envctl.charger.simulator.ledger import LedgerWriter
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.stats import WEDGED_AFTER_S, WorkerStats

# Handshakes in flight per worker during an unpaced (--connect-rate 0) initial ramp.
INITIAL_CONCURRENCY = 512
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * _PAGE


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Worker:
    """A shard of chargers in the running event loop; usable in-process by tests, too."""

    def __init__(self, cfg: SimConfig, shard: Shard, connect_rate: float | None = None) -> None:
        self.cfg = cfg
        self.shard = shard
        self.stats = WorkerStats(shard.worker, shard.count)
        self.stats.rss_baseline_bytes = rss_bytes()
        self.ledger = LedgerWriter(cfg.ledger_dir, shard.worker)
        self.ctx = Context(cfg, self.stats, self.ledger, shard.worker)
        self.rate = cfg.connect_rate if connect_rate is None else connect_rate
        self.chargers = [
            ChargePoint(self.ctx, cfg.charger_id(i), cfg.source_address(i))
            for i in range(shard.start, shard.start + shard.count)
        ]
        self.tasks: list[asyncio.Task[None]] = []
        self._ramp: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._ramp = asyncio.get_running_loop().create_task(self._launch())

    async def _launch(self) -> None:
        loop = asyncio.get_running_loop()
        if self.rate <= 0:
            self.ctx.initial_gate = asyncio.Semaphore(INITIAL_CONCURRENCY)
            self.tasks = [loop.create_task(cp.run()) for cp in self.chargers]
            return
        t0 = time.monotonic()
        for i, cp in enumerate(self.chargers):
            wait = t0 + i / self.rate - time.monotonic()
            if wait > 0.005:
                await asyncio.sleep(wait)
            self.tasks.append(loop.create_task(cp.run()))

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        ongoing = [now - cp.offline_since for cp in self.chargers if cp.offline_since is not None]
        self.stats.rss_bytes = rss_bytes()
        snap = self.stats.snapshot(ongoing)
        snap["cpu_s"] = round(time.process_time(), 3)
        return snap

    def by_id(self, charger_id: str) -> ChargePoint:
        return next(cp for cp in self.chargers if cp.id == charger_id)

    async def stop(self, close_timeout: float = 3.0) -> None:
        self.ctx.stopping = True
        if self._ramp is not None:
            self._ramp.cancel()
        closers = [c for cp in self.chargers if (c := cp.close()) is not None]
        if closers:
            try:
                await asyncio.wait_for(asyncio.gather(*closers, return_exceptions=True), close_timeout)
            except TimeoutError:
                pass
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.ledger.close()


async def _serve(cfg: SimConfig, shard: Shard, conn: Connection, rate: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def from_parent() -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            stop.set()
            return
        if msg == "stop":
            stop.set()

    loop.add_reader(conn.fileno(), from_parent)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    worker = Worker(cfg, shard, rate)
    worker.start()
    beat = _LoopBeat(loop, worker)
    done = threading.Event()
    # Snapshots go out from a thread: during a reconnect storm the event loop can be busy for
    # seconds at a time, and the status file must keep moving exactly then.
    reporter = threading.Thread(target=_report, args=(worker, conn, beat, done), name="sim-report", daemon=True)
    reporter.start()
    await stop.wait()
    done.set()
    reporter.join()
    beat.cancel()
    # Gauges describe the fleet as it ran, not as it is after we closed every connection ourselves.
    before = worker.snapshot()
    await worker.stop()
    final = worker.snapshot()
    for gauge in ("connected", "booted", "currently_offline", "never_connected", "offline_s"):
        final[gauge] = before[gauge]
    final["final"] = True
    _send(conn, final)


class _LoopBeat:
    """A 0.25 s timer on the event loop: it flushes the ledger and shows how late the loop runs."""

    PERIOD = 0.25

    def __init__(self, loop: asyncio.AbstractEventLoop, worker: Worker) -> None:
        self.loop, self.worker = loop, worker
        self.last = time.monotonic()
        self.flushed = self.last
        self.handle = loop.call_later(self.PERIOD, self.tick)

    def tick(self) -> None:
        self.last = now = time.monotonic()
        if now - self.flushed >= 1.0:
            self.worker.ledger.flush()
            self.flushed = now
        self.handle = self.loop.call_later(self.PERIOD, self.tick)

    def lag_ms(self) -> float:
        return round(max(0.0, time.monotonic() - self.last - self.PERIOD) * 1000, 1)

    def cancel(self) -> None:
        self.handle.cancel()


def _report(worker: Worker, conn: Connection, beat: _LoopBeat, done: threading.Event) -> None:
    while not done.wait(1.0):
        _send(conn, live_snapshot(worker, beat))


def live_snapshot(worker: Worker, beat: _LoopBeat) -> dict[str, Any]:
    """What the reporter thread sends. It runs beside the loop, so it must not vouch for one that
    has stopped: a loop WEDGED_AFTER_S late is marked wedged, and its gauges are the last it set."""
    snap = worker.snapshot()
    snap["loop_lag_ms"] = beat.lag_ms()
    snap["wedged"] = snap["loop_lag_ms"] >= WEDGED_AFTER_S * 1000
    return snap


def _send(conn: Connection, snap: dict[str, Any]) -> None:
    try:
        conn.send(snap)
    except (BrokenPipeError, OSError):
        pass


def main(cfg: SimConfig, shard: Shard, conn: Connection, rate: float) -> None:
    """Entry point of a spawned worker process."""
    import uvloop

    raise_fd_limit()
    tune_gc()
    freeze_startup_objects()
    uvloop.run(_serve(cfg, shard, conn, rate))
