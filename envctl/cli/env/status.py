"""envctl status: one environment's phase, chargers, servers and endpoints."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.env.render import show_status
from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.envs.service import get_runtime


def command(
    name: str = typer.Argument("dev"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Show an environment's phase, connected chargers, server replicas and endpoints."""
    with user_errors(output):
        emit(output, get_runtime(runtime).status(name).to_dict(), show_status)
