"""envctl cluster manifests: print the one-time cluster setup, for `kubectl apply -f -`."""

from __future__ import annotations

import yaml
import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.config import load_config
from envctl.runtimes.kubernetes import render as r


def command(
    namespace: str = typer.Option("envctl-system", help="namespace of envctl's ServiceAccount and gc CronJob"),
    image: str = typer.Option(None, help="image the gc CronJob runs (default: kubernetes.image in envctl.yaml)"),
    gc_schedule: str = typer.Option("*/5 * * * *", help="cron schedule of `envctl gc` in the cluster"),
    output: OutputFormat = OutputOption,
) -> None:
    """envctl's ServiceAccount, least-privilege roles, admission policy and the gc CronJob."""
    with user_errors(output):
        cfg = load_config()
        values = r.RbacValues(namespace=namespace, image=image or cfg.kubernetes.image, gc_schedule=gc_schedule)
        objects = r.render_rbac(r.templates_dir(cfg), values)
        emit(output, objects, lambda objs: typer.echo(yaml.safe_dump_all(objs, sort_keys=False), nl=False))
