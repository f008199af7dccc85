"""The capacity arithmetic against cases worked by hand (the working is in the comments and in
docs/capacity.md), so a change to the model shows up as a changed number here."""

from __future__ import annotations

import json

import pytest

from envctl.capacity.arithmetic import Fleet, erlang_b, release_duration, size, steady_load
from envctl.capacity.profile import CapacityProfile, Limit, Memory
from envctl.errors import ConfigError

MIB = 2**20


def profile(connects: float, heartbeats: float, durable: float, cores: float = 1.0) -> CapacityProfile:
    return CapacityProfile(
        measured_at="2026-12-01T00:00:00Z",
        server_version="v1",
        database="sqlite",
        p99_bound_ms=20.0,
        connects=Limit(per_s=connects, cpu_s_per_op=cores / connects, cpu_cores=cores),
        heartbeats=Limit(per_s=heartbeats, cpu_s_per_op=cores / heartbeats, cpu_cores=cores),
        durable_messages=Limit(per_s=durable, cpu_s_per_op=cores / durable, cpu_cores=cores),
        memory=Memory(base_bytes=50 * MIB, per_connection_bytes=25_000, connections_measured=10_000),
        connections_limit=19_900,
    )


FAST = profile(connects=2000, heartbeats=20_000, durable=4000)
SLOW = profile(connects=200, heartbeats=2000, durable=400, cores=0.95)


def test_connection_bound_fleet() -> None:
    # 30,000 chargers heartbeating every 60 s: 500 light messages/s = 500/20,000 = 0.025 units.
    s = size(Fleet(chargers=30_000, heartbeat_s=60, spike=5), FAST)
    assert s.steady.light_per_s == pytest.approx(500)
    assert s.steady.durable_per_s == 0
    assert s.steady.replica_units == pytest.approx(0.025)
    # 5 x 0.025 fits one replica, but 30,000 connections need ceil(30,000 / 19,900) = 2.
    assert (s.replicas_by_load, s.replicas_by_connections, s.replicas) == (1, 2, 2)
    assert s.bound_by == "connections"
    # A reconnect (handshake, boot and the 3 status reports, as measured): 1/2000.
    assert s.reconnect_cost_units == pytest.approx(0.0005)
    # Storm: (2 - 0.025) / 0.0005 = 3950/s; budget keeps the spike: floor((2 - 0.125) / 0.0005) = 3750.
    assert s.storm_absorbed_per_s == pytest.approx(3950.0)
    assert s.release_budget_per_s == 3750
    # Release: 2 replicas x 10 s + 30,000 / (3750 x 0.95) + 30 s hold + 5 s verify = 63.42 s.
    assert s.release_duration_s == pytest.approx(63.42, abs=0.01)
    # Memory: 50 MiB + 25,000 B x ceil(15,000 x 1.05) = 446,178,800 B = 425.5 MiB -> 426Mi; CPU as measured.
    assert s.memory_bytes == 446_178_800
    assert s.to_dict()["requests"] == {"cpu": "1000m", "memory": "426Mi"}


def test_erlang_b() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)  # 1 / (1 + 1)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    assert erlang_b(2, 0.0) == 0.0


def test_load_bound_fleet_with_sessions() -> None:
    # 10,000 chargers, heartbeat 10 s, 2 arrivals per charger per hour of 30 min sessions, 2 connectors:
    # 1 erlang per charger, so 20 % of arrivals find both connectors busy (Erlang B) and leave.
    fleet = Fleet(chargers=10_000, heartbeat_s=10, session_rate=2, session_minutes=30, meter_interval_s=60, spike=5)
    load = steady_load(fleet, SLOW)
    # carried sessions/s = 10,000 x 2 / 3600 x 0.8 = 4.4444; light = 1000 + 3 x 4.4444; durable = 4.4444 x (2 + 30)
    assert load.light_per_s == pytest.approx(1013.333, abs=1e-3)
    assert load.durable_per_s == pytest.approx(142.222, abs=1e-3)
    # units = 1013.333 / 2000 + 142.222 / 400 = 0.50667 + 0.35556
    assert load.replica_units == pytest.approx(0.862222, abs=1e-6)
    s = size(fleet, SLOW)
    # 5 x 0.862222 = 4.3111 -> 5 replicas
    assert (s.replicas_by_load, s.replicas_by_connections, s.replicas, s.bound_by) == (5, 1, 5, "load")
    # cost = 1/200 = 0.005; storm = (5 - 0.862222) / 0.005; budget = floor((5 - 4.311111) / 0.005)
    assert s.storm_absorbed_per_s == pytest.approx(827.56, abs=0.01)
    assert s.release_budget_per_s == 137
    assert s.release_duration_s == pytest.approx(5 * 10 + 10_000 / (137 * 0.95) + 35, abs=0.01)
    assert s.utilisation_spike == pytest.approx(0.862222, abs=1e-6)
    assert s.cpu == "950m"


