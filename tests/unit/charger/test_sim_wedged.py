"""A wedged simulator worker is reported as such, not as the healthy fleet it last described."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from envctl.charger.simulator.fleet import SimulatedFleet
from envctl.charger.simulator.live import render
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.stats import WEDGED_AFTER_S, WorkerStats, totals
from envctl.charger.simulator.worker import Worker, _LoopBeat, live_snapshot


def snap(worker: int, target: int, **extra: Any) -> dict[str, Any]:
    s = WorkerStats(worker, target).snapshot([])
    s.update(alive=True, connected=target, booted=target, loop_lag_ms=20.0)
    s.update(extra)
    return s


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


def test_the_reporter_thread_does_not_vouch_for_a_loop_that_stopped(loop: asyncio.AbstractEventLoop) -> None:
    worker = Worker(SimConfig(chargers=2), Shard(0, 0, 2))
    beat = _LoopBeat(loop, worker)
    fresh = live_snapshot(worker, beat)
    assert fresh["wedged"] is False and fresh["loop_lag_ms"] < 1000

    beat.last = time.monotonic() - WEDGED_AFTER_S - 1  # the loop's 0.25 s timer last ran 11 s ago
    stuck = live_snapshot(worker, beat)
    assert stuck["wedged"] is True and stuck["loop_lag_ms"] >= WEDGED_AFTER_S * 1000
    beat.cancel()


def test_status_counts_wedged_and_silent_workers_but_not_starting_finished_or_dead_ones() -> None:
    now = time.time()
    old = now - WEDGED_AFTER_S - 5
    body = totals(
        [
            snap(0, 10),  # healthy
            snap(1, 20, wedged=True, loop_lag_ms=12_000.0),  # its reporter says the loop is stuck
            snap(2, 30, at=old),  # its reporter went silent: the whole process is stuck
            snap(3, 40, at=old, loop_lag_ms=12_000.0, placeholder=True),  # not reported yet
            snap(4, 50, at=old, loop_lag_ms=12_000.0, final=True),  # finished
            snap(5, 60, at=old, alive=False),  # died: counted by workers_failed instead
        ],
        target=210,
        now=now,
    )
    assert [w["wedged"] for w in body["workers"]] == [False, True, True, False, False, False]
    assert body["stalled_workers"] == 2 and body["stalled_chargers"] == 50
    assert body["connected"] == 210  # the last numbers stay, flagged rather than dropped


def test_the_fleet_status_timeline_report_and_live_view_show_stalled_workers() -> None:
    fleet = SimulatedFleet(SimConfig(chargers=6), workers=3)
    started = time.time() - 30
    fleet.snapshots = {0: snap(0, 2), 1: snap(1, 2, loop_lag_ms=15_000.0, wedged=True), 2: snap(2, 2)}
    status = fleet._tick(started)
    assert status["stalled_workers"] == 1 and status["stalled_chargers"] == 2
    assert [w["wedged"] for w in status["workers"]] == [False, True, False]
    assert fleet.timeline[-1]["stalled_workers"] == 1

    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(render(status))
    assert "stalled workers" in out.getvalue() and "1 (2 chargers, numbers stale)" in out.getvalue()

    # The worker recovers (or is replaced): the status says so, the report keeps the peak.
    fleet.snapshots[1] = snap(1, 2)
    status = fleet._tick(started)
    assert status["stalled_workers"] == 0
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(render(status))
    assert "stalled" not in out.getvalue()
    for s in fleet.snapshots.values():
        s["final"] = True
    report = fleet._report(started, fleet.status())
    assert report["stalled_workers_max"] == 1 and report["stalled_workers"] == 0
