"""envctl bench release: rehearse one release strategy on a fresh local fleet and report it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, stdout, user_errors


def command(
    chargers: int = typer.Option(..., min=1, help="fleet size"),
    strategy: str = typer.Option(..., help="recreate, rolling or graceful"),
    budget: float = typer.Option(100.0, help="graceful: fleet-wide reconnect budget per second"),
    replicas: int = typer.Option(2, min=1, help="charger-server replicas (old and new)"),
    runtime: str = typer.Option("local", help="local or kubernetes (the cluster's images; a test cluster)"),
    report: Path = typer.Option(..., help="where to write the JSON report"),
    plot: Optional[Path] = typer.Option(None, help="where to write the PNG timeline"),
    grace: float = typer.Option(30.0, help="rolling/recreate: seconds from SIGTERM to SIGKILL"),
    hold: float = typer.Option(10.0, help="graceful: canary hold seconds"),
    session_rate: float = typer.Option(60.0, help="charging sessions per charger per hour"),
    server_args: str = typer.Option("", help="extra args for the new replicas, e.g. '--fault callerror'"),
    keep: bool = typer.Option(False, help="leave the environment running afterwards"),
    output: OutputFormat = OutputOption,
) -> None:
    """Rehearse a release on a fresh fleet; write the JSON report (and a PNG timeline)."""
    with user_errors(output):
        # imported here: matplotlib and the fleet machinery would slow every other command
        from envctl.bench import plot as plot_mod
        from envctl.bench import rehearsal

        opts = rehearsal.BenchOptions(
            chargers=chargers, strategy=strategy, budget_per_s=budget, replicas=replicas, runtime=runtime,
            grace_s=grace, hold_s=hold, session_rate=session_rate, new_replica_args=tuple(shlex.split(server_args)),
            keep=keep,
        )  # fmt: skip
        say = (lambda m: None) if output == OutputFormat.json else (lambda m: stderr.print(f"[dim]{m}[/]"))
        doc = rehearsal.run(opts, say)
        rehearsal.write(doc, report)
        if plot is not None:
            plot_mod.plot(doc, plot)
        summary = {k: v for k, v in doc.items() if k not in ("timeline", "strategy_detail")}
        emit(output, summary, lambda d: stdout.print_json(data=d))
        if not doc["passed"]:  # the report is written either way; a failed rehearsal fails the command
            stderr.print(f"[red]rehearsal failed:[/] {'; '.join(doc['failures'])}")
            raise typer.Exit(1)
