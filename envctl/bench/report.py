"""The release rehearsal report (DESIGN.md contract; fields may be added, never renamed)."""

from __future__ import annotations

from typing import Any

from envctl.bench.sampler import Sampler
from envctl.bench.transactions import failures as ledger_failures


CONTRACT_KEYS = ("started", "acknowledged", "lost", "stops_lost", "meter_values_lost", "energy_mismatch_wh",
                 "phantom", "duplicated")


def timeline(sampler: Sampler, start: float) -> list[dict[str, Any]]:
    rows = []
    prev_t = start
    for p in sampler.fleet_points:
        if p.t < start:
            continue
        dt = max(p.t - prev_t, 1e-6)
        reconnects = sampler.sim_counter_at("reconnects_total", p.t) - sampler.sim_counter_at("reconnects_total", prev_t)
        failures = sampler.sim_counter_at("connect_failures_total", p.t) - sampler.sim_counter_at(
            "connect_failures_total", prev_t
        )
        rows.append(
            {
                "t": round(p.t - start, 2),
                "connected_old": p.connected_old,
                "connected_new": p.connected_new,
                "reconnects": round(reconnects / dt, 1),  # per second, so unevenly spaced samples compare
                "failures": round(failures / dt, 1),
                "server_connects": round(p.server_connects / dt, 1),
                "sim_connected": round(sampler.sim_counter_at("connected", p.t)),
            }
        )
        prev_t = p.t
    return rows


def exact_rates(sampler: Sampler, start: float, end: float) -> list[dict[str, Any]]:
    """Per whole second since `start`: connects the servers accepted and the simulator's
    reconnects/failures, counted where they happened (no sampling in between)."""
    server = sampler.server_connects_by_second()
    reconnects, failures = sampler.sim_by_second("reconnects"), sampler.sim_by_second("connect_failures")
    return [
        {
            "t": sec - int(start),
            "server_connects": server.get(sec, 0),
            "reconnects": reconnects.get(sec, 0),
            "failures": failures.get(sec, 0),
        }
        for sec in range(int(start), int(end) + 1)
    ]


def build(
    *,
    strategy: str,
    chargers: int,
    replicas: int,
    budget_per_s: float | None,
    sampler: Sampler,
    start: float,
    released_at: float,
    settled_at: float,
    transactions: dict[str, Any],
    detail: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    rows = timeline(sampler, start)
    problems = ledger_failures(transactions)
    phase = detail.get("phase")  # graceful: the release engine's verdict (rolled back is not a pass)
    if phase is not None and phase != "Completed":
        why = (detail.get("abort") or {}).get("reason")
        problems = [*problems, f"the release ended {phase}" + (f": {why}" if why else "")]
    sim = sampler.last_sim()
    offline = sim.get("offline", {})
    end = sampler.sim_points[-1][0] if sampler.sim_points else settled_at  # the tail after settling counts too
    failures = sampler.sim_counter_at("connect_failures_total", end) - sampler.sim_counter_at("connect_failures_total", start)
    if failures:  # a charger that could not connect was offline because of the release
        problems = [*problems, f"{round(failures)} connect failures"]
    if sim.get("connected", 0) < chargers:
        problems = [*problems, f"{chargers - int(sim.get('connected', 0))} chargers not reconnected"]
    reconnects = sampler.sim_counter_at("reconnects_total", end) - sampler.sim_counter_at("reconnects_total", start)
    exact = exact_rates(sampler, start, end)
    # Peaks come from the exact per-second counts when the processes report them; the sampled
    # timeline (kept for the plot) aliases a steady rate into alternating high and low seconds.
    sim_exact = any(r["reconnects"] for r in exact)
    server_exact = any(r["server_connects"] for r in exact)
    return {
        "strategy": strategy,
        "chargers": chargers,
        "replicas": replicas,
        "budget_per_s": budget_per_s,
        "duration_s": round(settled_at - start, 2),
        "release_s": round(released_at - start, 2),
        "peak_reconnects_per_s": max((r["reconnects"] for r in (exact if sim_exact else rows)), default=0.0),
        "peak_server_connects_per_s": max(
            (r["server_connects"] for r in (exact if server_exact else rows)), default=0.0
        ),
        "peak_sampled_reconnects_per_s": max((r["reconnects"] for r in rows), default=0.0),
        "reconnects": round(reconnects),
        "connect_failures": round(failures),
        "chargers_disconnected_at_end": max(0, chargers - int(sim.get("connected", 0))),
        "max_offline_s": offline.get("max_s"),
        "p99_offline_s": offline.get("p99_s"),
        "offline_episodes": offline.get("episodes"),
        "transactions": {
            **{k: transactions.get(k, 0) for k in CONTRACT_KEYS},
            **{k: v for k, v in transactions.items() if k not in CONTRACT_KEYS},
        },
        # pass/fail, the same rule for every strategy (docs/release.md "What a rehearsal's passed means")
        "passed": not problems,
        "failures": problems,
        "strategy_detail": detail,
        "timeline": rows,
        "per_second": exact,
        **(extra or {}),
    }
