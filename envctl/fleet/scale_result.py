"""What `envctl scale` did, the same on every runtime: replicas before and after, what moved, the spread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envctl.fleet.mover import MoveOptions, MoveReport


@dataclass
class ScaleResult:
    env: str
    runtime: str
    replicas_before: int
    replicas: int
    started: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    drain: MoveReport | None = None  # scale-down: chargers moved off the removed replicas
    rebalance: MoveReport | None = None
    spread_pct: float = 0.0
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env, "runtime": self.runtime, "replicas_before": self.replicas_before,
            "replicas": self.replicas, "started": self.started, "retired": self.retired,
            "drain": self.drain.to_dict() if self.drain else None,
            "rebalance": self.rebalance.to_dict() if self.rebalance else None,
            "spread_pct": round(self.spread_pct, 2),
            "rebalance_suggested": self.rebalance is None and self.spread_pct > 100 * MoveOptions().tolerance,
            "note": self.note,
        }  # fmt: skip
