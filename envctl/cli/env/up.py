"""envctl up: create an environment and return once every charger is connected."""

from __future__ import annotations

from typing import Any, Optional

import typer

from envctl.cli.env.progress import up_progress
from envctl.cli.env.render import show_status
from envctl.cli.output import OutputFormat, OutputOption, emit, user_errors
from envctl.envs.model import EnvSpec, parse_duration
from envctl.envs.naming import env_name_for_pr
from envctl.envs.ownership import current_owner
from envctl.envs.service import get_runtime


def command(
    name: Optional[str] = typer.Argument(None, help="environment name; default pr-N with --pr, else dev"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes; default: kubernetes when a cluster is configured"),
    chargers: Optional[int] = typer.Option(None, help="simulated chargers to connect [default: 10]"),
    replicas: Optional[int] = typer.Option(None, help="charger-server replicas [default: 1]"),
    pr: Optional[int] = typer.Option(None, help="pull request this environment previews"),
    image: Optional[str] = typer.Option(None, help="container image (kubernetes runtime)"),
    ttl: Optional[str] = typer.Option(None, help="time to live, e.g. 8h, 30m [default: 8h]"),
    server_version: Optional[str] = typer.Option(None, help="version label of the charger-server (default: what it runs, else v1)"),
    database_url: Optional[str] = typer.Option(None, help="postgresql://... (default: embedded SQLite)"),
    session_rate: Optional[float] = typer.Option(None, help="charging sessions per charger per hour [default: 0]"),
    session_minutes: Optional[str] = typer.Option(None, help='charging session length in minutes: "30" or a range "5-10" [default: 30]'),
    meter_interval: Optional[float] = typer.Option(None, help="seconds between MeterValues during a session [default: 60]"),
    heartbeat_interval: Optional[int] = typer.Option(None, help="HeartbeatInterval the server gives chargers (s) [default: 60]"),
    reconnect: Optional[str] = typer.Option(None, help="simulator reconnect policy: immediate or backoff [default: immediate]"),
    timeout: float = typer.Option(300.0, help="seconds to wait for every charger to connect"),
    recreate: bool = typer.Option(False, "--recreate", help="delete an existing environment of this name (and its data) and create it anew"),
    output: OutputFormat = OutputOption,
) -> None:
    """Create an environment (charger-server + simulated chargers) and wait until all are connected.

    On an existing environment: nothing changes when the options match it (crashed processes are
    restarted, data kept); options that differ are refused, naming the command that changes them."""
    with user_errors(output):
        given: dict[str, Any] = {
            "chargers": chargers, "replicas": replicas, "pr": pr, "image": image,
            "ttl": parse_duration(ttl) if ttl is not None else None, "server_version": server_version,
            "database_url": database_url, "session_rate": session_rate, "session_minutes": session_minutes,
            "meter_interval": meter_interval, "heartbeat_interval": heartbeat_interval, "reconnect": reconnect,
        }  # fmt: skip
        given = {k: v for k, v in given.items() if v is not None}
        spec = EnvSpec(
            name=name or (env_name_for_pr(pr) if pr is not None else "dev"), runtime=runtime or "local",  # type: ignore[arg-type]
            owner=current_owner(), ready_timeout_s=timeout, requested=frozenset(given), **given,
        )  # fmt: skip
        chosen = get_runtime(runtime)
        spec.runtime = chosen.name  # type: ignore[assignment]
        with up_progress(output == OutputFormat.text) as progress:
            status = chosen.up(spec, progress, recreate=recreate)
        emit(output, status.to_dict(), show_status)
