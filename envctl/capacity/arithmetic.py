"""The capacity arithmetic: a fleet and a measured profile in, a sizing out. Pure: no I/O, no clock.

The model (docs/capacity.md works examples by hand):

- One replica's capacity is 1 "replica unit" of work. A heartbeat costs 1/H of it, a durable
  message (a write committed before the answer) 1/D, a reconnect 1/C: handshake, BootNotification
  and the StatusNotifications a charger sends after booting, as measured (a fleet with more or
  fewer connectors than the measurement adds or saves the difference at 1/H each). H, D, C are
  the profile's measured limits at handler p99 <= the bound, so the units add up linearly: the
  replica is at its bound when the shares sum to 1.
- Steady load u (replica units) comes from the fleet: N/heartbeat heartbeats per second, and per
  charging session an Authorize and two StatusNotifications (light), a StartTransaction, a
  StopTransaction and one MeterValues per meter interval (durable). `session_rate` is how often a
  driver arrives; one who finds every connector busy leaves (Erlang B over the connectors, as the
  simulator and a real charger behave), so only the carried sessions count.
- Replicas: enough that `spike` times the steady load still fits (ceil(spike * u)), and enough
  that no replica holds more connections than it has file descriptors for.
- Storm absorbed: reconnects per second the fleet takes on top of its steady load,
  (R - u) / cost_of_a_reconnect.
- Release budget: the same, but keeping the spike headroom while the release runs,
  (R - spike * u) / cost_of_a_reconnect, so a spike during a release still fits.
- The store is shared: every replica commits to the same database, so its commits within the
  bound (measured with two replicas on it) are a fleet-wide limit that more replicas do not raise.
  Each reconnect's BootNotification is one commit: storm and budget are capped by what the store
  has left after the steady (resp. spike) durable writes, and a spike of durable writes beyond it
  is reported as "bound by the store".
- Release duration: what the release engine does with that budget: start the new replicas, move
  N chargers paced at PACE_SHARE of the budget, hold the canary, verify.
- Requests: the CPU the replica used at its measured limits (they only hold with that CPU), and
  memory for its share of the chargers at the top of the +-5 % rebalance band.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from envctl.capacity.profile import CapacityProfile
from envctl.capacity.requests import ResourceRequests
from envctl.errors import ConfigError
from envctl.release.engine import PACE_SHARE
from envctl.release.plan import START_ALLOWANCE_S, VERIFY_ALLOWANCE_S, PlanOptions

# After a BootNotification a charger reports every connector and the charge point itself.
STATUS_PER_BOOT_EXTRA = 1
# Per session, light: Authorize + StatusNotification(Charging) + StatusNotification(Available).
LIGHT_PER_SESSION = 3
# Per session, durable: StartTransaction + StopTransaction (MeterValues counted separately).
DURABLE_PER_SESSION = 2
REBALANCE_BAND = 0.05  # `envctl rebalance` keeps every replica within +-5 % of the mean


@dataclass(frozen=True)
class Fleet:
    chargers: int
    heartbeat_s: float = 60.0
    session_rate: float = 0.0  # charging sessions per charger per hour
    session_minutes: float = 30.0  # mean session length
    meter_interval_s: float = 60.0
    connectors: int = 2
    spike: float = 5.0
    hold_s: float = PlanOptions.model_fields["hold_s"].default  # the release's canary hold

    def check(self) -> None:
        if self.chargers < 1:
            raise ConfigError(f"--chargers must be at least 1, got {self.chargers}")
        if self.heartbeat_s <= 0:
            raise ConfigError(f"--heartbeat must be positive, got {self.heartbeat_s:g}s")
        if self.session_rate < 0:
            raise ConfigError(f"--session-rate must be >= 0 sessions per charger per hour, got {self.session_rate:g}")
        if self.spike < 1:
            raise ConfigError(f"--spike must be at least 1 (the steady load itself), got {self.spike:g}")
        if self.meter_interval_s <= 0 or self.session_minutes <= 0:
            raise ConfigError("--meter-interval and --session-minutes must be positive")
        if self.connectors < 1:
            raise ConfigError(f"--connectors must be at least 1, got {self.connectors}")


@dataclass(frozen=True)
class SteadyLoad:
    light_per_s: float  # heartbeats, Authorize, StatusNotification
    durable_per_s: float  # StartTransaction, StopTransaction, MeterValues
    replica_units: float  # the share of one replica's capacity this load takes


@dataclass(frozen=True)
class StoreLoad:
    """The store every replica writes to: its commits within the bound are a fleet-wide resource."""

    capacity_per_s: float  # durable writes it commits within the p99 bound, whole fleet
    steady_per_s: float
    spike: float

    @property
    def utilisation_spike(self) -> float:
        return self.spike * self.steady_per_s / self.capacity_per_s if self.capacity_per_s else math.inf

    @property
    def bound(self) -> bool:
        return self.utilisation_spike > 1


@dataclass(frozen=True)
class Sizing:
    replicas: int
    replicas_by_load: int
    replicas_by_connections: int
    cpu_millicores: int
    memory_bytes: int
    connections_per_replica: int
    steady: SteadyLoad
    reconnect_cost_units: float
    storm_absorbed_per_s: float
    release_budget_per_s: float
    release_duration_s: float | None  # None: no budget, no release
    utilisation_steady: float  # of the whole fleet's capacity
    utilisation_spike: float
    store: StoreLoad | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def requests(self) -> ResourceRequests:
        return ResourceRequests(self.cpu_millicores, self.memory_bytes)

    @property
    def cpu(self) -> str:
        return self.requests.cpu

    @property
    def memory(self) -> str:
        return self.requests.memory

    @property
    def bound_by(self) -> str:
        if self.store is not None and self.store.bound:
            return "store"
        return "connections" if self.replicas_by_connections >= self.replicas_by_load else "load"

    def to_dict(self) -> dict[str, Any]:
        """The `envctl capacity --output json` contract (DESIGN.md) plus the working."""
        return {
            "replicas": self.replicas,
            "requests": {"cpu": self.cpu, "memory": self.memory},
            "storm_absorbed_per_s": round(self.storm_absorbed_per_s, 1),
            "release_budget_per_s": round(self.release_budget_per_s, 1),
            "release_duration_s": None if self.release_duration_s is None else round(self.release_duration_s, 1),
            "bound_by": self.bound_by,
            "replicas_by_load": self.replicas_by_load,
            "replicas_by_connections": self.replicas_by_connections,
            "connections_per_replica": self.connections_per_replica,
            "steady": {k: round(v, 4) for k, v in asdict(self.steady).items()},
            "reconnect_cost_units": self.reconnect_cost_units,
            "utilisation": {"steady": round(self.utilisation_steady, 4), "spike": round(self.utilisation_spike, 4)},
            "store": None if self.store is None else {
                "commits_per_s_within_bound": round(self.store.capacity_per_s, 1),
                "steady_writes_per_s": round(self.store.steady_per_s, 1),
                "utilisation_spike": round(self.store.utilisation_spike, 4),
            },
            "warnings": self.warnings,
        }


def erlang_b(servers: int, offered_erlangs: float) -> float:
    """Share of arrivals that find all `servers` busy (Erlang's loss formula, by its recurrence)."""
    blocked = 1.0
    for k in range(1, servers + 1):
        blocked = offered_erlangs * blocked / (k + offered_erlangs * blocked)
    return blocked


def carried_sessions_per_s(fleet: Fleet) -> float:
    offered = fleet.session_rate * fleet.session_minutes / 60  # erlangs per charger
    return fleet.chargers * fleet.session_rate / 3600 * (1 - erlang_b(fleet.connectors, offered))


def steady_load(fleet: Fleet, profile: CapacityProfile) -> SteadyLoad:
    sessions_per_s = carried_sessions_per_s(fleet)
    meters_per_session = fleet.session_minutes * 60 / fleet.meter_interval_s
    light = fleet.chargers / fleet.heartbeat_s + sessions_per_s * LIGHT_PER_SESSION
    durable = sessions_per_s * (DURABLE_PER_SESSION + meters_per_session)
    units = light / profile.heartbeats.per_s + durable / profile.durable_messages.per_s
    return SteadyLoad(light, durable, units)


def reconnect_cost(fleet: Fleet, profile: CapacityProfile) -> float:
    """Replica units one reconnecting charger costs: as measured (handshake, boot, status reports),
    corrected for a fleet whose chargers report more or fewer statuses than the measured ones."""
    extra_statuses = fleet.connectors + STATUS_PER_BOOT_EXTRA - profile.connect_statuses
    return 1 / profile.connects.per_s + extra_statuses / profile.heartbeats.per_s


def store_load(fleet: Fleet, profile: CapacityProfile, steady: SteadyLoad, replicas: int) -> StoreLoad | None:
    """One replica has the store to itself (its measured durable limit); several share what the
    store commits with several writers on it, which does not grow with more replicas."""
    if profile.shared_store is None:
        return None  # a profile from before the shared store was measured: per-replica only
    capacity = profile.durable_messages.per_s if replicas == 1 else profile.shared_store.per_s
    return StoreLoad(capacity, steady.durable_per_s, fleet.spike)


def release_duration(chargers: int, replicas: int, budget_per_s: float, hold_s: float) -> float | None:
    """The release engine's own pace: new replicas started one by one, every charger moved at
    PACE_SHARE of the budget (the engine's headroom for late deliveries), the canary hold, verify."""
    if budget_per_s <= 0:
        return None
    return replicas * START_ALLOWANCE_S + chargers / (budget_per_s * PACE_SHARE) + hold_s + VERIFY_ALLOWANCE_S


def size(fleet: Fleet, profile: CapacityProfile) -> Sizing:
    fleet.check()
    steady = steady_load(fleet, profile)
    by_load = max(1, math.ceil(fleet.spike * steady.replica_units - 1e-9))
    by_connections = max(1, math.ceil(fleet.chargers / profile.connections_limit))
    replicas = max(by_load, by_connections)
    cost = reconnect_cost(fleet, profile)
    storm = max(0.0, (replicas - steady.replica_units) / cost)
    budget = max(0.0, math.floor((replicas - fleet.spike * steady.replica_units) / cost))
    store = store_load(fleet, profile, steady, replicas)
    if store is not None:  # every reconnect's BootNotification is one more commit on the shared store
        storm = min(storm, max(0.0, store.capacity_per_s - steady.durable_per_s))
        budget = min(budget, max(0.0, math.floor(store.capacity_per_s - fleet.spike * steady.durable_per_s)))
    per_replica = math.ceil(fleet.chargers / replicas)
    at_band_top = math.ceil(fleet.chargers / replicas * (1 + REBALANCE_BAND))
    memory = profile.memory.base_bytes + profile.memory.per_connection_bytes * at_band_top
    cores = max(profile.connects.cpu_cores, profile.heartbeats.cpu_cores, profile.durable_messages.cpu_cores)
    warnings = []
    if store is not None and store.bound:
        warnings.append(
            f"the store is the limit: {fleet.spike:g}x the steady durable writes "
            f"({fleet.spike * steady.durable_per_s:,.0f}/s) is more than it commits within the p99 bound "
            f"({store.capacity_per_s:,.0f}/s with {profile.shared_store_writers} replicas on it); more replicas do not help"
        )
    if budget < 1:
        warnings.append(
            f"the {fleet.spike:g}x spike headroom leaves no reconnect budget for releases; "
            f"with {replicas + 1} replicas it would be {math.floor((replicas + 1 - fleet.spike * steady.replica_units) / cost)}/s"
        )
    for name in ("connects", "heartbeats", "durable_messages"):
        if getattr(profile, name).reached_ceiling:
            warnings.append(
                f"the profile's {name} limit is where the load generator ran out, not the replica: "
                "the real limit is higher, so this sizing is conservative"
            )
    return Sizing(
        replicas=replicas,
        replicas_by_load=by_load,
        replicas_by_connections=by_connections,
        cpu_millicores=max(10, math.ceil(cores * 100) * 10),
        memory_bytes=memory,
        connections_per_replica=per_replica,
        steady=steady,
        reconnect_cost_units=cost,
        storm_absorbed_per_s=storm,
        release_budget_per_s=float(budget),
        release_duration_s=release_duration(fleet.chargers, replicas, budget, fleet.hold_s),
        utilisation_steady=steady.replica_units / replicas,
        utilisation_spike=fleet.spike * steady.replica_units / replicas,
        store=store,
        warnings=warnings,
    )
