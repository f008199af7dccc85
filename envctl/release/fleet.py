"""What the release engine needs from a fleet of charger-server replicas, and nothing more.

The engine never knows where replicas run. A runtime adapter (envctl/release/fleets/) says how
to list, start and retire replicas; the operations on a running replica go through its admin HTTP
API (envctl/charger/server/admin_client.py), the same on every runtime.

    Fleet (Protocol)
     ├── replicas()                      -> [ReplicaView]  version, ready, connections, accepting
     ├── start(version, count, args, image) -> ids started (returns once each is up, or raises)
     ├── set_accepting(id, bool)         new connections on/off, existing ones untouched
     ├── disconnect(id, n)               close up to n now (code 1012) -> closed
     ├── health(ids)                     -> HealthSample (counters to diff over a window)
     └── retire(id)                      stop the replica for good
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ReplicaView:
    id: str
    version: str
    alive: bool
    ready: bool
    accepting: bool
    draining: bool
    connections: int


@dataclass(frozen=True)
class HealthSample:
    """Counters of a set of replicas at one instant; judged by difference between two samples.

    Client-side counters (connect attempts that failed) exist only where the runtime can see the
    chargers' side (the simulator); None means "not observable here", not zero.
    """

    at: float
    replicas: int
    replicas_ready: int
    connections: int
    connects_total: int
    callerrors_total: int
    messages_total: int
    handler_p99_ms: float
    handler_p99_samples: int | None = None  # of the replica with the highest p99 (None: not reported)
    client_connects_total: int | None = None
    client_connect_failures_total: int | None = None
    per_replica: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "per_replica"}


class Fleet(Protocol):
    def replicas(self) -> list[ReplicaView]: ...

    def start(self, version: str, count: int, extra_args: Sequence[str] = (), image: str | None = None) -> list[str]: ...

    def set_accepting(self, replica_id: str, accepting: bool) -> None: ...

    def disconnect(self, replica_id: str, count: int) -> int: ...

    def health(self, replica_ids: Sequence[str], at: float) -> HealthSample: ...

    def retire(self, replica_id: str) -> None: ...

    def expected_chargers(self) -> int | None:
        """How many chargers should be connected, when the runtime knows (None otherwise)."""
        ...


def view_from_stats(replica_id: str, version: str, alive: bool, stats: dict[str, Any] | None) -> ReplicaView:
    if not alive or stats is None:
        return ReplicaView(replica_id, version, alive, False, False, False, 0)
    accepting = bool(stats.get("accepting", True))
    draining = bool(stats.get("draining", False))
    return ReplicaView(
        id=replica_id,
        version=str(stats.get("version", version)),
        alive=True,
        ready=True,  # answered its admin API; whether it takes connections is `accepting`
        accepting=accepting and not draining,
        draining=draining,
        connections=int(stats.get("connections", 0)),
    )


def sum_health(
    at: float,
    stats_by_id: dict[str, dict[str, Any] | None],
    client: dict[str, Any] | None = None,
) -> HealthSample:
    """Fold per-replica /admin/stats into one sample; a replica that did not answer counts unready."""
    answered = {k: v for k, v in stats_by_id.items() if v is not None}
    slowest = max(answered.values(), key=lambda s: float(s.get("handler_p99_ms", 0.0) or 0.0), default=None)
    return HealthSample(
        at=at,
        replicas=len(stats_by_id),
        replicas_ready=len(answered),
        connections=sum(int(s.get("connections", 0)) for s in answered.values()),
        connects_total=sum(int(s.get("connects_total", 0)) for s in answered.values()),
        callerrors_total=sum(int(s.get("callerrors_total", 0)) for s in answered.values()),
        messages_total=sum(int(s.get("messages_total", 0)) for s in answered.values()),
        handler_p99_ms=float(slowest.get("handler_p99_ms", 0.0) or 0.0) if slowest else 0.0,
        handler_p99_samples=None if slowest is None or "handler_p99_samples" not in slowest
        else int(slowest["handler_p99_samples"]),
        client_connects_total=None if client is None else int(client.get("connects_total", 0)),
        client_connect_failures_total=None if client is None else int(client.get("connect_failures_total", 0)),
        per_replica={k: (v or {}) for k, v in stats_by_id.items()},
    )
