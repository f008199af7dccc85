"""Options every release verb shares."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.envs.model import parse_duration

EnvOption: Optional[str] = typer.Option(None, "--env", "-e", help="environment; default: the only one there is")
RuntimeOption: Optional[str] = typer.Option(None, "--runtime", help="local or kubernetes; default: kubernetes when a cluster is configured, else local")


def seconds(text: str) -> float:
    """'30s', '2m', or a plain number of seconds."""
    try:
        return float(text)
    except ValueError:
        return parse_duration(text).total_seconds()
