"""A progress bar over the mover's reports, and a stop flag Ctrl-C / SIGTERM set (listeners are
restored by the mover however it stops)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from envctl.cli.env.progress import progress_lines
from envctl.cli.output import stderr
from envctl.fleet.mover import Progress as OnProgress


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def move_progress(show: bool) -> Iterator[OnProgress]:
    if not show:
        yield lambda _state: None
        return
    if not stderr.is_terminal:  # a bar redrawn in place shows as a blank line in a log or a pipe
        lines = progress_lines()
        yield lambda state: lines(_describe(state), int(state["moved"]), max(int(state["to_move"]), int(state["moved"])))
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("moving chargers", total=None)

        def update(state: dict[str, Any]) -> None:
            bar.update(task, completed=state["moved"], total=max(state["to_move"], state["moved"]) or None,
                       description=_describe(state))  # fmt: skip

        yield update


def _describe(state: dict[str, Any]) -> str:
    spread = ", ".join(f"{k} {v}" for k, v in sorted(state["connections"].items()))
    return f"moving chargers ({spread}; {state['in_flight']} in flight)"
