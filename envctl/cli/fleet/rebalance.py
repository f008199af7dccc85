"""envctl rebalance ENV: move chargers from the fullest replicas to the emptiest, at the budget."""

from __future__ import annotations

from typing import Any, Optional

import typer

from envctl.cli.fleet.progress import move_progress, stop_on_signals
from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.fleet.mover import DEFAULT_BUDGET_PER_S, TOLERANCE


def command(
    name: str = typer.Argument(..., help="environment"),
    budget: float = typer.Option(DEFAULT_BUDGET_PER_S, help="fleet-wide reconnects per second (hard ceiling)"),
    tolerance: float = typer.Option(TOLERANCE, help="done when every replica is within this share of the mean"),
    runtime: Optional[str] = typer.Option(None, help="local (on kubernetes, `envctl scale` drains through the pods' preStop hook and rebalance is refused)"),
    output: OutputFormat = OutputOption,
) -> None:
    """Spread chargers evenly over the replicas (after a scale-out), paced like a release."""
    with user_errors(output):
        from envctl.fleet import service
        from envctl.fleet.mover import MoveOptions

        opts = MoveOptions(budget_per_s=budget, tolerance=tolerance)
        _check(opts)
        with stop_on_signals() as stop, move_progress(output == OutputFormat.text) as progress:
            report = service.rebalance(name, opts, progress, stop, runtime)
        emit(output, report.to_dict(), show_move)
        if report.aborted is not None:
            raise typer.Exit(1)


def _check(opts: Any) -> None:
    from envctl.errors import ConfigError

    if opts.budget_per_s <= 0:
        raise ConfigError(f"--budget must be > 0 reconnects/s, got {opts.budget_per_s:g}")
    if not 0 < opts.tolerance < 1:
        raise ConfigError(f"--tolerance must be between 0 and 1, got {opts.tolerance:g}", "e.g. 0.05 for +-5 %")


def show_move(d: dict[str, Any], title: str = "rebalanced") -> None:
    if d["aborted"]:
        stdout.print(f"[red]stopped:[/] {d['aborted']} (every replica listens again)")
    else:
        stdout.print(f"[green]{title}[/]: every replica within {d['spread_pct']:.1f} % of the mean")
    stdout.print(f"  moved {d['moved']:,} chargers in {d['duration_s']:.1f} s, peak {d['peak_reconnects_per_s']:,} "
                 f"reconnects/s (budget {d['budget_per_s']:g}/s)")  # fmt: skip
    for rid in d["after"]:
        stdout.print(f"  {rid:<12} {d['before'].get(rid, 0):>8,} -> {d['after'][rid]:>8,}")
