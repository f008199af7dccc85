"""envctl list: every environment of the chosen runtime."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.env.render import show_list
from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.envs.service import get_runtime


def command(
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """List environments: name, PR, owner, phase, chargers connected, expiry."""
    with user_errors(output):
        emit(output, [s.to_dict() for s in get_runtime(runtime).list()], show_list)
