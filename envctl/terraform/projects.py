"""Which Terraform projects a repository has, and which local modules each one uses.

Configured projects come from `terraform.projects[]`; without a list, every directory holding
`.tf` files is a project, except directories that other projects use as local modules (a module
is planned through its callers, never on its own). Local modules are `module` blocks whose
`source` is a relative path ("./x", "../x"); they are followed transitively, so a change to a
module two levels down still selects the root that uses it.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from envctl.errors import ConfigError, NotFound
from envctl.terraform.settings import (
    DEFAULT_REQUIREMENTS,
    DEFAULT_WHEN_MODIFIED,
    ProjectConfig,
    Requirement,
    TerraformConfig,
)

SKIP_DIRS = {".git", ".terraform", ".venv", "node_modules", "__pycache__"}
_MODULE = re.compile(r'^\s*module\s+"[^"]*"\s*\{', re.MULTILINE)
_SOURCE = re.compile(r'^\s*source\s*=\s*"([^"]*)"', re.MULTILINE)


@dataclass(frozen=True)
class Project:
    name: str
    dir: str  # relative to the repository root, posix, "." for the root
    workspace: str = "default"
    when_modified: tuple[str, ...] = DEFAULT_WHEN_MODIFIED
    apply_requirements: tuple[Requirement, ...] = DEFAULT_REQUIREMENTS
    autoplan: bool = True
    modules: tuple[str, ...] = field(default=(), compare=False)  # local module dirs, transitively
    approvals: int = field(default=1, compare=False)  # approving reviews needed for `approved`
    approval_teams: tuple[str, ...] = field(default=(), compare=False)  # only their members count
    plan_env: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # (TARGET, SOURCE) for plans
    apply_env: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # ... and for applies

    @property
    def key(self) -> tuple[str, str]:
        return (self.dir, self.workspace)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "dir": self.dir, "workspace": self.workspace}


def _tf_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith((".tf", ".tf.json")))
    except OSError:
        return []


def _block_sources(text: str) -> list[str]:
    """The `source` of every module block (brace-balanced scan; comments are rare enough to ignore)."""
    sources = []
    for start in _MODULE.finditer(text):
        depth, i = 1, start.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[start.end(): i]
        found = _SOURCE.search(body)
        if found:
            sources.append(found.group(1))
    return sources


def local_module_dirs(root: Path, rel_dir: str) -> list[str]:
    """Relative dirs of the local modules `rel_dir` uses, directly or through other modules."""
    seen: list[str] = []
    todo = [rel_dir]
    while todo:
        current = todo.pop()
        for file in _tf_files(root / current):
            for source in _block_sources(file.read_text(errors="replace")):
                if not source.startswith(("./", "../")):
                    continue  # registry, git or http modules change through their version, not our files
                target = posixpath.normpath(posixpath.join(current, source))
                if target.startswith("..") or target in seen or target == rel_dir:
                    continue
                seen.append(target)
                todo.append(target)
    return sorted(seen)


def discover(root: Path, recursive: bool = True) -> list[str]:
    """Every directory under `root` with .tf files, relative, sorted.

    Never beyond `root`: symlinks are not followed and a directory holding its own `.git` is
    another repository, not ours. With recursive=False (outside any repository) only `root`
    itself counts: from a shared directory such as /tmp, its subdirectories are other people's."""
    if not recursive:
        return ["."] if _tf_files(root) else []
    found = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                         and not os.path.exists(os.path.join(current, d, ".git")))
        if any(f.endswith((".tf", ".tf.json")) for f in files):
            rel = os.path.relpath(current, root).replace(os.sep, "/")
            found.append(rel)
    return sorted(found)


def load_projects(root: Path, config: TerraformConfig, recursive: bool = True) -> list[Project]:
    if config.projects is not None:
        configured = config.projects
    else:
        dirs = discover(root, recursive)
        used_as_module = {m for d in dirs for m in local_module_dirs(root, d)}
        configured = [ProjectConfig(name=d if d != "." else "root", dir=d) for d in dirs if d not in used_as_module]
    projects = []
    for pc in configured:
        if not _tf_files(root / pc.dir):
            raise ConfigError(f"terraform project {pc.name!r}: {pc.dir} has no .tf files",
                              "fix terraform.projects[].dir in envctl.yaml")
        requirements = config.default_apply_requirements if pc.apply_requirements is None else pc.apply_requirements
        approvals = pc.approvals or config.approvals
        credentials = pc.credentials or config.credentials
        projects.append(Project(
            name=pc.name, dir=pc.dir, workspace=pc.workspace, when_modified=tuple(pc.when_modified),
            apply_requirements=tuple(requirements), autoplan=pc.autoplan,
            modules=tuple(local_module_dirs(root, pc.dir)), approvals=approvals.count,
            approval_teams=tuple(approvals.teams), plan_env=tuple(sorted(credentials.plan.items())),
            apply_env=tuple(sorted(credentials.apply.items())),
        ))  # fmt: skip
    return projects


def select(projects: list[Project], name: str | None = None, directory: str | None = None) -> list[Project]:
    """`--project NAME` / `--dir DIR` / `/plan NAME` matched against the list, never used as a path."""
    if name is None and directory is None:
        return projects
    if name is not None:
        chosen = [p for p in projects if p.name == name]
        what = f"project {name!r}"
    else:
        wanted = posixpath.normpath(str(directory).strip("/") or ".")
        chosen = [p for p in projects if p.dir == wanted]
        what = f"project in {wanted!r}"
    if not chosen:
        names = ", ".join(p.name for p in projects) or "(none)"
        raise NotFound(f"there is no {what}", f"projects: {names}")
    return chosen
