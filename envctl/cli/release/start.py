"""envctl release start PLAN_ID: run an approved plan to the end (or to a rollback)."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption
from envctl.cli.release.render import live_progress, show_status
from envctl.release import service
from envctl.release.identity import acting
from envctl.release.status import release_phase


def command(
    plan_id: str = typer.Argument(..., help="an approved plan"),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Start a release; refused without a valid approval. Exits 1 unless it completes."""
    with user_errors(output):
        ctx = service.open_context(env, runtime)
        who = acting()
        with live_progress(output == OutputFormat.text) as observer:
            status = service.start(ctx, plan_id, who.login, observer, who.ci)
        emit(output, service.status(ctx, plan_id), show_status)
        if release_phase(ctx.store.load_plan(plan_id), status) != "Completed":
            raise typer.Exit(1)
