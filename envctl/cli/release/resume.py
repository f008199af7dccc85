"""envctl release resume PLAN_ID: continue a release whose orchestrator stopped, from its saved state."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption
from envctl.cli.release.render import live_progress, show_status
from envctl.release import service
from envctl.release.status import release_phase


def command(
    plan_id: str = typer.Argument(..., help="a started release"),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Resume a release (also applies a pending abort). No finished step is redone."""
    with user_errors(output):
        ctx = service.open_context(env, runtime)
        with live_progress(output == OutputFormat.text) as observer:
            status = service.resume(ctx, plan_id, observer)
        emit(output, service.status(ctx, plan_id), show_status)
        if release_phase(ctx.store.load_plan(plan_id), status) != "Completed":
            raise typer.Exit(1)
