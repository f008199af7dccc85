"""Sampling a release from the outside, once a second, without help from the thing measured.

Replica counters come from each replica's /admin/stats at a known instant. The simulator rewrites
its status file about once a second on its own clock, so its cumulative counters are recorded with
the file's own `updated_at` and interpolated onto whole seconds afterwards: sampling one 1 Hz
source with another would otherwise fold two seconds into one and invent peaks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from typing import Protocol

from envctl.charger import rates


class Watched(Protocol):
    """What the sampler needs of a fleet (LocalFleet and KubernetesFleet both offer it)."""

    def replica_stats(self) -> list[tuple[str, str, dict[str, Any] | None]]: ...

    def simulator_status(self) -> dict[str, Any] | None: ...

SIM_COUNTERS = ("reconnects_total", "connect_failures_total", "disconnects_total", "connects_total")


@dataclass
class FleetPoint:
    t: float
    connected_old: int
    connected_new: int
    replicas_old: int
    replicas_new: int
    server_connects: int  # connects accepted by any replica since the previous point


@dataclass
class Sampler:
    fleet: Watched
    to_version: str
    interval_s: float = 1.0
    fleet_points: list[FleetPoint] = field(default_factory=list)
    sim_points: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._connects: dict[str, int] = {}
        self._connect_series: dict[str, list[list[int]]] = {}  # replica id -> its connects per second

    def __enter__(self) -> Sampler:
        self.started_at = time.time()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_fleet = time.time()
        while not self._stop.is_set():
            now = time.time()
            self._sample_sim()
            if now >= next_fleet:
                self._sample_fleet(now)
                next_fleet += self.interval_s
                if next_fleet < now:
                    next_fleet = now + self.interval_s
            self._stop.wait(0.2)
        self._sample_sim()
        self._sample_fleet(time.time())

    def _sample_sim(self) -> None:
        status = self.fleet.simulator_status()
        if not status or "updated_at" not in status:
            return
        at = float(status["updated_at"])
        if self.sim_points and at <= self.sim_points[-1][0]:
            return
        self.sim_points.append((at, status))

    def _sample_fleet(self, now: float) -> None:
        old = new = r_old = r_new = connects = 0
        with contextlib.suppress(Exception):
            for rid, version, stats in self.fleet.replica_stats():
                if stats is None:
                    continue
                n = int(stats.get("connections", 0))
                self._connect_series[rid] = stats.get("connects_per_second") or []
                total = int(stats.get("connects_total", 0))
                connects += max(0, total - self._connects.get(rid, 0))
                self._connects[rid] = total
                # What the server says it runs: a rolling update changes it under the same labels.
                if str(stats.get("version") or version) == self.to_version:
                    new, r_new = new + n, r_new + 1
                else:
                    old, r_old = old + n, r_old + 1
        self.fleet_points.append(FleetPoint(now, old, new, r_old, r_new, connects))

    # -- afterwards -------------------------------------------------------------------------------

    def sim_counter_at(self, name: str, at: float) -> float:
        """The simulator's cumulative counter `name` at time `at`, linearly interpolated."""
        pts = self.sim_points
        if not pts:
            return 0.0
        times = [p[0] for p in pts]
        i = bisect_left(times, at)
        if i == 0:
            return float(pts[0][1].get(name, 0))
        if i >= len(pts):
            return float(pts[-1][1].get(name, 0))
        (t0, a), (t1, b) = pts[i - 1], pts[i]
        v0, v1 = float(a.get(name, 0)), float(b.get(name, 0))
        return v0 + (v1 - v0) * (at - t0) / (t1 - t0)

    def server_connects_by_second(self) -> dict[int, int]:
        """Connects accepted by all replicas (retired ones included), per epoch second, exact."""
        return rates.merge(*self._connect_series.values())

    def sim_by_second(self, name: str) -> dict[int, int]:
        """A simulator per-second series (e.g. "reconnects"), as last reported, per epoch second."""
        series = (self.last_sim().get("per_second") or {}).get(name) or []
        return rates.merge(series)

    def last_sim(self) -> dict[str, Any]:
        return self.sim_points[-1][1] if self.sim_points else {}


def settle(fleet: Watched, chargers: int, timeout_s: float) -> float:
    """When every charger is connected again (or the timeout passed), by a simulator status written
    after the release finished: the file lags by up to a second and must not vouch for the past."""
    released = time.time()
    deadline = released + timeout_s
    while time.time() < deadline:
        sim = fleet.simulator_status() or {}
        if float(sim.get("updated_at", 0)) > released and int(sim.get("connected", 0)) >= chargers:
            return float(sim["updated_at"])
        time.sleep(0.2)
    return time.time()
