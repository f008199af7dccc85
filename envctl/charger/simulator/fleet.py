"""The parent process: start worker processes, fold their numbers, publish status, write the report.

Status file (rewritten atomically once a second, see stats.totals for the body): what the local
runtime and the release benchmark poll. The final report is the same body plus rates, timing and
a per-second timeline.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from multiprocessing.connection import Connection, wait
from typing import Any

import orjson

from envctl.charger.simulator import ledger, worker
from envctl.charger.simulator.settings import SimConfig, shards
from envctl.charger.simulator.stats import WorkerStats, totals

_RATED = ("connects", "reconnects", "connect_failures", "disconnects")


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sim-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class SimulatedFleet:
    """The parent's handle on one `envctl sim` run: its worker processes, status file and report."""

    def __init__(
        self,
        cfg: SimConfig,
        workers: int,
        duration: float = 0.0,
        status_file: str | None = None,
        on_tick: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.shards = shards(cfg.chargers, workers)
        self.duration = duration
        self.status_file = status_file
        self.on_tick = on_tick
        self._stop = False
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.peak_connects_per_s = 0.0
        self.peak_stalled_workers = 0
        self._rate_base: dict[int, dict[str, Any]] = {}
        self._worker_rates: dict[int, dict[str, float]] = {}

    def request_stop(self, *_: Any) -> None:
        self._stop = True

    def run(self) -> dict[str, Any]:
        if self.cfg.ledger_dir:
            ledger.clear(self.cfg.ledger_dir)
        ctx = mp.get_context("spawn")
        rate = self.cfg.connect_rate / len(self.shards)
        procs: dict[int, tuple[Any, Connection]] = {}
        started = time.time()
        for shard in self.shards:
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=worker.main, args=(self.cfg, shard, child_end, rate), name=f"sim-w{shard.worker}")
            proc.start()
            child_end.close()
            procs[shard.worker] = (proc, parent_end)
            self.snapshots[shard.worker] = _empty(shard.worker, shard.count)
        old = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._loop(procs, started)
            final = self._finish(procs)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return self._report(started, final)

    def _loop(self, procs: dict[int, tuple[Any, Connection]], started: float) -> None:
        conns = {conn: w for w, (_, conn) in procs.items()}
        next_tick = time.monotonic() + 1.0
        while not self._stop:
            if self.duration and time.time() - started >= self.duration:
                break
            for conn in wait(list(conns), timeout=max(0.0, next_tick - time.monotonic())):
                self._receive(conn, conns)
            if not conns:
                break  # every worker is gone
            if time.monotonic() >= next_tick:
                self._tick(started)
                next_tick = time.monotonic() + 1.0

    def _receive(self, conn: Connection, conns: dict[Connection, int]) -> dict[str, Any] | None:
        w = conns[conn]
        try:
            snap = conn.recv()
        except (EOFError, OSError):
            self.snapshots[w]["alive"] = False
            del conns[conn]
            return None
        self.snapshots[w] = snap
        return snap

    def _rates(self) -> dict[str, float]:
        """Per-second rates from each worker's own clock: a busy worker's late snapshot still counts
        over the time it really covers, instead of a zero second followed by a double one."""
        out = dict.fromkeys(_RATED, 0.0)
        for w, snap in self.snapshots.items():
            last = self._rate_base.get(w)
            if last is not None and snap["at"] > last["at"]:
                span = snap["at"] - last["at"]
                self._worker_rates[w] = {k: (snap[f"{k}_total"] - last[f"{k}_total"]) / span for k in _RATED}
            if last is None or snap["at"] > last["at"]:
                self._rate_base[w] = snap
            for k, v in self._worker_rates.get(w, {}).items():
                out[k] += v
        return out

    def _tick(self, started: float) -> dict[str, Any]:
        status = self.status()
        rates = self._rates()
        status["connects_per_s"] = round(rates["connects"], 1)
        status["reconnects_per_s"] = round(rates["reconnects"], 1)
        self.peak_connects_per_s = max(self.peak_connects_per_s, rates["connects"])
        self.peak_stalled_workers = max(self.peak_stalled_workers, status["stalled_workers"])
        self.timeline.append(
            {
                "t": round(time.time() - started, 1),
                "connected": status["connected"],
                "connects_per_s": round(rates["connects"], 1),
                "reconnects_per_s": round(rates["reconnects"], 1),
                "failures_per_s": round(rates["connect_failures"], 1),
                "disconnects_per_s": round(rates["disconnects"], 1),
                "tx_queued": status["tx"]["queued"],
                "loop_lag_ms": max((w.get("loop_lag_ms", 0.0) for w in status["workers"]), default=0.0),
                "stalled_workers": status["stalled_workers"],
            }
        )
        if self.status_file:
            write_json_atomic(self.status_file, status)
        if self.on_tick is not None:
            self.on_tick(status)
        return status

    def status(self) -> dict[str, Any]:
        now = time.time()
        body = totals(list(self.snapshots.values()), self.cfg.chargers, now)
        body["updated_at"] = now
        return body

    def _finish(self, procs: dict[int, tuple[Any, Connection]]) -> dict[str, Any]:
        for _, conn in procs.values():
            try:
                conn.send("stop")
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + 60.0
        waiting = {conn: w for w, (_, conn) in procs.items() if self.snapshots[w].get("alive", True)}
        while waiting and time.monotonic() < deadline:
            for conn in wait(list(waiting), timeout=max(0.0, deadline - time.monotonic())):
                snap = self._receive(conn, waiting)
                if snap is not None and snap.get("final"):
                    del waiting[conn]
        for proc, conn in procs.values():
            proc.join(timeout=max(0.5, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
        status = self.status()
        if self.status_file:
            write_json_atomic(self.status_file, status)
        return status

    def _report(self, started: float, final: dict[str, Any]) -> dict[str, Any]:
        finished = time.time()
        all_at = [s.get("all_connected_at") for s in self.snapshots.values()]
        initial_s = (max(all_at) - started) if all_at and all(all_at) else None  # type: ignore[type-var]
        report = dict(final)
        report.update(
            started_at=started,
            finished_at=finished,
            duration_s=round(finished - started, 3),
            initial_connect_s=None if initial_s is None else round(initial_s, 3),
            # The ramp: the whole fleet divided by the time until every charger had connected once.
            connects_per_s=None if not initial_s else round(self.cfg.chargers / initial_s, 1),
            peak_connects_per_s=round(self.peak_connects_per_s, 1),
            worker_count=len(self.shards),
            workers_failed=sum(1 for s in self.snapshots.values() if not s.get("final")),
            # Most workers wedged at once during the run (a wedged worker often ends up failed, too).
            stalled_workers_max=self.peak_stalled_workers,
            chargers_disconnected_at_end=self.cfg.chargers - final["booted"],
            config={k: v for k, v in asdict(self.cfg).items() if k != "basic_auth_password"},
            timeline=self.timeline,
        )
        if self.cfg.ledger_dir:
            report["ledger"] = ledger.summarise(self.cfg.ledger_dir).to_dict()
        return report


def _empty(w: int, target: int) -> dict[str, Any]:
    snap = WorkerStats(w, target).snapshot([])
    snap["alive"] = True
    snap["placeholder"] = True  # until the worker's first report: not stalled, just starting
    return snap
