"""Counters and histograms a worker keeps, and how the parent folds many workers into one total.

Histograms use fixed logarithmic buckets (8% wide), so workers ship sparse bucket counts once a
second and the parent merges them exactly; percentiles are accurate to one bucket (<= 8%),
maxima are exact.
"""

from __future__ import annotations

import math
import time
from typing import Any

from envctl.charger.rates import PerSecond, merge

_GROWTH = 1.08
_LOG_GROWTH = math.log(_GROWTH)


class LogHistogram:
    """Counts of positive values in buckets [floor * 1.08**i, floor * 1.08**(i+1))."""

    __slots__ = ("floor", "counts", "total", "max")

    def __init__(self, floor: float) -> None:
        self.floor = floor
        self.counts: dict[int, int] = {}
        self.total = 0
        self.max = 0.0

    def add(self, value: float) -> None:
        idx = 0 if value <= self.floor else int(math.log(value / self.floor) / _LOG_GROWTH) + 1
        self.counts[idx] = self.counts.get(idx, 0) + 1
        self.total += 1
        if value > self.max:
            self.max = value

    def merge(self, counts: dict[int | str, int], maximum: float) -> None:
        for k, n in counts.items():
            i = int(k)
            self.counts[i] = self.counts.get(i, 0) + n
            self.total += n
        self.max = max(self.max, maximum)

    def percentile(self, q: float) -> float | None:
        """The upper edge of the bucket holding the q-quantile (capped at the exact maximum)."""
        if not self.total:
            return None
        rank = q * self.total
        seen = 0
        for idx in sorted(self.counts):
            seen += self.counts[idx]
            if seen >= rank:
                return min(self.floor * _GROWTH**idx, self.max)
        return self.max

    def to_dict(self) -> dict[str, Any]:
        # dict() copies under the GIL in one step, so the reporter thread may call this safely.
        return {"counts": dict(self.counts), "max": self.max}


# A worker whose event loop has not run for this long is wedged: its chargers are neither sending
# nor reconnecting, and its numbers are the last ones it had, not the fleet as it is.
WEDGED_AFTER_S = 10.0

# Gauge and counter names a worker reports; totals are plain sums of these across workers.
COUNTERS = (
    "connected",
    "booted",
    "connects_total",
    "reconnects_total",
    "connect_failures_total",
    "disconnects_total",
    "calls_total",
    "callerrors_total",
    "call_timeouts_total",
    "central_calls_total",
    "sessions_started",
    "sessions_stopped",
    "tx_queued",
    "tx_sent",
    "tx_acknowledged",
    "tx_dropped",
    "currently_offline",
    "never_connected",
)


class WorkerStats:
    """One worker's live numbers; chargers bump the counters directly (no locks: one thread)."""

    def __init__(self, worker: int, target: int) -> None:
        self.worker = worker
        self.target = target
        for name in COUNTERS:
            setattr(self, name, 0)
        self.never_connected = target
        self.call_latency_ms = LogHistogram(0.05)
        self.offline_s = LogHistogram(0.001)
        self.failure_reasons: dict[str, int] = {}  # connect failure kind -> count
        # Exact per-second counts: the parent sums them by second across workers (rates.py says why).
        self.reconnects_per_second = PerSecond()
        self.failures_per_second = PerSecond()
        self.rss_bytes = 0
        self.rss_baseline_bytes = 0
        self.first_connected_at: float | None = None  # wall time all chargers had connected once
        self.started_at = time.time()

    def snapshot(self, ongoing_offline: list[float]) -> dict[str, Any]:
        """A picklable view; `ongoing_offline` are the current offline spans of still-offline chargers."""
        offline = LogHistogram(self.offline_s.floor)
        offline.merge(dict(self.offline_s.counts), self.offline_s.max)  # type: ignore[arg-type]
        for span in ongoing_offline:
            offline.add(span)
        snap: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        snap.update(
            worker=self.worker,
            target=self.target,
            call_latency_ms=self.call_latency_ms.to_dict(),
            offline_s=offline.to_dict(),
            rss_bytes=self.rss_bytes,
            rss_baseline_bytes=self.rss_baseline_bytes,
            all_connected_at=self.first_connected_at,
            started_at=self.started_at,
            at=time.time(),
            failure_reasons=dict(self.failure_reasons),
            per_second={
                "reconnects": self.reconnects_per_second.series(),
                "connect_failures": self.failures_per_second.series(),
            },
        )
        return snap


