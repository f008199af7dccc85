"""`envctl bench ...`: rehearsals that write JSON reports (one module per verb)."""

from __future__ import annotations

import typer

from envctl.cli.bench import capacity, release

app = typer.Typer(no_args_is_help=True, help="rehearsals and load runs: JSON reports, PNG timelines")

app.command("release")(release.command)
app.command("capacity")(capacity.command)
