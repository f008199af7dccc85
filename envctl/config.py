"""envctl.yaml: the team's settings for preview environments, validated by pydantic.

Every validation error names the file and the dotted field path, e.g.
``envctl.yaml: kubernetes.quota.cpu: not a Kubernetes quantity: '4 cores'``, so a user can go
straight to the line. Top-level sections other owners add later are allowed; inside the
sections defined here an unknown key is an error (a typo must not silently do nothing).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from envctl.capacity.settings import CapacitySettings
from envctl.envs.model import parse_duration
from envctl.warm.settings import WarmSettings
from envctl.errors import ConfigError
from envctl.terraform.settings import TerraformConfig

DEFAULT_FILE = "envctl.yaml"

# A Kubernetes resource quantity: 500m, 2, 1.5, 256Mi, 1G, 1e3.
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+)?$")
_SUFFIX = {
    "": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def quantity_value(text: str) -> float:
    """'500m' -> 0.5, '256Mi' -> 268435456.0 (for comparisons; manifests keep the text)."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r} (write it like 500m, 2, 256Mi or 1Gi)")
    suffix = match.group(2) or ""
    number = float(text[: len(text) - len(suffix)]) if suffix else float(text)
    if suffix.startswith("e"):
        return float(text)
    return number * _SUFFIX[suffix]


