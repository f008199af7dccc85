"""`envctl dashboard`: the web dashboard (one command, registered at the top level)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from envctl.cli.dashboard import serve

    app.command("dashboard")(serve.command)
