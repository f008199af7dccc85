"""envctl scale ENV --replicas N: add replicas, or drain some at the budget and remove them."""

from __future__ import annotations

from typing import Any, Optional

import typer

from envctl.cli.env.progress import progress_lines
from envctl.cli.fleet.progress import move_progress, stop_on_signals
from envctl.cli.fleet.rebalance import _check, show_move
from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.fleet.mover import DEFAULT_BUDGET_PER_S


def command(
    name: str = typer.Argument(..., help="environment"),
    replicas: int = typer.Option(..., help="charger-server replicas wanted"),
    budget: float = typer.Option(DEFAULT_BUDGET_PER_S, help="local: reconnects/s while draining removed replicas"),
    rebalance: bool = typer.Option(False, "--rebalance", help="afterwards, spread chargers over all replicas"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Change the number of charger-server replicas; removing drains their chargers at the budget first."""
    with user_errors(output):
        from envctl.fleet import service
        from envctl.fleet.mover import MoveOptions

        opts = MoveOptions(budget_per_s=budget)
        _check(opts)
        text = output == OutputFormat.text
        starting = progress_lines() if text else (lambda _what, _done, _total: None)
        with stop_on_signals() as stop, move_progress(text) as progress:
            result = service.scale(name, replicas, opts, then_rebalance=rebalance, progress=progress, stop=stop,
                                   runtime=runtime, starting=starting)  # fmt: skip
        data = result.to_dict()
        emit(output, data, _show)
        moves = [m for m in (result.drain, result.rebalance) if m is not None]
        if any(m.aborted for m in moves):
            raise typer.Exit(1)


def _show(d: dict[str, Any]) -> None:
    stdout.print(f"[bold]{d['env']}[/] ({d['runtime']}): {d['replicas_before']} -> {d['replicas']} replicas")
    if d["started"]:
        stdout.print(f"  started {', '.join(d['started'])}")
    if d["drain"]:
        show_move(d["drain"], "drained")
    if d["retired"]:
        stdout.print(f"  removed {', '.join(d['retired'])}")
    if d["rebalance"]:
        show_move(d["rebalance"])
    if d["note"]:
        stdout.print(f"  [yellow]{d['note']}[/]")
    if d["rebalance_suggested"]:
        stdout.print(f"  chargers are {d['spread_pct']:.0f} % away from even; next: [bold]envctl rebalance {d['env']} --runtime {d['runtime']}[/]"
                     " (or scale with --rebalance)")  # fmt: skip
