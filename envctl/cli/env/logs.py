"""envctl logs NAME: the last log lines of an environment's server (or simulator) pods."""

from __future__ import annotations

import enum
from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.envs.service import get_runtime
from envctl.errors import Refused


class Component(str, enum.Enum):
    server = "server"
    simulator = "simulator"
    postgres = "postgres"


def command(
    name: str = typer.Argument("dev", help="environment name"),
    component: Component = typer.Option(Component.server, "--component", "-c"),
    tail: int = typer.Option(100, min=1, help="lines per pod"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Print the last lines each pod of a component logged."""
    with user_errors(output):
        chosen = get_runtime(runtime)
        logs = getattr(chosen, "logs", None)
        if not callable(logs):
            raise Refused(f"the {chosen.name} runtime has no logs command", "use --runtime kubernetes")
        by_pod: dict[str, str] = logs(name, component.value, tail)

        def show(data: dict[str, str]) -> None:
            for pod, text in data.items():
                stdout.rule(pod)
                stdout.print(text, markup=False, highlight=False, end="")

        emit(output, by_pod, show)