def test_more_spike_headroom_means_more_replicas_and_a_smaller_budget() -> None:
    fleet = Fleet(chargers=10_000, heartbeat_s=10, session_rate=2, spike=2)
    calm, spiky = size(fleet, SLOW), size(Fleet(**{**fleet.__dict__, "spike": 8}), SLOW)
    assert calm.replicas == 2 and spiky.replicas == 7  # ceil(2 x 0.8622), ceil(8 x 0.8622)
    assert calm.storm_absorbed_per_s < spiky.storm_absorbed_per_s  # more replicas absorb more
    assert calm.release_budget_per_s == 55  # floor((2 - 1.724444) / 0.005)


def test_no_budget_left_is_said_not_hidden() -> None:
    # 5.795 x 0.862222 = 4.9966 units: 5 replicas, (5 - 4.9966) / 0.005 = 0.68 -> no whole reconnect per
    # second; a sixth replica would give floor((6 - 4.9966) / 0.005) = 200.
    s = size(Fleet(chargers=10_000, heartbeat_s=10, session_rate=2, spike=5.795), SLOW)
    assert s.replicas == 5 and s.release_budget_per_s == 0
    assert s.release_duration_s is None
    assert any("with 6 replicas it would be 200/s" in w for w in s.warnings), s.warnings
    json.dumps(s.to_dict(), allow_nan=False)  # still valid JSON


def test_the_shared_store_caps_what_more_replicas_cannot_raise() -> None:
    # 30,000 chargers, 2 arrivals/charger/h of 30 min (Erlang B: 20 % turned away): 13.333 sessions/s;
    # durable = 13.333 x (2 + 30) = 426.67 writes/s; u = 540 / 20,000 + 426.67 / 4000 = 0.13367.
    fleet = Fleet(chargers=30_000, session_rate=2, spike=5)
    roomy = FAST.model_copy(update={"shared_store": Limit(per_s=3000, cpu_s_per_op=0, cpu_cores=0)})
    s = size(fleet, roomy)
    assert s.replicas == 2 and s.steady.durable_per_s == pytest.approx(426.667, abs=1e-3)
    # replicas: storm (2 - 0.13367) / 0.0005 = 3732.7, budget floor((2 - 0.66833) / 0.0005) = 2663;
    # store: 3000 - 426.67 = 2573.3 boots/s left, floor(3000 - 5 x 426.67) = 866 with the spike kept.
    assert s.storm_absorbed_per_s == pytest.approx(2573.33, abs=0.01)
    assert s.release_budget_per_s == 866
    assert s.release_duration_s == pytest.approx(20 + 30_000 / (866 * 0.95) + 35, abs=0.01)
    assert s.to_dict()["store"] == {"commits_per_s_within_bound": 3000.0, "steady_writes_per_s": 426.7,
                                    "utilisation_spike": 0.7111}  # fmt: skip
    assert s.bound_by == "connections"

    tight = FAST.model_copy(update={"shared_store": Limit(per_s=600, cpu_s_per_op=0, cpu_cores=0)})
    t = size(fleet, tight)  # 5 x 426.67 = 2133 writes/s at the spike, the store commits 600
    assert t.bound_by == "store" and t.release_budget_per_s == 0 and t.replicas == 2
    assert t.storm_absorbed_per_s == pytest.approx(600 - 426.667, abs=1e-3)
    assert any("the store is the limit" in w and "more replicas do not help" in w for w in t.warnings)
    # one replica has the store to itself: its own durable limit (4000/s) applies
    one = size(Fleet(chargers=10_000, session_rate=2, spike=1), tight)
    assert one.replicas == 1 and one.store is not None and one.store.capacity_per_s == 4000


def test_chargers_with_more_connectors_than_measured_cost_their_extra_status_reports() -> None:
    # measured with 3 status reports per connect; 4 connectors report 5: 2 more at 1/20,000 each
    s = size(Fleet(chargers=30_000, connectors=4), FAST)
    assert s.reconnect_cost_units == pytest.approx(1 / 2000 + 2 / 20_000)


def test_release_duration_is_the_engines_pace() -> None:
    # 1 replica started (10 s), 950 chargers at 0.95 x 100/s (10 s), hold 30 s, verify 5 s.
    assert release_duration(950, 1, 100, 30) == pytest.approx(55.0)
    assert release_duration(950, 1, 0, 30) is None


def test_a_load_generator_ceiling_is_flagged() -> None:
    capped = FAST.model_copy(update={"connects": FAST.connects.model_copy(update={"reached_ceiling": True})})
    assert any("load generator ran out" in w for w in size(Fleet(chargers=100), capped).warnings)


@pytest.mark.parametrize(
    ("fleet", "flag"),
    [
        (Fleet(chargers=0), "--chargers"),
        (Fleet(chargers=10, heartbeat_s=0), "--heartbeat"),
        (Fleet(chargers=10, spike=0.5), "--spike"),
        (Fleet(chargers=10, session_rate=-1), "--session-rate"),
    ],
)
def test_bad_input_names_the_flag(fleet: Fleet, flag: str) -> None:
    with pytest.raises(ConfigError) as err:
        size(fleet, FAST)
    assert flag in err.value.message
