"""A release plan: computed from the live fleet, identified by an id, sealed by a content hash.

The hash is sha256 over the canonical JSON of everything the plan says (sorted keys, no spaces),
so an approval recorded against one hash is void the moment any field changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from envctl.errors import ConfigError
from envctl.release.fleet import ReplicaView


class HealthThresholds(BaseModel):
    """When the new version is judged unhealthy (abort + rollback) or stressed (slow down)."""

    min_connect_success_ratio: float = 0.98
    max_callerror_ratio: float = 0.02  # CALLERRORs per message handled
    max_handler_p99_ms: float = 1000.0
    min_ready_ratio: float = 1.0  # of the new replicas
    max_unready_s: float = 5.0  # a new replica silent this long counts as not ready (one missed read does not)
    min_samples: int = 20  # fewer connects/messages than this in a window: no ratio verdict
    min_latency_samples: int = 100  # fewer messages in a replica's p99 window: no latency verdict
    stress_connect_failure_ratio: float = 0.01
    stress_handler_p99_ms: float = 250.0
    # A storm the engine did not cause (a replica crash, a network blip): abort when the servers'
    # exact fleet-wide connects per second exceed the budget by more than this share...
    max_rate_over_budget_ratio: float = 0.25
    # ... for more than this many consecutive seconds (0: any one second).
    max_rate_over_budget_s: int = 3


class PlanOptions(BaseModel):
    to_version: str
    budget_per_s: float = 100.0
    canary_share: float = 0.05
    hold_s: float = 30.0
    new_replicas: int | None = None  # None: as many as there are old replicas
    ready_timeout_s: float = 90.0
    verify_timeout_s: float = 60.0
    verify_tolerance: float = 0.0  # share of the fleet allowed to be missing at verify
    new_replica_args: list[str] = Field(default_factory=list)  # appended to the new replicas' command line
    thresholds: HealthThresholds = Field(default_factory=HealthThresholds)
    image: str | None = None  # Kubernetes: the new version's image (None: the running version's)

    def validate_values(self) -> None:
        from envctl.envs.model import validate_version

        validate_version(self.to_version, "--to")
        if not self.ready_timeout_s > 0 or not self.verify_timeout_s > 0:
            raise ConfigError(
                f"--ready-timeout and --verify-timeout must be more than 0 s, got {self.ready_timeout_s:g} and "
                f"{self.verify_timeout_s:g}", "e.g. --ready-timeout 90s --verify-timeout 60s",
            )  # fmt: skip
        if self.budget_per_s <= 0:
            raise ConfigError(f"--budget must be > 0 reconnects/s, got {self.budget_per_s}")
        if not 0 < self.canary_share < 1:
            raise ConfigError(f"--canary-share must be between 0 and 1, got {self.canary_share}", "e.g. 0.05 for 5 %")
        if self.hold_s < 0:
            raise ConfigError(f"--hold must be >= 0, got {self.hold_s}s")
        if self.new_replicas is not None and self.new_replicas < 1:
            raise ConfigError(f"--replicas must be >= 1, got {self.new_replicas}")


class PlannedReplica(BaseModel):
    id: str
    version: str
    connections: int


class PlanOrigin(BaseModel):
    """The CI run a plan was made in: only that run's reviewers may approve it."""

    kind: Literal["github-actions"] = "github-actions"
    repository: str
    run_id: int
    run_attempt: int
    url: str


class ReleasePlan(BaseModel):
    id: str
    env: str
    runtime: str
    created_at: datetime
    planner: str
    from_versions: list[str]
    to_version: str
    old_replicas: list[PlannedReplica]
    new_replicas: int
    connections: int
    budget_per_s: float
    canary_share: float
    canary_connections: int
    hold_s: float
    ready_timeout_s: float
    verify_timeout_s: float
    verify_tolerance: float
    new_replica_args: list[str]
    thresholds: HealthThresholds
    estimated_duration_s: float
    origin: PlanOrigin | None = None  # None: made outside CI
    image: str | None = None  # Kubernetes: the new version's image; None keeps the running one's

    def content(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for optional in ("origin", "image"):
            if data.get(optional) is None:
                data.pop(optional, None)  # plans made before these fields existed keep their hash
        return data

    @property
    def hash(self) -> str:
        return plan_hash(self.content())

    def to_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.hash}


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def plan_hash(content: dict[str, Any]) -> str:
    body = {k: v for k, v in content.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def new_plan_id(env: str, now: datetime) -> str:
    return f"{env}-{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(2)}"


START_ALLOWANCE_S = 10.0  # per new replica, to start and report ready
VERIFY_ALLOWANCE_S = 5.0


def compute_plan(
    *,
    env: str,
    runtime: str,
    replicas: list[ReplicaView],
    options: PlanOptions,
    planner: str,
    now: datetime,
    plan_id: str | None = None,
    origin: PlanOrigin | None = None,
) -> ReleasePlan:
    """A pure function of the fleet as seen now and the options asked for."""
    options.validate_values()
    old = [r for r in replicas if r.version != options.to_version and r.alive]
    if not old:
        on_target = [r.id for r in replicas if r.version == options.to_version]
        raise ConfigError(
            f"nothing to release: no running replica runs a version other than {options.to_version!r}"
            + (f" (already on it: {', '.join(on_target)})" if on_target else ""),
            "check `envctl status` for the versions running now",
        )
    connections = sum(r.connections for r in old)
    canary = min(connections, math.ceil(connections * options.canary_share)) if connections else 0
    new_count = options.new_replicas or len(old)
    drain_s = connections / options.budget_per_s
    estimate = new_count * START_ALLOWANCE_S + drain_s + options.hold_s + VERIFY_ALLOWANCE_S
    return ReleasePlan(
        id=plan_id or new_plan_id(env, now),
        env=env,
        runtime=runtime,
        created_at=now,
        planner=planner,
        from_versions=sorted({r.version for r in old}),
        to_version=options.to_version,
        old_replicas=[PlannedReplica(id=r.id, version=r.version, connections=r.connections) for r in old],
        new_replicas=new_count,
        connections=connections,
        budget_per_s=options.budget_per_s,
        canary_share=options.canary_share,
        canary_connections=canary,
        hold_s=options.hold_s,
        ready_timeout_s=options.ready_timeout_s,
        verify_timeout_s=options.verify_timeout_s,
        verify_tolerance=options.verify_tolerance,
        new_replica_args=list(options.new_replica_args),
        thresholds=options.thresholds,
        estimated_duration_s=round(estimate, 1),
        origin=origin,
        image=options.image,
    )
