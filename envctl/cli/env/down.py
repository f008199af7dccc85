"""Placeholder until its owner lands the real command."""

from __future__ import annotations

import typer


def command() -> None:
    raise typer.Exit(99)
