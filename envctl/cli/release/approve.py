"""envctl release approve PLAN_ID: record who approved which exact plan (by its hash).

In GitHub Actions the approver is read from the run's review history; elsewhere it is the OS user.
"""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption
from envctl.release import service
from envctl.release.identity import acting


def command(
    plan_id: str = typer.Argument(..., help="the plan to approve"),
    approver: Optional[str] = typer.Option(
        None, help="must be you (the OS user) if given; refused in GitHub Actions, where the run's reviewers count"
    ),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Approve a release plan as yourself (in GitHub Actions: as the reviewer GitHub says approved the run).

    The approval is void if the plan changes afterwards.
    """
    with user_errors(output):
        ctx = service.open_context(env, runtime)
        record = service.approve(ctx, plan_id, acting(), approver)
        emit(
            output,
            record.model_dump(mode="json"),
            lambda d: stdout.print(
                f"approved {d['plan_id']} ({d['plan_hash'][:19]}…) as {d['approver']}"
                + (f" (reviewer of run {d['run']['url']})" if d.get("run") else ""),
                highlight=False,
            ),
        )
