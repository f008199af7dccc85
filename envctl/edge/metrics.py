"""The edge's counters, exported to Prometheus on scrape (plain numbers on the hot path).

Every label set is bounded: `backend` by the pool (the operator adds backends, chargers cannot),
`reason` and `result` by fixed lists, `direction` by two values. Charger ids never become labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from envctl.charger.rates import PerSecond

if TYPE_CHECKING:
    from envctl.edge.app import Edge

REFUSAL_REASONS = ("path", "draining", "capacity", "no_backend", "backend_status", "backend_unreachable")


class EdgeMetrics:
    def __init__(self) -> None:
        self.frames_up = 0  # charger -> backend, of sessions that ended (live ones count their own)
        self.frames_down = 0  # backend -> charger
        self.connects_total = 0
        self.connects_per_second = PerSecond()
        self.disconnects_total = 0
        self.upstreams_lost = 0
        self.refused: dict[str, int] = dict.fromkeys(REFUSAL_REASONS, 0)

    def refuse(self, reason: str) -> None:
        self.refused[reason] += 1


class _Collector:
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def collect(self) -> Iterator[Metric]:
        e, m = self.edge, self.edge.metrics
        yield GaugeMetricFamily("envctl_edge_connected_chargers", "Chargers connected to this edge", value=len(e.sessions))
        per = GaugeMetricFamily("envctl_edge_backend_connections", "Chargers whose upstream is on the backend",
                                labels=["backend", "version", "state"])
        for b in e.pool.backends.values():
            per.add_metric([b.id, b.version, b.state], len(b.sessions))
        yield per
        frames = CounterMetricFamily("envctl_edge_frames", "Messages forwarded", labels=["direction"])
        for direction, n in e.frames().items():
            frames.add_metric([direction], n)
        yield frames
        moves = CounterMetricFamily("envctl_edge_moves", "Moves between backends, by result", labels=["result"])
        for result, n in sorted(e.mover.results.items()):
            moves.add_metric([result], n)
        yield moves
        yield CounterMetricFamily("envctl_edge_rehomed", "Chargers moved off a backend that went away",
                                  value=e.mover.rehomed_total)
        yield GaugeMetricFamily("envctl_edge_orphans_waiting", "Chargers waiting for a new backend",
                                value=e.mover.orphans_waiting)
        yield GaugeMetricFamily("envctl_edge_move_budget_per_s", "This process' share of the fleet-wide move budget",
                                value=e.mover.pacer.rate)
        yield CounterMetricFamily("envctl_edge_connects", "Charger handshakes accepted", value=m.connects_total)
        yield CounterMetricFamily("envctl_edge_disconnects", "Charger sessions ended", value=m.disconnects_total)
        yield CounterMetricFamily("envctl_edge_upstreams_lost", "Upstreams that ended without the edge asking",
                                  value=m.upstreams_lost)
        rej = CounterMetricFamily("envctl_edge_refused_handshakes", "Charger handshakes refused", labels=["reason"])
        for reason, n in m.refused.items():
            rej.add_metric([reason], n)
        yield rej


def render(edge: Edge) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(edge))
    return generate_latest(registry)
