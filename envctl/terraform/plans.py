"""Saved plans: the plan file terraform wrote plus what envctl must check before applying it.

    <work>/<project digest>/plan.tfplan   terraform's plan file (0600; it holds state values)
                            plan.json     head SHA it was made at, its sha256, who asked, when
                            tfdata/       the project's own TF_DATA_DIR

`/apply` applies exactly the file whose hash was recorded, and only while the PR's head is the
SHA it was made at; anything else is stale and refused with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from envctl.errors import NotFound, Refused
from envctl.state import read_json, write_json_atomic
from envctl.terraform.locks import key_digest, now_iso
from envctl.terraform.projects import Project
from envctl.terraform.runner import PLAN_FILE, file_sha256


@dataclass(frozen=True)
class SavedPlan:
    project: str
    dir: str
    workspace: str
    head_sha: str
    plan_sha256: str
    has_changes: bool
    user: str
    created_at: str


def project_dir(root: Path, project: Project) -> Path:
    return root / key_digest(f"{project.dir}|{project.workspace}")


class PlanStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def work_dir(self, project: Project) -> Path:
        return project_dir(self.root, project)

    def save(self, project: Project, head_sha: str, plan_sha256: str, has_changes: bool, user: str) -> SavedPlan:
        saved = SavedPlan(project.name, project.dir, project.workspace, head_sha, plan_sha256, has_changes,
                          user, now_iso())
        write_json_atomic(self.work_dir(project) / "plan.json", asdict(saved))
        return saved

    def load(self, project: Project) -> SavedPlan | None:
        try:
            return SavedPlan(**read_json(self.work_dir(project) / "plan.json"))
        except FileNotFoundError:
            return None

    def discard(self, project: Project) -> None:
        for name in ("plan.json", PLAN_FILE):
            (self.work_dir(project) / name).unlink(missing_ok=True)

    def checked(self, project: Project, head_sha: str) -> tuple[SavedPlan, Path]:
        """The saved plan for `project`, refused when it is missing or stale."""
        name = project.name
        again = f"plan again (`/plan {name}` on the pull request, `envctl tf plan --project {name}` locally)"
        hint = again.replace("plan again", "make a plan first", 1)
        saved = self.load(project)
        plan_file = self.work_dir(project) / PLAN_FILE
        if saved is None or not plan_file.exists():
            raise NotFound(f"there is no saved plan for {project.name}", hint)
        if saved.head_sha != head_sha:
            raise Refused(
                f"the plan for {name} is stale: it was made at {saved.head_sha[:12]}, "
                f"but the code is now at {head_sha[:12]}",
                f"{again}, then apply that plan",
            )
        if file_sha256(plan_file) != saved.plan_sha256:
            raise Refused(f"the saved plan file for {name} changed since it was made (its hash does not match)",
                          f"{again} to make a new one")
        return saved, plan_file
