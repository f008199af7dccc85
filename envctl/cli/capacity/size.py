"""envctl capacity: replicas, requests, storm absorbed, release budget and duration for a fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors


def command(
    chargers: int = typer.Option(..., help="chargers in the fleet"),
    heartbeat: str = typer.Option("60s", help="heartbeat interval, e.g. 60s, 5m"),
    session_rate: float = typer.Option(0.0, help="charging sessions per charger per hour"),
    session_minutes: str = typer.Option("30", help='session length in minutes: "30" (15-45) or a range "5-10"'),
    meter_interval: float = typer.Option(60.0, help="seconds between MeterValues during a session"),
    connectors: int = typer.Option(2, help="connectors per charger (each reports its status after a boot)"),
    spike: float = typer.Option(5.0, help="spikes of this many times the steady load must be absorbed"),
    hold: str = typer.Option("30s", help="the release's canary hold, for its duration"),
    profile: Optional[Path] = typer.Option(None, help="capacity profile (default: capacity.profile in envctl.yaml)"),
    plot: Optional[Path] = typer.Option(None, help="also write a PNG of load against capacity"),
    output: OutputFormat = OutputOption,
) -> None:
    """Size a fleet from one replica's measured profile (`envctl bench capacity` writes it)."""
    with user_errors(output):
        from envctl.capacity.arithmetic import Fleet
        from envctl.capacity.service import answer
        from envctl.charger.simulator.settings import parse_session_minutes
        from envctl.envs.model import parse_duration
        from envctl.output_paths import writable_image

        if plot is not None:
            writable_image(plot)
        lo, hi = parse_session_minutes(session_minutes)
        fleet = Fleet(
            chargers=chargers, heartbeat_s=parse_duration(heartbeat).total_seconds(), session_rate=session_rate,
            session_minutes=(lo + hi) / 2, meter_interval_s=meter_interval, connectors=connectors, spike=spike,
            hold_s=parse_duration(hold).total_seconds(),
        )  # fmt: skip
        emit(output, answer(fleet, profile, plot), _show)


def _show(d: dict[str, Any]) -> None:
    f, s = d["fleet"], d["steady"]
    stdout.print(
        f"[bold]{f['chargers']:,} chargers[/], heartbeat {f['heartbeat_s']:g} s, {f['session_rate']:g} sessions/charger/h, "
        f"absorbing {f['spike']:g}x spikes:"
    )
    stdout.print(f"  replicas             [bold]{d['replicas']}[/] (by load {d['replicas_by_load']}, "
                 f"by connections {d['replicas_by_connections']}; bound by {d['bound_by']})")  # fmt: skip
    stdout.print(f"  requests per replica cpu {d['requests']['cpu']}, memory {d['requests']['memory']}")
    stdout.print(f"  steady load          {s['light_per_s']:,.0f} light + {s['durable_per_s']:,.0f} durable msgs/s "
                 f"= {d['utilisation']['steady']:.1%} of the fleet ({d['utilisation']['spike']:.1%} at the spike)")  # fmt: skip
    if d.get("store"):
        st = d["store"]
        stdout.print(f"  store                {st['commits_per_s_within_bound']:,.0f} commits/s within the bound for the fleet; "
                     f"{st['steady_writes_per_s']:,.0f}/s steady = {st['utilisation_spike']:.0%} at the spike")  # fmt: skip
    stdout.print(f"  storm absorbed       {d['storm_absorbed_per_s']:,.0f} chargers reconnecting per second")
    stdout.print(f"  release budget       {d['release_budget_per_s']:,.0f} reconnects/s (keeps the spike headroom)")
    duration = d["release_duration_s"]
    stdout.print(f"  graceful release     {'-' if duration is None else f'{duration:,.0f} s'} for all {f['chargers']:,} chargers")
    p = d["profile"]
    stdout.print(f"  [dim]from {p['path']} (measured {p['measured_at']}, {p['database']}, p99 <= {p['p99_bound_ms']:g} ms)[/]")
    for w in d["warnings"]:
        stdout.print(f"  [yellow]warning:[/] {w}")
    if d.get("plot"):
        stdout.print(f"  plot written to {d['plot']}")
