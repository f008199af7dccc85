"""The PNG of `envctl capacity --plot`: the fleet's load against the capacity of the replicas sized
for it (left), and the measured step loads of one replica the sizing rests on (right)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display

import matplotlib.pyplot as plt  # noqa: E402

from envctl.capacity.arithmetic import Fleet, Sizing, steady_load  # noqa: E402
from envctl.capacity.profile import CapacityProfile  # noqa: E402


P99_FLOOR_MS = 0.1  # the log axis needs a floor; steps with no answers sit on it


def plot(fleet: Fleet, profile: CapacityProfile, sizing: Sizing, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    xs = [round(fleet.chargers * 2 * i / 100) or 1 for i in range(101)]
    units = [steady_load(replace(fleet, chargers=n), profile).replica_units for n in xs]
    left.plot(xs, units, label="steady load", color="tab:blue")
    left.plot(xs, [fleet.spike * u for u in units], label=f"{fleet.spike:g}x spike", color="tab:orange")
    left.plot(xs, [n / profile.connections_limit for n in xs], label="connections / per-replica limit",
              color="tab:purple", linestyle="-.")  # fmt: skip
    needed = [max(1, math.ceil(fleet.spike * u - 1e-9), math.ceil(n / profile.connections_limit)) for n, u in zip(xs, units)]
    left.step(xs, needed, where="post", color="tab:green", linestyle="--", linewidth=1, label="replicas needed")
    left.axhline(sizing.replicas, color="tab:green", linewidth=2, label=f"capacity of {sizing.replicas} replicas")
    left.axvline(fleet.chargers, color="grey", linestyle=":", linewidth=1, label=f"{fleet.chargers:,} chargers")
    left.set_xlabel("chargers")
    left.set_ylabel("replicas' worth of work (1 = one replica at handler p99 bound)")
    store = "" if sizing.store is None else f"; store {sizing.store.utilisation_spike:.0%} used at the spike"
    left.set_title(
        f"storm absorbed {sizing.storm_absorbed_per_s:,.0f}/s, release budget {sizing.release_budget_per_s:,.0f}/s{store}",
        fontsize=10,
    )
    left.legend(loc="upper left", fontsize=8)
    left.set_ylim(bottom=0)

    for name, limit, color in (
        ("connects", profile.connects, "tab:red"),
        ("heartbeats", profile.heartbeats, "tab:blue"),
        ("durable", profile.durable_messages, "tab:brown"),
    ):
        good = [s for s in limit.steps if s.ok]
        over = [s for s in limit.steps if not s.ok]
        right.scatter([s.offered_per_s for s in good], [max(P99_FLOOR_MS, s.handler_p99_ms or 0) for s in good],
                      color=color, label=f"{name}: limit {limit.per_s:,.0f}/s")  # fmt: skip
        right.scatter([s.offered_per_s for s in over], [max(P99_FLOOR_MS, s.handler_p99_ms or 0) for s in over],
                      facecolors="none", edgecolors=color)  # fmt: skip
        right.axvline(limit.per_s, color=color, linestyle=":", linewidth=1)
    right.axhline(profile.p99_bound_ms, color="grey", linestyle="--", linewidth=1, label=f"p99 bound {profile.p99_bound_ms:g} ms")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("offered per second (one replica)")
    right.set_ylabel("handler p99 (ms)")
    right.set_title(f"one replica, measured {profile.measured_at} ({profile.database}); hollow: over", fontsize=10)
    right.legend(loc="upper left", fontsize=8)
    fig.suptitle(
        f"{fleet.chargers:,} chargers, heartbeat {fleet.heartbeat_s:g} s, {fleet.session_rate:g} sessions/charger/h: "
        f"{sizing.replicas} replicas x {sizing.cpu} CPU, {sizing.memory}"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
