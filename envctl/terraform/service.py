"""The Terraform core both front doors call: plan, apply, locks. Knows nothing of GitHub or typer.

A `Repo` is a directory of Terraform code (a developer's working tree, or the webhook's checkout
of a PR head) plus where its saved plans live. Plans are saved per project; `apply()` applies
exactly a saved plan after PlanStore.checked() said it is current.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from envctl.errors import ConfigError, EnvctlError
from envctl.terraform.driver import Driver
from envctl.terraform.environment import held_secrets, resolve
from envctl.terraform.locks import FileLockStore, LockStore, key_digest
from envctl.terraform.plans import PlanStore
from envctl.terraform.projects import SKIP_DIRS, Project, load_projects
from envctl.terraform.redaction import Redactor, sensitive_values
from envctl.terraform.runner import PlanResult, plan_projects
from envctl.terraform.settings import TerraformConfig


def config_from_text(text: str | None, source: str = "envctl.yaml") -> TerraformConfig:
    """The `terraform:` section of an envctl.yaml's text (none: every default)."""
    from envctl.config import parse_config

    data = yaml.safe_load(text) if text else None
    config = parse_config(data, source)
    return config.terraform or TerraformConfig()


def config_from_file(path: Path) -> TerraformConfig:
    if not path.exists():
        return TerraformConfig()
    try:
        return config_from_text(path.read_text(), path.name)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path.name}: not valid YAML ({err})") from None


def lock_store(config: TerraformConfig, state_dir: Path) -> LockStore:
    backend = config.locks.backend
    if backend == "auto":
        from envctl.envs.service import cluster_configured

        backend = "kubernetes" if cluster_configured() else "file"
    if backend == "kubernetes":
        from envctl.runtimes.kubernetes.client import Kube
        from envctl.terraform.locks_kubernetes import LeaseLockStore

        return LeaseLockStore(Kube(), config.locks.namespace)
    return FileLockStore(state_dir / "terraform" / "locks.json")


def source_fingerprint(root: Path, project: Project) -> str:
    """A digest of the project's files and its local modules' (for plans made outside git)."""
    digest = hashlib.sha256()
    for rel in (project.dir, *project.modules):
        base = root / rel
        for current, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            if Path(current) != base and rel == project.dir and any(
                    Path(current).is_relative_to(root / m) for m in project.modules):
                continue
            for name in sorted(files):
                if name.endswith((".tfstate", ".tfstate.backup")) or name.startswith("."):
                    continue
                path = Path(current) / name
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return "tree-" + digest.hexdigest()[:40]


def credential_values(repo: Repo) -> list[str]:
    """Every project's plan and apply credentials: secrets envctl holds (any terraform process
    that reads envctl's own /proc/<pid>/environ sees them all)."""
    return [v for p in repo.projects for env in (p.plan_env, p.apply_env) for v in resolve(dict(env)).values()]


@dataclass
class Repo:
    root: Path
    config: TerraformConfig
    projects: list[Project]
    plans: PlanStore

    @classmethod
    def open(cls, root: Path, work: Path, config: TerraformConfig, recursive: bool = True) -> Repo:
        """`recursive`: look for projects below `root` (a repository), or in `root` only."""
        root = root.resolve()  # terraform runs in the project dir: every path handed to it is absolute
        return cls(root, config, load_projects(root, config, recursive), PlanStore(work.resolve()))

    @classmethod
    def open_local(cls, root: Path, state_dir: Path, config: TerraformConfig, recursive: bool = True) -> Repo:
        """A working tree on this machine: its saved plans live under state_dir, one folder per tree
        (by its resolved path), so `envctl tf plan`, `tf apply` and the dashboard find the same ones."""
        return cls.open(root, state_dir / "terraform" / "local" / key_digest(str(root.resolve())), config, recursive)


def plan(repo: Repo, selected: list[Project], head_sha: Callable[[Project], str], user: str,
         on_done: Callable[[PlanResult], None] | None = None, secrets: Iterable[str] = ()) -> list[PlanResult]:
    """Plan `selected` in parallel and save each successful plan for a later apply.

    `secrets`: values envctl holds beyond its environment's credentials (an installation token)."""
    results = plan_projects(repo.root, selected, repo.plans.work_dir, repo.config, on_done=on_done,
                            secrets=[*secrets, *credential_values(repo)])
    for result in results:
        if result.ok and result.plan_sha256:
            assert result.summary is not None
            repo.plans.save(result.project, head_sha(result.project), result.plan_sha256,
                            result.summary.has_changes, user)
        else:
            repo.plans.discard(result.project)
    return results


@dataclass
class ApplyResult:
    project: Project
    ok: bool
    output: str  # redacted
    terraform_s: float
    total_s: float

    def to_dict(self) -> dict[str, object]:
        return {**self.project.to_dict(), "ok": self.ok, "output": self.output,
                "timings": {"terraform_s": round(self.terraform_s, 4), "total_s": round(self.total_s, 4)}}


def apply(repo: Repo, project: Project, head_sha: str, secrets: Iterable[str] = ()) -> ApplyResult:
    """Apply the saved plan of `project` (Refused/NotFound when it is missing or stale).

    A failed apply is a result, not an exception: the caller keeps the lock and says so.
    """
    started = time.perf_counter()
    _, plan_file = repo.plans.checked(project, head_sha)
    credentials = resolve(dict(project.apply_env))
    redactor = Redactor(repo.config.redact_patterns, secrets=held_secrets(extra=[*secrets, *credential_values(repo)]))
    work = repo.plans.work_dir(project)
    driver = Driver(repo.root / project.dir, work / "tfdata", redactor, repo.config.timeout_s, credentials=credentials)
    try:
        redactor.add(sensitive_values(driver.show_json(plan_file)))  # so the apply output is redacted too
        output = redactor(driver.apply(plan_file, repo.config.lock_timeout))
        ok = True
    except EnvctlError as err:
        output, ok = redactor(err.message), False
    repo.plans.discard(project)  # applied or failed, a saved plan is spent (terraform refuses it again)
    return ApplyResult(project, ok, output, driver.timings.terraform_s, time.perf_counter() - started)
