"""The charger fleet's own processes (`envctl server`, `envctl sim`) and one charger of an environment
(`envctl charger call|show`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from envctl.cli.charger import call, server, show, sim

    app.command("server")(server.command)
    app.command("sim")(sim.command)
    chargers = typer.Typer(help="One charger of an environment: its state, and calls from the central system.",
                           no_args_is_help=True)
    chargers.command("call")(call.command)
    chargers.command("show")(show.command)
    app.add_typer(chargers, name="charger")
