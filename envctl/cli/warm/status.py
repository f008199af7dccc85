"""envctl warm status: how many previews can start now, without waiting for a node."""

from __future__ import annotations

from typing import Any


from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors


def command(output: OutputFormat = OutputOption) -> None:
    """Placeholders holding room (ready), waiting for a node (pending), and previews startable now."""
    with user_errors(output):
        from envctl.config import load_config
        from envctl.warm import pool

        kube = pool.connect()
        try:
            data = pool.status(kube, load_config()).to_dict()
        finally:
            kube.close()
        emit(output, data, _show)


def _show(d: dict[str, Any]) -> None:
    p = d["placeholders"]
    colour = "green" if d["previews_startable_now"] else "yellow"
    stdout.print(f"[{colour}]{d['previews_startable_now']} preview(s) can start without waiting[/] "
                 f"({p['ready']} of {p['wanted']} placeholders holding room)")  # fmt: skip
    if p["pending"]:
        stdout.print(f"  {p['pending']} placeholder(s) waiting for a node (a cluster autoscaler adds one for them)")
    if p["terminating"]:
        stdout.print(f"  {p['terminating']} placeholder(s) being preempted right now")
    for node, n in d["nodes"].items():
        stdout.print(f"  {node:<30} {n}")
