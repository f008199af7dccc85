"""Pure pieces of the live chart: rates per second from many processes, and the fallback chart.

Each replica counts the connects it accepted per epoch second (envctl/charger/rates.py), so the
fleet's reconnects per second are those counts summed by second: exact, whatever the sampling
schedule. A replica that has been retired stops answering, so the last series it gave is kept
and still counts for the seconds it covered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from envctl.charger.rates import merge

# A second's counts are final once the second is over everywhere: the replicas answer live, the
# simulator rewrites its status file about once a second, so two seconds behind is complete.
SETTLED_AFTER_S = 2


def settled_until(now: float) -> int:
    """The newest epoch second whose counts are complete at `now`."""
    return int(now) - SETTLED_AFTER_S


def rate_points(
    server_series: Iterable[Iterable[Sequence[int]]],
    failure_series: Iterable[Sequence[int]] | None,
    first: int,
    last: int,
) -> list[list[int | None]]:
    """[[second, reconnects, failures], ...] for every second in [first, last], gaps as zeros.

    `failures` is None throughout when nobody can see the chargers' side (no simulator)."""
    if last < first:
        return []
    connects = merge(*server_series)
    failures = None if failure_series is None else merge(failure_series)
    return [
        [sec, connects.get(sec, 0), None if failures is None else failures.get(sec, 0)]
        for sec in range(first, last + 1)
    ]


# A replica that misses one sample (a stalled process under load, a slow admin answer) still holds
# its chargers: its last answer stands in for this long, so the chart does not dip to zero. Past
# that it is taken as gone (retired replicas hold no connections by then, crashed ones lost theirs).
STALE_AFTER_S = 5.0


def fill_unanswered(
    per_replica: Mapping[str, Mapping[str, Any]], last: dict[str, tuple[float, Mapping[str, Any]]], now: float,
    retired: frozenset[str] = frozenset(),
) -> dict[str, Mapping[str, Any]]:
    """Each replica's stats now, or its last answer if that is recent; updates `last`. A replica the
    release retired holds nothing: its last answer (taken before its final drain) must not linger."""
    out: dict[str, Mapping[str, Any]] = {}
    for rid, stats in per_replica.items():
        if stats:
            last[rid] = (now, stats)
            out[rid] = stats
        elif rid in last and rid not in retired and now - last[rid][0] <= STALE_AFTER_S:
            out[rid] = last[rid][1]
        else:
            out[rid] = {}
    return out


def split_by_version(
    per_replica: Mapping[str, Mapping[str, Any]], old_ids: set[str], to_version: str
) -> tuple[int, int]:
    """Connections on the old replicas and on the new ones, from each replica's /admin/stats."""
    old = new = 0
    for rid, stats in per_replica.items():
        if not stats:
            continue
        n = int(stats.get("connections", 0))
        if rid in old_ids:
            old += n
        elif str(stats.get("version", "")) == to_version:
            new += n
    return old, new


def journal_rates(journal_timeline: Mapping[str, Any], started_at: float) -> list[list[int | None]]:
    """For a release no dashboard watched: chargers the engine disconnected per second (forward and
    back), from release/timeline.py's reading of its journal. They reconnect within a second or
    so, so this is the reconnect curve up to that lag; failures are unknown."""
    t0 = int(started_at)
    return [[t0 + int(s["t"]), int(s["forward"]) + int(s["back"]), None] for s in journal_timeline.get("seconds", [])]


def dedupe(points: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Points keyed by their first element (time), the last one seen wins, sorted by time."""
    by_t: dict[Any, list[Any]] = {}
    for p in points:
        by_t[p[0]] = list(p)
    return [by_t[t] for t in sorted(by_t)]


def peak(points: Iterable[Sequence[Any]], column: int = 1) -> int:
    return max((int(p[column]) for p in points if p[column] is not None), default=0)
