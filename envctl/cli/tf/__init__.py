"""`envctl tf ...`: plan, apply, locks, unlock, drift (one module per verb, the work in envctl.terraform)."""

from __future__ import annotations

import typer

from envctl.cli.tf import apply, drift, locks, plan, unlock

app = typer.Typer(no_args_is_help=True, help="Terraform: readable plans, safe applies, locks and drift")

app.command("plan")(plan.command)
app.command("apply")(apply.command)
app.command("locks")(locks.command)
app.command("unlock")(unlock.command)
app.command("drift")(drift.command)
