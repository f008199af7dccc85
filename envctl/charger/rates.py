"""Events counted per wall-clock second, so rates from several processes line up exactly.

Sampling cumulative counters from many processes, each snapshotting on its own schedule, aliases:
a drain at a steady 500/s shows up as alternating 300/s and 800/s samples. Counting each event
in the bucket of the epoch second it happened in, and summing buckets with the same second across
processes, gives the true per-second rate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable


class PerSecond:
    __slots__ = ("_buckets", "_keep")

    def __init__(self, keep_s: int = 900) -> None:
        self._buckets: deque[list[int]] = deque()  # [epoch second, count], oldest first
        self._keep = keep_s

    def add(self, n: int = 1, now: float | None = None) -> None:
        sec = int(time.time() if now is None else now)
        buckets = self._buckets
        if buckets and buckets[-1][0] == sec:
            buckets[-1][1] += n
            return
        buckets.append([sec, n])
        while buckets and buckets[0][0] <= sec - self._keep:
            buckets.popleft()

    def series(self) -> list[list[int]]:
        """[[epoch_second, count], ...] oldest first; seconds without events are left out."""
        return [list(b) for b in self._buckets]


def merge(*series: Iterable[Iterable[int]]) -> dict[int, int]:
    """Sum several processes' series by second."""
    total: dict[int, int] = {}
    for one in series:
        for sec, n in one:
            total[int(sec)] = total.get(int(sec), 0) + int(n)
    return total


def peak(merged: dict[int, int], since: float | None = None, until: float | None = None) -> int:
    """The highest one-second count within [since, until] (complete seconds only)."""
    lo = -1 if since is None else int(since)
    hi = None if until is None else int(until)
    return max((n for sec, n in merged.items() if sec >= lo and (hi is None or sec <= hi)), default=0)
