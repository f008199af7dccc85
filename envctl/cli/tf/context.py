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
from envctl.state import state_root
from envctl.terraform.locks import LockStore, key_digest
from envctl.terraform.projects import Project, select
from envctl.terraform.service import Repo, config_from_file, lock_store

ProjectOption: Optional[str] = typer.Option(None, "--project", "-p", help="one project, by name")
DirOption: Optional[str] = typer.Option(None, "--dir", "-d", help="the project in this directory")
RepoOption: str = typer.Option("local", "--repo", envvar="GITHUB_REPOSITORY",
                               help="owner/name the locks belong to (default: $GITHUB_REPOSITORY or local)")


def _root() -> Path:
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
        if top.returncode == 0 and top.stdout.strip():
            return Path(top.stdout.strip())
    except OSError:
        pass
    return Path.cwd()


@dataclass
class TfContext:
    repo: Repo
    locks: LockStore
    repo_name: str

    def select(self, project: str | None, directory: str | None) -> list[Project]:
        if directory is not None:
            directory = os.path.relpath(Path(directory).resolve(), self.repo.root.resolve()).replace(os.sep, "/")
        return select(self.repo.projects, project, directory)


def open_context(repo_name: str = "local") -> TfContext:
    root = _root()
    explicit = os.environ.get("ENVCTL_CONFIG")
    config = config_from_file(config_path(explicit) if explicit else root / "envctl.yaml")
    work = state_root() / "terraform" / "local" / key_digest(str(root.resolve()))
    return TfContext(Repo.open(root, work, config), lock_store(config, state_root()), repo_name)


def local_user() -> str:
    """Who ran a local plan, for the record only: it authorizes nothing."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
