"""How every command shows results: rich for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

from envctl.errors import EnvctlError

stdout = Console()
stderr = Console(stderr=True)

T = TypeVar("T")


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


OutputOption = typer.Option(OutputFormat.text, "--output", "-o", help="text for people, json for scripts")


def emit(fmt: OutputFormat, data: Any, render: Callable[[Any], None] | None = None) -> None:
    """Print `data` as JSON, or hand it to `render` for people."""
    if fmt == OutputFormat.json or render is None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()
    else:
        render(data)


@contextmanager
def user_errors(fmt: OutputFormat = OutputFormat.text) -> Iterator[None]:
    """Turn EnvctlError into a message on stderr and a non-zero exit; leave bugs loud."""
    try:
        yield
    except EnvctlError as err:
        if fmt == OutputFormat.json:
            sys.stderr.write(json.dumps(err.to_dict()) + "\n")
        else:
            stderr.print(f"[bold red]error:[/] {err.message}", highlight=False)
            if err.hint:
                stderr.print(f"[yellow]hint:[/] {err.hint}", highlight=False)
        raise typer.Exit(err.exit_code) from None
