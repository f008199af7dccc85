"""envctl release status [PLAN_ID]: phase, chargers moved, current rate, ETA."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.cli.release.options import EnvOption, RuntimeOption
from envctl.cli.release.render import show_status
from envctl.release import service


def command(
    plan_id: Optional[str] = typer.Argument(None, help="default: the newest plan of the environment"),
    env: Optional[str] = EnvOption,
    runtime: Optional[str] = RuntimeOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Show a release's phase, progress, rate and ETA."""
    with user_errors(output):
        ctx = service.open_context(env, runtime)
        emit(output, service.status(ctx, plan_id), show_status)
