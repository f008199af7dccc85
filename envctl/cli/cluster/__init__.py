"""`envctl cluster ...`: what a cluster admin installs once (envctl's identity, RBAC, gc CronJob)."""

from __future__ import annotations

import typer

from envctl.cli.cluster import manifests

app = typer.Typer(no_args_is_help=True, help="cluster setup commands")
app.command("manifests")(manifests.command)
