"""`envctl scale` and `envctl rebalance`, registered at the top level."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from envctl.cli.fleet import rebalance, scale

    app.command("scale")(scale.command)
    app.command("rebalance")(rebalance.command)
