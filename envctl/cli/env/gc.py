"""envctl gc: delete expired environments (never anything envctl does not manage)."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.envs.gc import collect
from envctl.envs.model import utcnow
from envctl.envs.service import get_runtime


def command(
    dry_run: bool = typer.Option(False, "--dry-run", help="only list what would be deleted"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Delete every environment whose expiry (--ttl, `envctl extend`) has passed."""
    with user_errors(output):
        names = collect(get_runtime(runtime), utcnow(), dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"

        def show(data: dict[str, object]) -> None:
            if not names:
                stdout.print("nothing expired")
            for n in names:
                stdout.print(f"{verb} {n}")

        emit(output, {"dry_run": dry_run, "expired": names, "count": len(names)}, show)
