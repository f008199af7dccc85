"""Reading a replica from outside, the way any monitoring would: its Prometheus /metrics, its
/admin/stats, and what the kernel says about its process (CPU, RSS, open-file limit).

Handler latency over one step comes from the difference of two scrapes of the replica's own
histogram (`envctl_ocpp_handler_seconds`), so a step is judged on its own observations only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

HANDLER_HISTOGRAM = "envctl_ocpp_handler_seconds"
Buckets = list[tuple[float, float]]  # (upper bound in seconds, cumulative count), ascending, +Inf last


def handler_buckets(metrics_text: str) -> dict[str, Buckets]:
    """action -> cumulative buckets of the handler latency histogram."""
    out: dict[str, Buckets] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != HANDLER_HISTOGRAM:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                out.setdefault(sample.labels["action"], []).append((float(sample.labels["le"]), sample.value))
    return {action: sorted(b) for action, b in out.items()}


def delta(after: Buckets, before: Buckets | None) -> Buckets:
    prior = dict(before or [])
    return [(le, n - prior.get(le, 0.0)) for le, n in after]


def fraction_within(buckets: Buckets, bound_s: float) -> float | None:
    """Share of observations <= bound (linear within the bucket that holds the bound; exact at edges)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    lo_edge, lo_count = 0.0, 0.0
    for le, count in buckets:
        if bound_s <= le:
            if le == float("inf"):
                return lo_count / total
            share = (bound_s - lo_edge) / (le - lo_edge) if le > lo_edge else 1.0
            return (lo_count + (count - lo_count) * share) / total
        lo_edge, lo_count = le, count
    return 1.0


def quantile(buckets: Buckets, q: float) -> float | None:
    """The q-quantile in seconds, interpolated within its bucket (None: no observations; the last
    finite edge when it falls in the +Inf bucket)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lo_edge, lo_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lo_edge
            inside = count - lo_count
            return lo_edge + (le - lo_edge) * ((rank - lo_count) / inside if inside else 1.0)
        lo_edge, lo_count = le, count
    return lo_edge


@dataclass
class ReplicaProbe:
    """One replica process: its admin API and its process as the kernel sees it."""

    admin_url: str
    pid: int

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=10.0)
        self.proc = psutil.Process(self.pid)

    def close(self) -> None:
        self.http.close()

    def buckets(self) -> dict[str, Buckets]:
        return handler_buckets(self.http.get(self.admin_url + "/metrics").text)

    def connections(self) -> int:
        return int(self.http.get(self.admin_url + "/admin/stats").json()["connections"])

    def cpu_seconds(self) -> float:
        t = self.proc.cpu_times()
        return float(t.user + t.system)

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def open_files(self) -> int:
        return len(list(Path(f"/proc/{self.pid}/fd").iterdir()))

    def open_files_limit(self) -> int:
        soft, _hard = self.proc.rlimit(psutil.RLIMIT_NOFILE)
        return int(soft)