def _quantity(value: Any) -> str:
    text = str(value).strip()
    quantity_value(text)
    return text


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=float(value))
    try:
        return parse_duration(str(value))
    except ConfigError as err:
        raise ValueError(f"{err.message}; {err.hint}") from None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Resources(_Section):
    """Requests and limits of one container."""

    cpu: str = "100m"
    memory: str = "128Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "256Mi"

    _check = field_validator("cpu", "memory", "cpu_limit", "memory_limit", mode="before")(
        classmethod(lambda cls, v: _quantity(v))
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        if quantity_value(self.cpu) > quantity_value(self.cpu_limit):
            raise ValueError(f"cpu request {self.cpu} is above cpu_limit {self.cpu_limit}")
        if quantity_value(self.memory) > quantity_value(self.memory_limit):
            raise ValueError(f"memory request {self.memory} is above memory_limit {self.memory_limit}")
        return self


class Quota(_Section):
    """ResourceQuota of one environment's namespace (the sum over all its pods)."""

    cpu: str = "4"
    memory: str = "4Gi"
    cpu_limit: str = "8"
    memory_limit: str = "8Gi"
    pods: int = Field(default=20, ge=1)
    services: int = Field(default=10, ge=1)
    persistentvolumeclaims: int = Field(default=4, ge=0)

    _check = field_validator("cpu", "memory", "cpu_limit", "memory_limit", mode="before")(
        classmethod(lambda cls, v: _quantity(v))
    )


class ContainerLimits(_Section):
    """LimitRange: defaults for containers that say nothing, and the most one may ask for."""

    default_cpu: str = "100m"
    default_memory: str = "128Mi"
    default_cpu_limit: str = "500m"
    default_memory_limit: str = "256Mi"
    max_cpu: str = "2"
    max_memory: str = "2Gi"

    _check = field_validator(
        "default_cpu", "default_memory", "default_cpu_limit", "default_memory_limit", "max_cpu",
        "max_memory", mode="before",
    )(classmethod(lambda cls, v: _quantity(v)))


class Drain(_Section):
    """How a charger-server pod drains before it stops (preStop hook and grace period).

    budget_per_s is the fleet-wide reconnect budget (as in a release): each replica sheds at its
    share, budget / replicas, so a node drain that takes every replica at once stays within it."""

    budget_per_s: float = Field(default=100.0, gt=0)
    rate_per_s: float | None = Field(default=None, gt=0)  # per replica, overriding the share
    margin_s: int = Field(default=10, ge=0)


class Database(_Section):
    # Postgres on Kubernetes: replicas share one store (ownership, transaction ids, idempotent
    # resends), and it outlives a replaced server pod. SQLite only for a single replica.
    kind: Literal["sqlite", "postgres"] = "postgres"
    postgres_image: str = "postgres:16-alpine"
    # None keeps Postgres data in an emptyDir: previews are disposable and need no storage class.
    postgres_storage: str | None = None

    @field_validator("postgres_storage", mode="before")
    @classmethod
    def _storage(cls, v: Any) -> str | None:
        return None if v is None else _quantity(v)


class Ingress(_Section):
    enabled: bool = False
    domain: str = "preview.example.com"
    class_name: str | None = None
    # Namespace of the ingress controller; the NetworkPolicy lets it in.
    namespace: str = "ingress-nginx"
    tls_secret: str | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not _DNS_NAME.fullmatch(v) or len(v) > 200:
            raise ValueError(f"not a DNS name: {v!r}")
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        if not _DNS_LABEL.fullmatch(v) or len(v) > 63:
            raise ValueError(f"not a namespace name: {v!r}")
        return v


class Toleration(_Section):
    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Kubernetes(_Section):
    namespace_prefix: str = "envctl-"
    image: str = "ghcr.io/example/envctl:latest"
    # A PR's preview runs the image built for the commit a writer asked for, e.g.
    # "ghcr.io/org/charger-server:{sha}"; without it every preview runs `image`.
    image_pattern: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    ready_timeout: timedelta = timedelta(seconds=300)
    down_timeout: timedelta = timedelta(seconds=120)
    quota: Quota = Quota()
    limits: ContainerLimits = ContainerLimits()
    server: Resources = Resources()
    simulator: Resources = Resources()
    postgres: Resources = Resources(cpu="100m", memory="256Mi", cpu_limit="1", memory_limit="512Mi")
    drain: Drain = Drain()
    database: Database = Database()
    ingress: Ingress = Ingress()
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    # Where the envctl.io/* labels of a namespace come from does not change; where the
    # templates live may (an installed envctl has no repo checkout).
    templates_dir: Path | None = None

    _durations = field_validator("ready_timeout", "down_timeout", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )

    @field_validator("image_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None and "{sha}" not in v:
            raise ValueError(f"{v!r} must contain {{sha}} (the commit the preview runs)")
        if v is not None and re.search(r"\{(?!sha\})", v):
            raise ValueError(f"{v!r}: the only placeholder is {{sha}}")
        return v

    @field_validator("namespace_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if v and (not re.fullmatch(r"[a-z0-9][-a-z0-9]*", v) or len(v) > 20):
            raise ValueError(f"{v!r} must be up to 20 lowercase letters, digits or '-'")
        return v

    @model_validator(mode="after")
    def _fits_limits(self) -> Kubernetes:
        for name in ("server", "simulator"):
            res: Resources = getattr(self, name)
            if quantity_value(res.cpu_limit) > quantity_value(self.limits.max_cpu):
                raise ValueError(
                    f"{name}.cpu_limit {res.cpu_limit} is above limits.max_cpu {self.limits.max_cpu}"
                )
            if quantity_value(res.memory_limit) > quantity_value(self.limits.max_memory):
                raise ValueError(
                    f"{name}.memory_limit {res.memory_limit} is above limits.max_memory "
                    f"{self.limits.max_memory}"
                )
        return self


class Envs(_Section):
    default_ttl: timedelta = timedelta(hours=8)
    max_ttl: timedelta = timedelta(days=7)
    max_environments: int = Field(default=100, ge=0)
    max_per_owner: int = Field(default=5, ge=0)
    # Local runtime: each replica is a whole process on this machine; past a few per core they only
    # contend for the same CPUs (a 100-replica scale once took two minutes and finished nothing).
    max_local_replicas: int = Field(default=16, ge=1)

    _durations = field_validator("default_ttl", "max_ttl", mode="before")(
        classmethod(lambda cls, v: _duration(v))
    )


class Config(BaseModel):
    model_config = ConfigDict(extra="allow")

    envs: Envs = Envs()
    kubernetes: Kubernetes = Kubernetes()
    capacity: CapacitySettings = CapacitySettings()
    warm: WarmSettings = WarmSettings()
    terraform: TerraformConfig | None = None  # envctl/terraform/settings.py


def _format(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{source}: {path}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = DEFAULT_FILE) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err, source), f"fix {source} and run the command again") from None


def config_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("ENVCTL_CONFIG") or DEFAULT_FILE)


def load_config(path: str | Path | None = None) -> Config:
    """Read envctl.yaml (or $ENVCTL_CONFIG); no file means every default."""
    file = config_path(path)
    if not file.exists():
        if path is not None or os.environ.get("ENVCTL_CONFIG"):
            raise ConfigError(f"{file}: no such file", "create it or unset ENVCTL_CONFIG")
        return Config()
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(f"{file.name}: {where}not valid YAML ({getattr(err, 'problem', err)})") from None
    return parse_config(data, file.name)
