"""envctl tf plan: plan projects in parallel, print summaries, JSON, or the PR comment bodies."""

from __future__ import annotations

import enum
import os
import sys
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from envctl.cli.output import OutputFormat, emit, stderr, stdout, user_errors
from envctl.cli.tf.context import DirOption, ProjectOption, RepoOption, local_user, open_context
from envctl.github.terraform_markdown import PlanView, render_plan
from envctl.terraform import service
from envctl.terraform.runner import PlanResult


class PlanOutput(str, enum.Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def comments(result: PlanResult, sha: str | None = None) -> list[str]:
    p = result.project
    return render_plan(PlanView(p.name, p.dir, p.workspace, result.summary, result.plan_text, result.error, sha))


def show(data: dict[str, Any]) -> None:
    table = Table("project", "dir", "workspace", "create", "update", "replace", "delete", "result")
    for p in data["projects"]:
        c = p.get("changes") or {}
        result = p.get("error", "").split("\n")[0] if not p["ok"] else ("changes" if p["has_changes"] else "no changes")
        table.add_row(p["name"], p["dir"], p["workspace"], *(str(c.get(k, "-")) for k in
                      ("create", "update", "replace", "delete")), result)
    stdout.print(table)
    for p in data["projects"]:
        if not p["ok"]:
            stderr.print(f"[bold red]{p['name']}:[/] {p['error']}", highlight=False, markup=True)


def command(
    project: Optional[str] = ProjectOption,
    directory: Optional[str] = DirOption,
    repo_name: str = RepoOption,
    output: PlanOutput = typer.Option(PlanOutput.text, "--output", "-o",
                                      help="text, json, or markdown (the PR comment bodies as posted)"),
) -> None:
    """Plan the projects (all, or one) and save each plan for `envctl tf apply`."""
    fmt = OutputFormat.json if output == PlanOutput.json else OutputFormat.text
    with user_errors(fmt):
        ctx = open_context(repo_name)
        selected = ctx.select(project, directory)
        fingerprint = lambda p: service.source_fingerprint(ctx.repo.root, p)  # noqa: E731
        if output == PlanOutput.text and sys.stderr.isatty():
            columns = (TextColumn("planning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=stderr, transient=True) as bar:
                task = bar.add_task("plan", total=len(selected))
                results = service.plan(ctx.repo, selected, fingerprint, local_user(),
                                       on_done=lambda _: bar.advance(task))
        else:
            results = service.plan(ctx.repo, selected, fingerprint, local_user())
        bodies = [body for r in results for body in comments(r)]
        data = {"projects": [r.to_dict() for r in results], "comments": bodies}
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:  # inside GitHub Actions: the job summary shows the same comments
        with open(summary_file, "a") as fh:
            fh.write("\n\n".join(bodies) + "\n")
    if output == PlanOutput.markdown:
        # each body starts with its envctl:terraform marker line, which is where the next one begins
        sys.stdout.write("\n".join(bodies))
        sys.stdout.flush()
    else:
        emit(fmt, data, show)
    if any(not r.ok for r in results):
        raise typer.Exit(1)
