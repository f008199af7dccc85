"""envctl down: remove an environment; idempotent."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.envs.naming import env_name_for_pr
from envctl.envs.service import down
from envctl.release.identity import os_user


def command(
    name: Optional[str] = typer.Argument(None, help="environment name; default pr-N with --pr, else dev"),
    pr: Optional[int] = typer.Option(None, help="pull request whose preview to remove (names it like `up --pr`)"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    force: bool = typer.Option(False, "--force", help="abort a release in progress first (it rolls back), then remove"),
    output: OutputFormat = OutputOption,
) -> None:
    """Stop every process (or delete the namespace) of an environment. Safe to repeat.

    Refused while a release is in progress (--force aborts it first); release history is kept."""
    with user_errors(output):
        name = name or (env_name_for_pr(pr) if pr is not None else "dev")
        # The journal and an aborted release name who did it as the kernel says, not as $USER says.
        removed = down(name, runtime, actor=os_user(), force=force)
        emit(
            output,
            {"name": name, "removed": removed},
            lambda d: stdout.print(f"{name}: removed" if d["removed"] else f"{name}: nothing to remove"),
        )
