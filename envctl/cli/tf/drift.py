"""envctl tf drift: plan the default branch's projects for drift; optionally open/close issues."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.cli.tf.context import DirOption, ProjectOption, open_context
from envctl.errors import ConfigError
from envctl.terraform import drift


def show(data: dict[str, Any]) -> None:
    table = Table("project", "dir", "workspace", "drifted", "changed outside", "pending", "issue")
    issues = {i["project"]: i for i in data.get("issues", [])}
    for p in data["projects"]:
        pending = sum(len(v) for v in p["pending"].values())
        issue = issues.get(p["name"])
        table.add_row(p["name"], p["dir"], p["workspace"], "error" if p.get("error") else ("yes" if p["drifted"] else "no"),
                      str(len(p["changed_outside"])), str(pending),
                      f"{issue['action']} #{issue['number']}" if issue and issue["number"] else "")
    stdout.print(table)


def command(
    project: Optional[str] = ProjectOption,
    directory: Optional[str] = DirOption,
    open_issues: bool = typer.Option(False, "--open-issues", help="open/update one GitHub issue per drifted "
                                     "project and close it once the drift is gone (needs a GitHub token)"),
    repo_name: Optional[str] = typer.Option(None, "--repo", envvar="GITHUB_REPOSITORY", help="owner/name for the issues"),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="exit 2 when any project drifted"),
    output: OutputFormat = OutputOption,
) -> None:
    """Check the checked-out (default) branch's projects for drift (refresh-only and full plans)."""
    with user_errors(output):
        ctx = open_context(repo_name or "local")
        results = drift.detect(ctx.repo, ctx.select(project, directory))
        data: dict[str, Any] = {"projects": [r.to_dict() for r in results]}
        if open_issues:
            if not repo_name:
                raise ConfigError("--open-issues needs the repository", "pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
            from envctl.github.client import GitHubClients
            from envctl.github.drift_issues import DriftIssues
            from envctl.github.settings import GitHubSettings

            settings = GitHubSettings.from_env()
            settings.require_credentials()
            issues = DriftIssues(GitHubClients(settings).for_installation(settings.installation_id), repo_name)
            actions = issues.sync(results)
            data["issues"] = [a.to_dict() for a in actions]
    emit(output, data, show)
    if any(r.error for r in results):
        raise typer.Exit(1)
    if detailed_exitcode and any(r.drifted for r in results):
        raise typer.Exit(2)
