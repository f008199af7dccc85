"""The charger fleet's own processes: `envctl server` (OCPP central system) and `envctl sim`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from envctl.cli.charger import server, sim

    app.command("server")(server.command)
    app.command("sim")(sim.command)
