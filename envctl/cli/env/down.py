"""envctl down: remove an environment; idempotent."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.envs.service import get_runtime


def command(
    name: str = typer.Argument("dev"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Stop every process (or delete the namespace) of an environment. Safe to repeat."""
    with user_errors(output):
        removed = get_runtime(runtime).down(name)
        emit(
            output,
            {"name": name, "removed": removed},
            lambda d: stdout.print(f"{name}: removed" if d["removed"] else f"{name}: nothing to remove"),
        )
