"""`envctl webhook ...` commands: the GitHub front door, as a server or inside a GitHub Actions job."""

from __future__ import annotations

import typer

from envctl.cli.webhook import handle, serve

app = typer.Typer(no_args_is_help=True, help="webhook commands")
app.command("serve")(serve.command)
app.command("handle")(handle.command)
