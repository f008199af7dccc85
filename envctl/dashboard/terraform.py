"""Terraform locks and the last plan per project, read through envctl/terraform/ as `envctl tf` does.

Locks live in envctl's lock store (a file locally, a Lease on a cluster); saved plans are those
`envctl tf plan` made for the working tree the dashboard was started in (--terraform-dir).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from envctl.state import state_root


def overview(root: Path) -> dict[str, Any]:
    from envctl.terraform.service import Repo, config_from_file, lock_store

    config = config_from_file(root / "envctl.yaml")
    locks = [lk.to_dict() for lk in lock_store(config, state_root()).list()]
    repo = Repo.open_local(root, state_root(), config)  # the saved plans `envctl tf plan` made here
    projects = []
    for project in repo.projects:
        saved = repo.plans.load(project)
        projects.append({"name": project.name, "dir": project.dir, "workspace": project.workspace,
                         "last_plan": asdict(saved) if saved else None})  # fmt: skip
    return {"root": str(root.resolve()), "locks": locks, "projects": projects}
