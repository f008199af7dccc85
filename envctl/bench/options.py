"""What a release rehearsal is asked to do (`envctl bench release` options), whatever runtime runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Say = Callable[[str], None]  # where a rehearsal reports its progress, one line at a time


@dataclass
class BenchOptions:
    chargers: int
    strategy: str
    budget_per_s: float = 100.0
    replicas: int = 2
    runtime: str = "local"
    grace_s: float = 30.0
    hold_s: float = 10.0
    canary_share: float = 0.05
    session_rate: float = 60.0  # sessions per charger per hour: transactions in flight during the release
    from_version: str = "v1"
    to_version: str = "v2"
    new_replica_args: tuple[str, ...] = ()
    baseline_s: float = 3.0
    settle_timeout_s: float = 120.0
    tail_s: float = 3.0
    env_name: str | None = None
    keep: bool = False
