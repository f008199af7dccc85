"""Counters and latency histograms kept as plain Python numbers and exported to Prometheus on scrape.

Why not prometheus_client's own Counter/Histogram on the hot path: every message would pay for
their locks and label lookups. Here a message costs a dict increment and one bisect; the
collector converts everything into metric families only when /metrics is read. Each
CentralSystem owns its registry, so several servers can share a process (tests do).

Every label set is bounded by something the server defines, never by what a charger sends: the
action label is one of OCPP 1.6's actions or UNKNOWN_ACTION (one unauthenticated connection
sending 20,000 made-up action names once grew a replica by 335 MB and /metrics to 744 MB, and a
Heartbeat waited seconds behind a scrape); CALLERROR codes are the spec's; handshake refusals
and stop verdicts are the server's own reasons.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from envctl.charger.protocol.schemas import known_actions
from envctl.charger.rates import PerSecond

UNKNOWN_ACTION = "<unknown>"  # every action name OCPP 1.6 does not define
INVALID_FRAME = "<invalid>"  # a frame that did not parse
ACTION_LABELS = known_actions() | {UNKNOWN_ACTION, INVALID_FRAME}

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip(self.buckets, self.counts):
            running += n
            out.append((repr(bound), float(running)))
        out.append(("+Inf", float(running + self.counts[-1])))
        return out


class RecentWindow:
    """The last `size` samples with their times; percentiles over those younger than `window_s`."""

    __slots__ = ("size", "window_s", "values", "times", "next")

    def __init__(self, size: int = 8192, window_s: float = 30.0) -> None:
        self.size = size
        self.window_s = window_s
        self.values = [0.0] * size
        self.times = [0.0] * size
        self.next = 0

    def observe(self, value: float, now: float) -> None:
        i = self.next % self.size
        self.values[i] = value
        self.times[i] = now
        self.next += 1

    def percentile(self, q: float, now: float | None = None) -> float | None:
        return self.percentile_of(q, now)[0]

    def percentile_of(self, q: float, now: float | None = None) -> tuple[float | None, int]:
        """The percentile and how many samples it was taken over (few samples: it is their maximum)."""
        cutoff = (time.monotonic() if now is None else now) - self.window_s
        n = min(self.next, self.size)
        recent = sorted(v for v, t in zip(self.values[:n], self.times[:n]) if t >= cutoff)
        if not recent:
            return None, 0
        return recent[min(len(recent) - 1, int(q * len(recent)))], len(recent)


class Metrics:
    def __init__(self, connected: Callable[[], int]) -> None:
        self.connected = connected
        self.connects_total = 0
        self.connects_per_second = PerSecond()
        self.disconnects_total = 0
        self.replaced_total = 0
        self.taken_over = 0  # connections closed because another replica's newer connection claimed the charger
        self.superseded_writes = 0  # messages refused by the store's epoch fence (their connection then closed)
        self.claims_failed = 0
        self.stops_refused: dict[str, int] = {}  # reason -> StopTransactions answered but not applied
        self.admission_refused_per_second = PerSecond()
        self.commits_per_second = PerSecond()
        self.db_items_per_second = PerSecond()  # rows written, by commit second
        self.rejected_handshakes: dict[str, int] = {}
        self.messages: dict[str, int] = {}
        self.callerrors: dict[str, int] = {}
        self.handler_latency: dict[str, Histogram] = {}
        self.recent = RecentWindow()
        self.db_commit = Histogram()
        self.db_wait = Histogram()
        self.db_batch_items = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    # hot path -------------------------------------------------------------------------------
    def message(self, action: str, seconds: float) -> None:
        if action not in ACTION_LABELS:
            action = UNKNOWN_ACTION
        self.messages[action] = self.messages.get(action, 0) + 1
        hist = self.handler_latency.get(action)
        if hist is None:
            hist = self.handler_latency[action] = Histogram()
        hist.observe(seconds)
        self.recent.observe(seconds, time.monotonic())

    def callerror(self, code: str) -> None:
        # codes come from ErrorCode (ours); anything else would be a bug, not a new label
        self.callerrors[code] = self.callerrors.get(code, 0) + 1

    def rejected(self, reason: str) -> None:
        self.rejected_handshakes[reason] = self.rejected_handshakes.get(reason, 0) + 1

    def stop_refused(self, reason: str) -> None:
        self.stops_refused[reason] = self.stops_refused.get(reason, 0) + 1

    def commit(self, items: int, commit_s: float, waits: list[float]) -> None:
        self.commits_per_second.add()
        self.db_items_per_second.add(items)
        self.db_commit.observe(commit_s)
        self.db_batch_items += items
        for w in waits:
            self.db_wait.observe(w)

    # read side --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        p99, p99_samples = self.recent.percentile_of(0.99)
        return {
            "connects_total": self.connects_total,
            "connects_per_second": self.connects_per_second.series(),
            "disconnects_total": self.disconnects_total,
            "callerrors_total": sum(self.callerrors.values()),
            "messages_total": sum(self.messages.values()),
            "handler_p99_ms": None if p99 is None else round(p99 * 1000, 3),
            "handler_p99_samples": p99_samples,
            "callerrors_by_code": dict(self.callerrors),
            "messages_by_action": dict(self.messages),
            "rejected_handshakes": dict(self.rejected_handshakes),
            "admission_refused_per_second": self.admission_refused_per_second.series(),
            "commits_per_second": self.commits_per_second.series(),
            "db_items_per_second": self.db_items_per_second.series(),
            "taken_over_total": self.taken_over,
            "superseded_writes_total": self.superseded_writes,
            "claims_failed_total": self.claims_failed,
            "stops_refused": dict(self.stops_refused),
        }

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, m: Metrics) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        m = self.m
        yield GaugeMetricFamily("envctl_ocpp_connected_chargers", "Chargers connected now", value=m.connected())
        yield CounterMetricFamily("envctl_ocpp_connects", "WebSocket connections accepted", value=m.connects_total)
        yield CounterMetricFamily("envctl_ocpp_disconnects", "WebSocket connections ended", value=m.disconnects_total)
        yield CounterMetricFamily("envctl_ocpp_replaced", "Connections replaced by a newer one", value=m.replaced_total)
        yield CounterMetricFamily(
            "envctl_ocpp_taken_over", "Connections closed: a newer connection on another replica claimed the charger",
            value=m.taken_over,
        )
        yield CounterMetricFamily(
            "envctl_ocpp_superseded_writes", "Messages refused by the ownership epoch fence", value=m.superseded_writes
        )
        stops = CounterMetricFamily(
            "envctl_ocpp_stops_refused", "StopTransactions answered but not applied", labels=["reason"]
        )
        for reason, n in sorted(m.stops_refused.items()):
            stops.add_metric([reason], n)
        yield stops
        rej = CounterMetricFamily("envctl_ocpp_rejected_handshakes", "Handshakes refused", labels=["reason"])
        for reason, n in sorted(m.rejected_handshakes.items()):
            rej.add_metric([reason], n)
        yield rej
        msgs = CounterMetricFamily("envctl_ocpp_messages", "CALLs received from chargers", labels=["action"])
        for action, n in sorted(m.messages.items()):
            msgs.add_metric([action], n)
        yield msgs
        errs = CounterMetricFamily("envctl_ocpp_callerrors", "CALLERRORs sent to chargers", labels=["code"])
        for code, n in sorted(m.callerrors.items()):
            errs.add_metric([code], n)
        yield errs
        lat = HistogramMetricFamily(
            "envctl_ocpp_handler_seconds", "Frame received to answer ready, per action", labels=["action"]
        )
        for action, h in sorted(m.handler_latency.items()):
            lat.add_metric([action], h.cumulative(), h.sum)
        yield lat
        for name, doc, h in (
            ("envctl_db_commit_seconds", "One group-commit transaction", m.db_commit),
            ("envctl_db_write_wait_seconds", "A durable write, enqueue to committed", m.db_wait),
        ):
            fam = HistogramMetricFamily(name, doc)
            fam.add_metric([], h.cumulative(), h.sum)
            yield fam
        yield CounterMetricFamily("envctl_db_written_items", "Writes committed", value=m.db_batch_items)
