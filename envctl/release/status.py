"""A release's progress as data, and its phase as a pure function of plan and status.

Imitating argo-rollouts: the engine records *facts* (steps finished, typed pause conditions with
their start times, an abort with its timestamp, the bucket), and every reader derives the phase
from them the same way, so `status`, `resume` and the engine never disagree about where we are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from envctl.release.pacing import BucketState
from envctl.release.plan import ReleasePlan
from envctl.timestamps import iso

# The forward steps, in order; the rollback steps run instead of the rest once aborted.
FORWARD_STEPS = ("start_new", "switch_traffic", "canary_drain", "canary_hold", "drain_rest", "verify", "retire_old")
ROLLBACK_STEPS = ("rollback_switch", "rollback_drain", "rollback_verify", "retire_new")
ALL_STEPS = FORWARD_STEPS + ROLLBACK_STEPS

Phase = Literal["Pending", "Progressing", "Paused", "Aborting", "Aborted", "Completed", "Failed"]
PauseReason = Literal["CanaryHold", "WaitingForReady", "WaitingForChargers", "Stressed"]


class Condition(BaseModel):
    reason: str
    start_time: float  # wall clock, so a resumed orchestrator knows how long it has lasted
    message: str = ""


class Abort(BaseModel):
    requested_at: float
    reason: str
    by: str
    automatic: bool = False


class StepRecord(BaseModel):
    name: str
    started_at: float
    finished_at: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ReleaseStatus(BaseModel):
    plan_id: str
    plan_hash: str
    started_at: float
    started_by: str
    approved_by: str
    steps: list[StepRecord] = Field(default_factory=list)
    new_replica_ids: list[str] = Field(default_factory=list)
    replicas_started: int = 0  # how many start() calls this release made, across resumes
    fleet_connections_at_start: int = 0
    old_connections_at_start: int | None = None  # measured when the canary begins
    canary_old_remaining: int | None = None  # canary done when old connections are at or below
    pause_conditions: list[Condition] = Field(default_factory=list)
    abort: Abort | None = None
    bucket: BucketState
    moved_forward: int = 0  # chargers we disconnected from the old version
    moved_back: int = 0  # chargers we disconnected from the new version during rollback
    connections_old: int = 0
    connections_new: int = 0
    health_baseline: dict[str, Any] | None = None
    last_health: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    failure: str | None = None  # the engine cannot go on, even by rolling back; a human must look
    finished_at: float | None = None
    resumes: int = 0
    message: str = ""

    # -- facts -----------------------------------------------------------------------------

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.name == name), None)

    def done(self, name: str) -> bool:
        rec = self.step(name)
        return rec is not None and rec.finished_at is not None

    def current_step(self) -> str | None:
        order = ROLLBACK_STEPS if self.abort else FORWARD_STEPS
        return next((s for s in order if not self.done(s)), None)

    def condition(self, reason: str) -> Condition | None:
        return next((c for c in self.pause_conditions if c.reason == reason), None)


def release_phase(plan: ReleasePlan, status: ReleaseStatus | None) -> Phase:
    """Pure: the same plan and status always give the same phase."""
    if status is None:
        return "Pending"
    if status.failure:
        return "Failed"
    if status.abort is not None:
        return "Aborted" if status.done("retire_new") else "Aborting"
    if status.done("retire_old"):
        return "Completed"
    if any(c.reason == "CanaryHold" for c in status.pause_conditions):
        return "Paused"
    return "Progressing"


TERMINAL: tuple[Phase, ...] = ("Completed", "Aborted", "Failed")


def eta_s(plan: ReleasePlan, status: ReleaseStatus, now: float) -> float | None:
    """Seconds left, from connections still to move at the current rate plus what is left of the hold."""
    phase = release_phase(plan, status)
    if phase in TERMINAL:
        return 0.0
    rate = max(status.bucket.effective_rate, 1e-9)
    if status.abort:
        return status.connections_new / rate
    left = status.connections_old / rate
    hold = status.condition("CanaryHold")
    if not status.done("canary_hold"):
        left += plan.hold_s - (now - hold.start_time if hold else 0.0)
    return max(0.0, left)


def summary(plan: ReleasePlan, status: ReleaseStatus | None, now: float) -> dict[str, Any]:
    """The `envctl release status --output json` document."""
    phase = release_phase(plan, status)
    base: dict[str, Any] = {
        "plan_id": plan.id,
        "env": plan.env,
        "to_version": plan.to_version,
        "from_versions": plan.from_versions,
        "phase": phase,
    }
    if status is None:
        return base | {"step": None}
    return base | {
        "step": status.current_step(),
        "steps": [s.model_dump() | {"started_at": iso(s.started_at), "finished_at": iso(s.finished_at)} for s in status.steps],
        "connections": {
            "fleet_at_start": status.fleet_connections_at_start,
            "old": status.connections_old,
            "new": status.connections_new,
            "moved_forward": status.moved_forward,
            "moved_back": status.moved_back,
        },
        "rate_per_s": round(status.bucket.effective_rate, 2),
        "budget_per_s": plan.budget_per_s,
        "eta_s": None if (e := eta_s(plan, status, now)) is None else round(e, 1),
        "pause_conditions": [c.model_dump() | {"start_time": iso(c.start_time)} for c in status.pause_conditions],
        "abort": status.abort.model_dump() | {"requested_at": iso(status.abort.requested_at)} if status.abort else None,
        "verdict": status.verdict,
        "failure": status.failure,
        "new_replicas": status.new_replica_ids,
        "resumes": status.resumes,
        "message": status.message,
        # timestamps as ISO 8601 UTC strings, like every envctl JSON (envctl/timestamps.py)
        "started_at": iso(status.started_at),
        "finished_at": iso(status.finished_at),
    }
