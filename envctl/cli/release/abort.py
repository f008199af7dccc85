"""envctl release abort PLAN_ID: set the abort flag; the orchestrator rolls back at the budget."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption
from envctl.cli.release.render import live_progress
from envctl.errors import Refused
from envctl.release import service
from envctl.release.identity import current_identity


def command(
    plan_id: str = typer.Argument(..., help="a running release"),
    reason: str = typer.Option("aborted by hand", help="why, kept with the abort"),
    wait: bool = typer.Option(True, help="roll back here when no orchestrator is running"),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Abort a release: stop draining, send chargers back to the old version, retire the new replicas."""
    with user_errors(output):
        ctx = service.open_context(env, runtime)
        flag = service.abort(ctx, plan_id, reason, current_identity())
        note = "the running orchestrator will roll back"
        if wait:
            try:
                with live_progress(output == OutputFormat.text) as observer:
                    service.resume(ctx, plan_id, observer)
                note = "rolled back"
            except Refused:
                pass  # another orchestrator holds the lease: it reads the flag and rolls back itself
        doc = service.status(ctx, plan_id) | {"abort_flag": flag.model_dump(), "note": note}
        emit(output, doc, lambda d: stdout.print(f"abort of {plan_id} recorded: {d['note']} (phase {d['phase']})"))
