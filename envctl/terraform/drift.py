"""Drift of the default branch's projects: is what is deployed still what the code says?

Two plans per project, both with Terraform's detailed exit code:
- `plan -refresh-only`: objects changed outside Terraform (someone edited them by hand); these
  appear as `resource_drift` in the plan JSON;
- a normal plan: the recorded state no longer matches the default branch's code (an apply from
  somewhere else, a state edited out of band, an apply that never happened after a merge).

Either one makes the project drifted. Nothing is applied or saved: the plan files are scratch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from envctl.terraform.projects import Project
from envctl.terraform.runner import PlanResult, plan_project
from envctl.terraform.service import Repo


@dataclass
class DriftResult:
    project: Project
    refresh: PlanResult
    config: PlanResult | None

    @property
    def error(self) -> str | None:
        return self.refresh.error or (self.config.error if self.config else None)

    @property
    def drifted_resources(self) -> list[str]:
        summary = self.refresh.summary
        return [rc.address for rc in summary.drift] if summary else []

    @property
    def pending(self) -> dict[str, list[str]]:
        """Changes a plan of the default branch would make: the state differs from the code."""
        summary = self.config.summary if self.config else None
        return summary.by_action() if summary else {}

    @property
    def drifted(self) -> bool:
        if self.error:
            return False
        outputs = bool(self.config and self.config.summary and self.config.summary.outputs)
        return bool(self.drifted_resources or self.pending or outputs)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.project.to_dict(), "drifted": self.drifted,
                                "changed_outside": self.drifted_resources, "pending": self.pending}
        if self.config and self.config.summary:
            data["changes"] = self.config.summary.changes
        if self.error:
            data["error"] = self.error
        return data


def _one(repo: Repo, project: Project) -> DriftResult:
    work = repo.plans.work_dir(project) / "drift"
    refresh = plan_project(repo.root, project, work, repo.config, refresh_only=True)
    config = plan_project(repo.root, project, work, repo.config) if refresh.ok else None
    (work / "plan.tfplan").unlink(missing_ok=True)
    return DriftResult(project, refresh, config)


def detect(repo: Repo, projects: list[Project]) -> list[DriftResult]:
    if len(projects) <= 1:
        return [_one(repo, p) for p in projects]
    with ThreadPoolExecutor(max_workers=min(repo.config.parallelism, len(projects))) as pool:
        return list(pool.map(lambda p: _one(repo, p), projects))
