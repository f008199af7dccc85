"""envctl.yaml `warm:` — the placeholder pool (a field of envctl.config.Config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WarmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    placeholders: int = Field(default=0, ge=0)  # previews that can start without waiting for a node
    namespace: str = "envctl-warm"  # created by the cluster admin with templates/rbac
    priority_class: str = "envctl-warm-placeholder"
    # Below every workload: pods without a PriorityClass have 0, so any preview preempts these.
    priority: int = Field(default=-100, lt=0)
    preview_replicas: int = Field(default=1, ge=1)  # server replicas of the preview a placeholder holds room for
