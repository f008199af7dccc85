"""`envctl capacity`: size a fleet from a measured profile (registered at the top level)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from envctl.cli.capacity import size

    app.command("capacity")(size.command)
