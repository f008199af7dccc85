"""envctl warm apply: create or resize the placeholder pool (PriorityClass + Deployment)."""

from __future__ import annotations

from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors


def command(
    count: Optional[int] = typer.Option(None, min=0, help="placeholders to keep (default: warm.placeholders in envctl.yaml)"),
    output: OutputFormat = OutputOption,
) -> None:
    """Keep COUNT placeholder pods, each holding the room of one preview environment."""
    with user_errors(output):
        from envctl.config import load_config
        from envctl.warm import pool

        config = load_config()
        kube = pool.connect()
        try:
            values = pool.apply(kube, config, count)
            data = {"applied": True, **pool.status(kube, config).to_dict(), "wanted": values.placeholders}
        finally:
            kube.close()
        emit(output, data, _show)


def _show(d: dict[str, Any]) -> None:
    req = d["requests_per_placeholder"]
    stdout.print(f"warm pool in [bold]{d['namespace']}[/]: {d['wanted']} placeholder(s) of {req['cpu']} CPU, "
                 f"{req['memory']} (room for one preview of {req['pods']} pods each)")  # fmt: skip
    stdout.print("  see `envctl warm status` for how many previews can start without waiting")
