"""envctl up: create an environment and return once every charger is connected."""

from __future__ import annotations

from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from envctl.cli.env.render import show_status
from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, user_errors
from envctl.envs.model import EnvSpec, parse_duration
from envctl.envs.naming import env_name_for_pr
from envctl.envs.ownership import current_owner
from envctl.envs.service import get_runtime


def command(
    name: Optional[str] = typer.Argument(None, help="environment name; default pr-N with --pr, else dev"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes; default: kubernetes when a cluster is configured"),
    chargers: int = typer.Option(10, min=0, help="simulated chargers to connect"),
    replicas: int = typer.Option(1, min=1, help="charger-server replicas"),
    pr: Optional[int] = typer.Option(None, help="pull request this environment previews"),
    image: Optional[str] = typer.Option(None, help="container image (kubernetes runtime)"),
    ttl: str = typer.Option("8h", help="time to live, e.g. 8h, 30m"),
    server_version: Optional[str] = typer.Option(None, help="version label of the charger-server (default: what it runs, else v1)"),
    database_url: Optional[str] = typer.Option(None, help="postgresql://... (default: embedded SQLite)"),
    session_rate: float = typer.Option(0.0, help="charging sessions per charger per hour"),
    session_minutes: str = typer.Option("30", help='charging session length in minutes: "30" or a range "5-10"'),
    meter_interval: float = typer.Option(60.0, help="seconds between MeterValues during a session"),
    heartbeat_interval: int = typer.Option(60, min=1, help="HeartbeatInterval the server gives chargers (s)"),
    reconnect: str = typer.Option("immediate", help="simulator reconnect policy: immediate or backoff"),
    timeout: float = typer.Option(300.0, help="seconds to wait for every charger to connect"),
    output: OutputFormat = OutputOption,
) -> None:
    """Create an environment (charger-server + simulated chargers) and wait until all are connected."""
    with user_errors(output):
        spec = EnvSpec(
            name=name or (env_name_for_pr(pr) if pr is not None else "dev"), runtime=runtime or "local", chargers=chargers, replicas=replicas, pr=pr, image=image,
            ttl=parse_duration(ttl), owner=current_owner(), server_version=server_version,
            database_url=database_url, session_rate=session_rate,
            session_minutes=session_minutes, meter_interval=meter_interval, heartbeat_interval=heartbeat_interval,
            reconnect=reconnect, ready_timeout_s=timeout,
        )  # fmt: skip
        chosen = get_runtime(runtime)
        spec.runtime = chosen.name  # type: ignore[assignment]
        if output == OutputFormat.json:
            status = chosen.up(spec)
        else:
            columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
            with Progress(*columns, console=stderr, transient=True) as bar:
                task = bar.add_task("starting", total=1)
                status = chosen.up(spec, lambda what, done, total: bar.update(task, description=what, completed=done, total=total))
        emit(output, status.to_dict(), show_status)
