"""One run per project: init -> workspace -> plan -out -> show -json -> show, in a bounded pool.

Each project gets its own TF_DATA_DIR and plan file under `work_dir(project)`, so concurrent
inits never share a `.terraform` and a saved plan is found again by `/apply`. Terraform runs
in subprocesses; the threads here only wait on them. What comes back is redacted before it
leaves this module: the text plan and any error pass through the project's Redactor, which knows
the plan's sensitive values (see redaction.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envctl.errors import EnvctlError
from envctl.terraform.driver import Driver
from envctl.terraform.environment import held_secrets, resolve
from envctl.terraform.projects import Project
from envctl.terraform.redaction import Redactor, sensitive_values
from envctl.terraform.settings import TerraformConfig
from envctl.terraform.summary import Summary, summarize

PLAN_FILE = "plan.tfplan"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class PlanResult:
    project: Project
    summary: Summary | None = None
    plan_text: str = ""  # redacted
    error: str | None = None  # redacted, user-facing
    plan_file: Path | None = None
    plan_sha256: str | None = None
    terraform_s: float = 0.0
    total_s: float = 0.0
    started_at: float = 0.0  # time.monotonic(), to see runs overlap
    redactor: Redactor = field(default_factory=Redactor)

    @property
    def ok(self) -> bool:
        return self.error is None and self.summary is not None

    def to_dict(self) -> dict[str, Any]:
        """The `envctl tf plan --output json` project object (DESIGN.md contract, plus extras)."""
        data: dict[str, Any] = {**self.project.to_dict(), "ok": self.ok}
        if self.summary is not None:
            s = self.summary.to_dict()
            data.update(has_changes=s["has_changes"], changes=s["changes"], no_op=s["no_op"],
                        resources=[{"address": r["address"], "actions": r["actions"]} for r in s["resources"]],
                        outputs=s["outputs"], drift=s["drift"])
        else:  # same shape as a successful plan (outside checks read it), with ok=false and the error
            data.update(has_changes=False, changes=dict.fromkeys(("create", "update", "replace", "delete"), 0),
                        no_op=0, resources=[], outputs=[], drift=[])
        if self.error is not None:
            data["error"] = self.error
        if self.plan_sha256:
            data["plan_sha256"] = self.plan_sha256
        data["timings"] = {"terraform_s": round(self.terraform_s, 4), "total_s": round(self.total_s, 4)}
        return data


WorkDir = Callable[[Project], Path]


def plan_project(root: Path, project: Project, work_dir: Path, config: TerraformConfig,
                 refresh_only: bool = False, secrets: Iterable[str] = ()) -> PlanResult:
    """`secrets`: what envctl holds besides the project's credentials (its GitHub token, ...)."""
    started, began = time.perf_counter(), time.monotonic()
    credentials = resolve(dict(project.plan_env))  # the plan set only: apply's never reaches a plan
    held = [*secrets, *credentials.values(), *resolve(dict(project.apply_env)).values()]
    redactor = Redactor(config.redact_patterns, secrets=held_secrets(extra=held))
    result = PlanResult(project, redactor=redactor, started_at=began)
    plan_file = work_dir / PLAN_FILE
    driver = Driver(root / project.dir, work_dir / "tfdata", redactor, config.timeout_s, credentials=credentials)
    try:
        plan_file.unlink(missing_ok=True)
        driver.init()
        driver.select_workspace(project.workspace)
        driver.plan(plan_file, config.lock_timeout, refresh_only=refresh_only)
        plan = driver.show_json(plan_file)
        redactor.add(sensitive_values(plan))
        result.summary = summarize(plan)
        del plan  # the clear-text values go no further than this function
        result.plan_text = redactor(driver.show_text(plan_file))
        plan_file.chmod(0o600)
        result.plan_file = plan_file
        result.plan_sha256 = file_sha256(plan_file)
    except EnvctlError as err:
        result.error = redactor(err.message)
    result.terraform_s = driver.timings.terraform_s
    result.total_s = time.perf_counter() - started
    return result


def plan_projects(root: Path, projects: list[Project], work_dir: WorkDir, config: TerraformConfig,
                  refresh_only: bool = False, secrets: Iterable[str] = (),
                  on_done: Callable[[PlanResult], None] | None = None) -> list[PlanResult]:
    """Plan independent projects in parallel (at most config.parallelism at once), in input order."""
    secrets = tuple(secrets)

    def one(project: Project) -> PlanResult:
        result = plan_project(root, project, work_dir(project), config, refresh_only, secrets)
        if on_done is not None:
            on_done(result)
        return result

    if len(projects) <= 1:
        return [one(p) for p in projects]
    with ThreadPoolExecutor(max_workers=min(config.parallelism, len(projects)),
                            thread_name_prefix="envctl-tf") as pool:
        return list(pool.map(one, projects))
