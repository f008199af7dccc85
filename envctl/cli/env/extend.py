"""envctl extend NAME 4h: push an environment's expiry further."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.envs.model import parse_duration
from envctl.envs.service import extend
from envctl.envs.ttl import format_time
from envctl.release.identity import os_user


def command(
    name: str = typer.Argument(..., help="environment name"),
    duration: str = typer.Argument(..., help="how much longer, e.g. 4h, 1d"),
    runtime: Optional[str] = typer.Option(None, help="local or kubernetes"),
    output: OutputFormat = OutputOption,
) -> None:
    """Extend an environment's time to live (from its current expiry; from now if already expired)."""
    with user_errors(output):
        # Through the front door, so the environment's history records it (the actor as the kernel says).
        status = extend(name, parse_duration(duration), runtime, actor=os_user())
        expires = format_time(status.expires_at)
        emit(output, {"name": name, "expires_at": expires},
             lambda d: stdout.print(f"{name}: expires at {expires}"))
