"""Environment lifecycle commands, registered at the top level: envctl up/down/status/list/..."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from envctl.cli.env import down, extend, gc, logs, status, up
    from envctl.cli.env import list as list_

    app.command("up")(up.command)
    app.command("down")(down.command)
    app.command("status")(status.command)
    app.command("list")(list_.command)
    app.command("logs")(logs.command)
    app.command("extend")(extend.command)
    app.command("gc")(gc.command)
