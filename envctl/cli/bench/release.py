"""envctl bench release: rehearse one release strategy on a fresh local fleet and report it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, stdout, user_errors
from envctl.cli.release.options import seconds


def command(
    chargers: int = typer.Option(..., min=1, help="fleet size"),
    strategy: str = typer.Option(..., help="recreate, rolling or graceful"),
    budget: float = typer.Option(100.0, help="graceful: fleet-wide reconnect budget per second"),
    replicas: int = typer.Option(2, min=1, help="charger-server replicas (old and new)"),
    runtime: str = typer.Option("local", help="local or kubernetes (the cluster's images; a test cluster)"),
    report: Path = typer.Option(..., help="where to write the JSON report"),
    plot: Optional[Path] = typer.Option(None, help="where to write the PNG timeline (.png, .svg or .pdf)"),
    grace: float = typer.Option(30.0, help="rolling/recreate: seconds from SIGTERM to SIGKILL"),
    hold: str = typer.Option("10s", help="graceful: canary hold, e.g. 10s, 2m (a plain number is seconds)"),
    session_rate: float = typer.Option(60.0, help="charging sessions per charger per hour"),
    server_args: str = typer.Option("", help="extra args for the new replicas, e.g. '--call-timeout 10'"),
    keep: bool = typer.Option(False, help="leave the environment running afterwards"),
    output: OutputFormat = OutputOption,
) -> None:
    """Rehearse a release on a fresh fleet; write the JSON report (and a PNG timeline)."""
    with user_errors(output):
        from envctl.output_paths import writable, writable_image

        # checked before the fleet starts: a rehearsal is minutes of work a bad path would lose
        writable(report, "--report")
        if plot is not None:
            writable_image(plot)
        # imported here: matplotlib and the fleet machinery would slow every other command
        from envctl.bench import plot as plot_mod
        from envctl.bench import rehearsal
        from envctl.bench.options import BenchOptions

        opts = BenchOptions(
            chargers=chargers, strategy=strategy, budget_per_s=budget, replicas=replicas, runtime=runtime,
            grace_s=grace, hold_s=seconds(hold), session_rate=session_rate,
            new_replica_args=tuple(shlex.split(server_args)), keep=keep,
        )  # fmt: skip
        say = (lambda m: None) if output == OutputFormat.json else (lambda m: stderr.print(f"[dim]{m}[/]"))
        doc = rehearsal.run(opts, say)
        rehearsal.write(doc, report)
        if plot is not None:
            plot_mod.plot(doc, plot)
        summary = {k: v for k, v in doc.items() if k not in ("timeline", "strategy_detail")}
        summary["report"], summary["plot"] = str(report), (str(plot) if plot is not None else None)
        emit(output, summary, _show)
        if not doc["passed"]:  # the report is written either way; a failed rehearsal fails the command
            stderr.print(f"[red]rehearsal failed:[/] {'; '.join(doc['failures'])}", highlight=False)
            raise typer.Exit(1)


def _show(d: dict[str, Any]) -> None:
    verdict = "[green]passed[/]" if d["passed"] else "[red]failed[/]"
    budget = f" at a budget of {d['budget_per_s']:g}/s" if d["strategy"] == "graceful" else ""
    stdout.print(f"[bold]{d['strategy']}[/] release of {d['chargers']:,} chargers on {d['replicas']} replicas"
                 f"{budget}: {verdict} in {d['duration_s']:g} s", highlight=False)  # fmt: skip
    stdout.print(f"  peak reconnects      {d['peak_reconnects_per_s']:,.0f} /s "
                 f"(server saw {d['peak_server_connects_per_s']:,.0f} connects/s)", highlight=False)  # fmt: skip
    stdout.print(f"  connect failures     {d['connect_failures']:,}", highlight=False)
    stdout.print(f"  not back at the end  {d['chargers_disconnected_at_end']:,}", highlight=False)
    if d.get("max_offline_s") is not None:
        stdout.print(f"  offline              max {d['max_offline_s']:g} s, p99 {d['p99_offline_s']:g} s", highlight=False)
    tx = d["transactions"]
    stdout.print(f"  transactions         {tx['started']:,} started, {tx['acknowledged']:,} acknowledged, "
                 f"{tx['lost']:,} lost, {tx['phantom']:,} phantom", highlight=False)  # fmt: skip
    stdout.print(f"  report               {d['report']}" + (f", timeline {d['plot']}" if d.get("plot") else ""),
                 highlight=False)  # fmt: skip
