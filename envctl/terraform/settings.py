"""The `terraform:` section of envctl.yaml, validated by pydantic.

    terraform:
      projects:                      # optional: without it, every directory with .tf files is a project
        - name: preview
          dir: terraform/preview
          workspace: default
          when_modified: ["*.tf", "*.tfvars"]       # globs relative to dir; local modules count too
          apply_requirements: [approved, mergeable, undiverged]
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

Requirement = Literal["approved", "mergeable", "undiverged"]
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


class ProjectConfig(_Section):
    name: str
    dir: str
    workspace: str = "default"
    when_modified: list[str] = Field(default_factory=lambda: list(DEFAULT_WHEN_MODIFIED))
    apply_requirements: list[Requirement] = Field(default_factory=list)
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
    default_apply_requirements: list[Requirement] = Field(default_factory=list)

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
