"""envctl tf locks: who holds which project lock."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.cli.tf.context import open_context


def show(data: dict[str, Any]) -> None:
    if not data["locks"]:
        stdout.print("no project is locked")
        return
    table = Table("repository", "dir", "workspace", "project", "held by", "user", "since")
    for lk in data["locks"]:
        table.add_row(lk["repo"], lk["dir"], lk["workspace"], lk["project"], f"#{lk['pull']}", lk["user"],
                      lk["created_at"])
    stdout.print(table)


def command(
    repo_name: Optional[str] = typer.Option(None, "--repo", help="only this owner/name's locks"),
    output: OutputFormat = OutputOption,
) -> None:
    """List project locks and the pull requests holding them."""
    with user_errors(output):
        ctx = open_context()
        data = {"locks": [lk.to_dict() for lk in ctx.locks.list(repo_name)]}
    emit(output, data, show)
