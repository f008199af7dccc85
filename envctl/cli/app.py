"""The `envctl` command: one front door over the core (envs, release, charger, github)."""

from __future__ import annotations

import typer

from envctl import __version__
from envctl.cli import bench, capacity, charger, cluster, dashboard, env, flags_help, fleet, release, tf, warm, webhook
from envctl.cli.output import OutputFormat, OutputOption, emit

flags_help.install()

app = typer.Typer(
    name="envctl",
    help="Preview environments, graceful charger-server releases and infrastructure changes, self-service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

env.register(app)
capacity.register(app)
fleet.register(app)
charger.register(app)
dashboard.register(app)
app.add_typer(release.app, name="release")
app.add_typer(bench.app, name="bench")
app.add_typer(webhook.app, name="webhook")
app.add_typer(cluster.app, name="cluster")
app.add_typer(tf.app, name="tf")
app.add_typer(warm.app, name="warm")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, help="Print envctl's version and exit."),
) -> None:
    """Preview environments, graceful charger-server releases and infrastructure changes, self-service."""


@app.command("version")
def version(output: OutputFormat = OutputOption) -> None:
    """Print envctl's version."""
    emit(output, {"version": __version__}, lambda d: typer.echo(d["version"]))


def main() -> None:
    app()
