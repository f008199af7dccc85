"""The `terraform:` section of envctl.yaml, validated by pydantic.

    terraform:
      projects:                      # optional: without it, every directory with .tf files is a project
        - name: preview
          dir: terraform/preview
          workspace: default
          when_modified: ["*.tf", "*.tfvars"]       # globs relative to dir; local modules count too
          apply_requirements: [approved, mergeable, undiverged]   # the default; [] turns them off
          approvals: {count: 2, teams: [sre]}   # or `approvals: 2`; default 1 from anyone with write
          credentials:                          # TARGET: SOURCE, copied from envctl's environment
            plan:  {AWS_ACCESS_KEY_ID: APP_RO_AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: APP_RO_AWS_SECRET}
            apply: {AWS_ACCESS_KEY_ID: APP_RW_AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: APP_RW_AWS_SECRET}
      parallelism: 4                 # projects planned at once
      lock_timeout: 60s              # terraform's own state lock (-lock-timeout)
      redact_patterns: ['corp_[A-Za-z0-9]{20}']   # on top of the built-in token/key patterns
      locks: {backend: auto, namespace: default}  # auto: a Kubernetes Lease when a cluster is configured

Read from the default branch by the webhook (a pull request cannot loosen its own apply
requirements or redaction); the CLI reads the working tree's envctl.yaml.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envctl.terraform.environment import is_envctl_credential

Requirement = Literal["approved", "mergeable", "undiverged"]
DEFAULT_REQUIREMENTS: tuple[Requirement, ...] = ("approved", "mergeable", "undiverged")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_TARGETS = {"TF_DATA_DIR", "TF_WORKSPACE", "TF_IN_AUTOMATION", "TF_INPUT", "TF_CLI_CONFIG_FILE", "PATH", "HOME"}
TEAM = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9-]{0,38}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
DEFAULT_WHEN_MODIFIED = ("*.tf", "*.tf.json", "*.tfvars", "*.tfvars.json", ".terraform.lock.hcl")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _relative_dir(value: str) -> str:
    text = str(value).strip().strip("/") or "."
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} must be a directory inside the repository (no '..', not absolute)")
    return str(path)


def _env_map(value: object, phase: str) -> dict[str, str]:
    """`[NAME, ...]` (same name on both sides) or `{TARGET: SOURCE}`, checked."""
    if value is None:
        return {}
    if isinstance(value, list):
        value = {str(v): str(v) for v in value}
    if not isinstance(value, dict):
        wrong = f"credentials.{phase} must be a list of variable names or a TARGET: SOURCE mapping"
        raise ValueError(wrong)  # noqa: TRY004 - pydantic reports a ValueError as the field's error
    out = {}
    for target, source in value.items():
        target, source = str(target), str(source)
        for name in (target, source):
            if not ENV_NAME.match(name):
                raise ValueError(f"credentials.{phase}: {name!r} is not an environment variable name")
        if is_envctl_credential(source) or is_envctl_credential(target):
            raise ValueError(f"credentials.{phase}: {source if is_envctl_credential(source) else target} is one of "
                             "envctl's own credentials and never reaches terraform; give terraform its own variable")
        if target in RESERVED_TARGETS:
            raise ValueError(f"credentials.{phase}: envctl sets {target} itself")
        out[target] = source
    return out


class Credentials(_Section):
    """Which of envctl's environment variables terraform gets, per phase (plan gets only `plan`)."""

    plan: dict[str, str] = Field(default_factory=dict)
    apply: dict[str, str] = Field(default_factory=dict)

    @field_validator("plan", "apply", mode="before")
    @classmethod
    def _map(cls, v: object, info: object) -> dict[str, str]:
        return _env_map(v, getattr(info, "field_name", "plan"))


class Approvals(_Section):
    """N approving reviews on the current head, by writers; with `teams`, only their members count."""

    count: int = Field(default=1, ge=1, le=20)
    teams: list[str] = Field(default_factory=list)  # "slug" (the repository owner's org) or "org/slug"

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: object) -> object:
        return {"count": v} if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("teams")
    @classmethod
    def _teams(cls, v: list[str]) -> list[str]:
        for team in v:
            if not TEAM.match(team):
                raise ValueError(f"team {team!r}: write the team's slug, or org/slug")
        return v


class ProjectConfig(_Section):
    name: str
    dir: str
    workspace: str = "default"
    when_modified: list[str] = Field(default_factory=lambda: list(DEFAULT_WHEN_MODIFIED))
    apply_requirements: list[Requirement] | None = None  # None: terraform.default_apply_requirements
    approvals: Approvals | None = None  # None: terraform.approvals
    credentials: Credentials | None = None  # None: terraform.credentials
    autoplan: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.fullmatch(v):
            raise ValueError(f"project name {v!r}: use letters, digits, '.', '_', '-' or '/' (up to 100)")
        return v

    @field_validator("dir", mode="before")
    @classmethod
    def _dir(cls, v: str) -> str:
        return _relative_dir(v)

    @field_validator("workspace")
    @classmethod
    def _workspace(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,89}", v):
            raise ValueError(f"workspace {v!r}: letters, digits, '_' or '-'")
        return v


class LockSettings(_Section):
    backend: Literal["auto", "file", "kubernetes"] = "auto"
    namespace: str = "default"


class TerraformConfig(_Section):
    projects: list[ProjectConfig] | None = None
    parallelism: int = Field(default=4, ge=1, le=64)
    lock_timeout: str = "60s"
    timeout_s: float = Field(default=1800.0, gt=0)  # one terraform command, then it is stopped
    redact_patterns: list[str] = Field(default_factory=list)
    locks: LockSettings = LockSettings()
    default_apply_requirements: list[Requirement] = Field(default_factory=lambda: list(DEFAULT_REQUIREMENTS))
    approvals: Approvals = Approvals()
    credentials: Credentials = Credentials()

    @field_validator("lock_timeout")
    @classmethod
    def _lock_timeout(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9]+(ms|s|m|h)", v):
            raise ValueError(f"lock_timeout {v!r}: write it like 60s or 5m")
        return v

    @field_validator("redact_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"redact pattern {pattern!r} is not a regular expression: {err}") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> TerraformConfig:
        seen: set[str] = set()
        for project in self.projects or ():
            if project.name in seen:
                raise ValueError(f"project name {project.name!r} is used twice")
            seen.add(project.name)
        return self
