"""Progress of `envctl up` on stderr: a live bar on a terminal, plain lines elsewhere (CI logs,
pipes), where a bar redrawn in place would show as nothing or as one blank line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from envctl.cli.output import stderr
from envctl.runtimes.base import Progress as OnProgress
from envctl.runtimes.base import no_progress

LINE_EVERY_S = 2.0  # a waiting step repeats its line at most this often


@contextmanager
def up_progress(show: bool) -> Iterator[OnProgress]:
    if not show:
        yield no_progress
    elif stderr.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=stderr, transient=True) as bar:
            task = bar.add_task("starting", total=1)
            yield lambda what, done, total: bar.update(task, description=what, completed=done, total=total)
    else:
        yield progress_lines()


def progress_lines() -> OnProgress:
    """One line per step on stderr (a waiting step repeats at most every LINE_EVERY_S); usable
    beside a live bar, which a second bar is not."""
    started = time.monotonic()
    last: dict[str, float | str] = {"what": "", "at": 0.0}

    def line(what: str, _done: int, _total: int) -> None:
        now = time.monotonic()
        step = what.split(" ", 2)[:2]  # "chargers connected 5/10" repeats as one step
        repeat = step == str(last["what"]).split(" ", 2)[:2]
        if what == last["what"] or (repeat and _done < _total and now - float(last["at"]) < LINE_EVERY_S):
            return
        last.update(what=what, at=now)
        print(f"[{now - started:5.1f}s] {what}", file=stderr.file, flush=True)

    return line
