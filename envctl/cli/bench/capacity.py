"""envctl bench capacity: measure one charger-server replica with a step load; write the profile."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, stdout, user_errors

if TYPE_CHECKING:
    from envctl.capacity.profile import CapacityProfile


def command(
    report: Path = typer.Option(..., help="where to write the JSON capacity profile"),
    database_url: Optional[str] = typer.Option(None, help="the store to measure with (default: SQLite in a temp dir)"),
    server_version: str = typer.Option("bench", help="version label of the replica measured"),
    p99_ms: float = typer.Option(20.0, "--p99-ms", help="handler p99 bound a step must stay within"),
    step: float = typer.Option(3.0, "--step", help="seconds per load step"),
    growth: float = typer.Option(1.5, help="rate factor from one step to the next"),
    max_steps: int = typer.Option(14, min=1, help="most steps per ladder before the refinement"),
    workers: int = typer.Option(1, min=1, help="load generator processes"),
    hold_connections: int = typer.Option(10_000, help="chargers held open to measure memory per connection"),
    message_connections: int = typer.Option(2000, help="chargers that carry the message steps"),
    connect_start: float = typer.Option(50.0, help="first connects/s step"),
    heartbeat_start: float = typer.Option(1000.0, help="first heartbeats/s step"),
    durable_start: float = typer.Option(100.0, help="first MeterValues/s step"),
    server_args: str = typer.Option("", help="extra args for the replica, e.g. '--heartbeat-interval 60'"),
    output: OutputFormat = OutputOption,
) -> None:
    """Measure one replica's limits (connects, heartbeats, durable messages at handler p99 <= bound; memory per connection)."""
    with user_errors(output):
        from envctl.output_paths import writable

        writable(report, "--report")  # before the measurement: minutes of work a bad path would lose
        from envctl.capacity.stepload import MeasureOptions, measure  # the load machinery is heavy

        opts = MeasureOptions(
            database_url=database_url, server_version=server_version, p99_bound_ms=p99_ms, step_s=step,
            growth=growth, max_steps=max_steps, workers=workers, hold_connections=hold_connections,
            message_connections=message_connections, connect_start=connect_start,
            heartbeat_start=heartbeat_start, durable_start=durable_start, server_args=shlex.split(server_args),
        )  # fmt: skip
        say = (lambda m: None) if output == OutputFormat.json else (lambda m: stderr.print(f"[dim]{m}[/]", highlight=False))
        profile = measure(opts, say)
        profile.save(report)
        emit(output, _summary(profile, report), _show)


def _summary(p: CapacityProfile, report: Path) -> dict[str, Any]:
    return {
        "report": str(report),
        "connects_per_s": p.connects.per_s,
        "heartbeats_per_s": p.heartbeats.per_s,
        "durable_messages_per_s": p.durable_messages.per_s,
        "shared_store_durable_per_s": p.shared_store.per_s if p.shared_store else None,
        "memory_per_connection_bytes": p.memory.per_connection_bytes,
        "connections_limit": p.connections_limit,
        "p99_bound_ms": p.p99_bound_ms,
        "reached_ceiling": [n for n in ("connects", "heartbeats", "durable_messages") if getattr(p, n).reached_ceiling],
    }


def _show(d: dict[str, Any]) -> None:
    stdout.print(f"capacity profile written to [bold]{d['report']}[/] (handler p99 <= {d['p99_bound_ms']:g} ms):")
    stdout.print(f"  connects + BootNotification    {d['connects_per_s']:>10,.0f} /s")
    stdout.print(f"  heartbeats                     {d['heartbeats_per_s']:>10,.0f} /s")
    stdout.print(f"  durable messages (MeterValues) {d['durable_messages_per_s']:>10,.0f} /s")
    if d["shared_store_durable_per_s"] is not None:
        stdout.print(f"  durable, store shared by 2     {d['shared_store_durable_per_s']:>10,.0f} /s (the whole fleet's)")
    stdout.print(f"  memory per connection          {d['memory_per_connection_bytes'] / 1024:>10,.1f} KiB")
    stdout.print(f"  connections one replica holds  {d['connections_limit']:>10,}")
    for name in d["reached_ceiling"]:
        stdout.print(f"  [yellow]{name}: the load generator ran out before the replica; try --workers 2[/]")
