"""Which projects a pull request's changed files touch. Pure.

A project is touched when a changed file matches one of its `when_modified` globs (relative to
the project dir; `**` crosses directories), or is a file of a local module it uses (directly or
through other modules).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from fnmatch import fnmatchcase

from envctl.terraform.projects import Project
from envctl.terraform.settings import DEFAULT_WHEN_MODIFIED

MODULE_FILES = DEFAULT_WHEN_MODIFIED


def _inside(path: str, directory: str) -> str | None:
    """`path` relative to `directory`, or None when it is not under it."""
    if directory == ".":
        return path
    prefix = directory.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def _matches(relative: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if "/" in pattern or "**" in pattern:
            if fnmatchcase(relative, pattern) or (pattern.startswith("**/") and fnmatchcase(relative, pattern[3:])):
                return True
        elif "/" not in relative and fnmatchcase(relative, pattern):
            return True
    return False


def touched(project: Project, changed: Iterable[str]) -> bool:
    for raw in changed:
        path = posixpath.normpath(raw.lstrip("/"))
        relative = _inside(path, project.dir)
        if relative is not None and _matches(relative, project.when_modified):
            return True
        for module in project.modules:
            inner = _inside(path, module)
            if inner is not None and _matches(inner, MODULE_FILES):
                return True
    return False


def select_changed(projects: Iterable[Project], changed: Iterable[str]) -> list[Project]:
    files = list(changed)
    return [p for p in projects if p.autoplan and touched(p, files)]
