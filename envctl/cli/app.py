"""The `envctl` command: one front door over the core (envs, release, charger, github)."""

from __future__ import annotations

import typer

from envctl import __version__
from envctl.cli import bench, capacity, charger, cluster, dashboard, env, fleet, release, tf, warm, webhook

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


@app.command("version")
def version() -> None:
    """Print envctl's version."""
    typer.echo(__version__)


def main() -> None:
    app()
