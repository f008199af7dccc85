"""envctl tf unlock: release a project lock (or every lock a pull request holds)."""

from __future__ import annotations

from typing import Optional

import typer

from envctl.cli.output import OutputFormat, OutputOption, emit, stdout, user_errors
from envctl.cli.tf.context import DirOption, ProjectOption, RepoOption, open_context
from envctl.errors import ConfigError, NotFound


def command(
    project: Optional[str] = ProjectOption,
    directory: Optional[str] = DirOption,
    pr: Optional[int] = typer.Option(None, "--pr", help="release every lock this pull request holds"),
    repo_name: str = RepoOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Release locks so another pull request can plan; the holder's saved plan can no longer be applied."""
    with user_errors(output):
        ctx = open_context(repo_name)
        if pr is not None and project is None and directory is None:
            released = ctx.locks.release_pull(ctx.repo_name, pr)
        elif project is None and directory is None:
            raise ConfigError("say which lock to release", "use --project NAME, --dir DIR or --pr N")
        else:
            released = []
            for p in ctx.select(project, directory):
                lock = ctx.locks.release(ctx.repo_name, p.dir, p.workspace, pr)
                if lock is not None:
                    released.append(lock)
        if not released:
            raise NotFound("no matching lock is held", "see `envctl tf locks`")
        data = {"released": [lk.to_dict() for lk in released]}
    emit(output, data, lambda d: [stdout.print(f"released {lk['project']} (held by #{lk['pull']})")
                                  for lk in d["released"]])
