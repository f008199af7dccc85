"""envctl tf apply: apply the plans `envctl tf plan` saved, refusing stale ones and locked projects."""

from __future__ import annotations

from typing import Any, Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stderr, stdout, user_errors
from envctl.cli.tf.context import DirOption, ProjectOption, RepoOption, open_context
from envctl.errors import Refused
from envctl.terraform import service


def show(data: dict[str, Any]) -> None:
    for p in data["projects"]:
        if p["ok"]:
            stdout.print(f"[green]applied[/] {p['name']} ({p['dir']}, {p['workspace']})", highlight=False)
        else:
            stderr.print(f"[bold red]apply failed[/] {p['name']}:\n{p['output']}", highlight=False)


def command(
    project: Optional[str] = ProjectOption,
    directory: Optional[str] = DirOption,
    repo_name: str = RepoOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Apply exactly the saved plan of each selected project (all projects with a saved plan by default)."""
    with user_errors(output):
        ctx = open_context(repo_name)
        selected = ctx.select(project, directory)
        if project is None and directory is None:
            selected = [p for p in selected if ctx.repo.plans.load(p) is not None]
            if not selected:
                raise Refused("there is no saved plan to apply", "run `envctl tf plan` first")
        for p in selected:
            held = ctx.locks.get(ctx.repo_name, p.dir, p.workspace)
            if held is not None:
                raise Refused(f"{p.name} is locked by pull request {held.holder} ({held.user})",
                              f"apply it there, or release the lock: `envctl tf unlock --project {p.name}`")
        results = []
        for p in selected:
            results.append(service.apply(ctx.repo, p, service.source_fingerprint(ctx.repo.root, p)))
            if not results[-1].ok:
                break  # later projects may depend on this one
        data = {"projects": [r.to_dict() for r in results]}
    emit(output, data, show)
    if any(not r.ok for r in results):
        raise typer.Exit(1)
