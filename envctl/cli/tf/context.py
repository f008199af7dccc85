"""What every `envctl tf` command opens: the working tree, its envctl.yaml, saved plans and locks."""

from __future__ import annotations

import getpass
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from envctl.config import config_path
from envctl.errors import NotFound
from envctl.state import state_root
from envctl.terraform.locks import LockStore
from envctl.terraform.projects import Project, select
from envctl.terraform.service import Repo, config_from_file, lock_store

ProjectOption: Optional[str] = typer.Option(None, "--project", "-p", help="one project, by name")
DirOption: Optional[str] = typer.Option(None, "--dir", "-d", help="the project in this directory")
RepoOption: str = typer.Option("local", "--repo", envvar="GITHUB_REPOSITORY",
                               help="owner/name the locks belong to (default: $GITHUB_REPOSITORY or local)")


def _root() -> tuple[Path, bool]:
    """The repository's root, or the working directory (False) when there is no repository."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
        if top.returncode == 0 and top.stdout.strip():
            return Path(top.stdout.strip()), True
    except OSError:
        pass
    return Path.cwd(), False


@dataclass
class TfContext:
    repo: Repo
    locks: LockStore
    repo_name: str
    in_repo: bool = True

    def select(self, project: str | None, directory: str | None) -> list[Project]:
        if directory is not None:
            given = directory
            directory = os.path.relpath(Path(directory).resolve(), self.repo.root.resolve()).replace(os.sep, "/")
            if directory == ".." or directory.startswith("../"):
                where = "the repository" if self.in_repo else "the working directory"
                raise NotFound(f"--dir {given} is outside {where} ({self.repo.root}), so it holds none of its projects",
                               "run envctl from the repository that holds that directory")
        return select(self.repo.projects, project, directory)


def open_context(repo_name: str = "local") -> TfContext:
    root, in_repo = _root()
    explicit = os.environ.get("ENVCTL_CONFIG")
    config = config_from_file(config_path(explicit) if explicit else root / "envctl.yaml")
    # outside a repository only the working directory itself is searched, never below it
    repo = Repo.open_local(root, state_root(), config, recursive=in_repo)
    if not repo.projects and not in_repo:
        raise NotFound(f"no Terraform files in {root}: it is not inside a git repository, so envctl looks in this "
                       "directory only, not in its subdirectories",
                       "run envctl inside your repository, or in the directory that holds the .tf files")
    return TfContext(repo, lock_store(config, state_root()), repo_name, in_repo)


def local_user() -> str:
    """Who ran a local plan, for the record only: it authorizes nothing."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
