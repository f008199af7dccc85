"""`envctl warm ...`: the placeholder pool that keeps room for previews (one module per verb)."""

from __future__ import annotations

import typer

from envctl.cli.warm import apply, status

app = typer.Typer(no_args_is_help=True, help="warm capacity: placeholder pods that previews preempt")

app.command("apply")(apply.command)
app.command("status")(status.command)