def wedged(snap: dict[str, Any], now: float) -> bool:
    """A running worker whose loop lags by WEDGED_AFTER_S (its reporter thread says so) or whose
    reporter has gone silent that long (the whole process is stuck); never one that has not
    reported yet, has finished, or has died (that is `alive: false`)."""
    if snap.get("placeholder") or snap.get("final") or not snap.get("alive", True):
        return False
    lag_s = float(snap.get("loop_lag_ms", 0.0)) / 1000
    return bool(snap.get("wedged")) or lag_s >= WEDGED_AFTER_S or now - float(snap["at"]) >= WEDGED_AFTER_S


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def totals(snapshots: list[dict[str, Any]], target: int, now: float | None = None) -> dict[str, Any]:
    """The status-file body (without updated_at / rates) from the latest snapshot of each worker."""
    now = time.time() if now is None else now
    stalled = [wedged(s, now) for s in snapshots]
    summed = {name: sum(int(s.get(name, 0)) for s in snapshots) for name in COUNTERS}
    latency, offline = LogHistogram(0.05), LogHistogram(0.001)
    for s in snapshots:
        latency.merge(s["call_latency_ms"]["counts"], s["call_latency_ms"]["max"])
        offline.merge(s["offline_s"]["counts"], s["offline_s"]["max"])
    reasons: dict[str, int] = {}
    for s in snapshots:
        for k, n in s.get("failure_reasons", {}).items():
            reasons[k] = reasons.get(k, 0) + n
    rss = sum(int(s.get("rss_bytes", 0)) for s in snapshots)
    baseline = sum(int(s.get("rss_baseline_bytes", 0)) for s in snapshots)
    return {
        "target": target,
        "connected": summed["connected"],
        "booted": summed["booted"],
        "connects_total": summed["connects_total"],
        "reconnects_total": summed["reconnects_total"],
        "connect_failures_total": summed["connect_failures_total"],
        "connect_failure_reasons": reasons,
        "disconnects_total": summed["disconnects_total"],
        "calls_total": summed["calls_total"],
        "callerrors_total": summed["callerrors_total"],
        "call_timeouts_total": summed["call_timeouts_total"],
        "central_calls_total": summed["central_calls_total"],
        "call_latency_ms": {
            "p50": _r(latency.percentile(0.50)),
            "p99": _r(latency.percentile(0.99)),
            "max": _r(latency.max if latency.total else None),
        },
        "sessions": {"started": summed["sessions_started"], "stopped": summed["sessions_stopped"]},
        "tx": {
            "queued": summed["tx_queued"],
            "sent": summed["tx_sent"],
            "acknowledged": summed["tx_acknowledged"],
            "dropped": summed["tx_dropped"],
        },
        "offline": {
            "currently_offline": summed["currently_offline"],
            "never_connected": summed["never_connected"],
            "max_s": _r(offline.max if offline.total else 0.0),
            "p99_s": _r(offline.percentile(0.99) or 0.0),
            "episodes": offline.total,
        },
        "per_second": {
            name: sorted(merge(*(s.get("per_second", {}).get(name, []) for s in snapshots)).items())
            for name in ("reconnects", "connect_failures")
        },
        # Workers whose loop is stuck: their chargers' numbers above are stale, not live.
        "stalled_workers": sum(stalled),
        "stalled_chargers": sum(int(s["target"]) for s, w in zip(snapshots, stalled, strict=True) if w),
        "rss_bytes": rss,
        "rss_per_charger_bytes": (rss // target) if target else None,
        "rss_per_charger_net_bytes": ((rss - baseline) // target) if target and baseline else None,
        "workers": [
            {
                "worker": s["worker"],
                "target": s["target"],
                "connected": s["connected"],
                "connects_total": s["connects_total"],
                "connect_failures_total": s["connect_failures_total"],
                "tx_queued": s["tx_queued"],
                "rss_bytes": s.get("rss_bytes", 0),
                "loop_lag_ms": s.get("loop_lag_ms", 0.0),
                "cpu_s": s.get("cpu_s", 0.0),
                "alive": s.get("alive", True),
                "wedged": w,
            }
            for s, w in zip(snapshots, stalled, strict=True)
        ],
    }
