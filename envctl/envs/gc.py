"""Which environments garbage collection removes: expired ones that envctl manages, nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from envctl.envs.ttl import is_expired


@dataclass(frozen=True)
class Candidate:
    name: str
    managed: bool  # carries app.kubernetes.io/managed-by=envctl
    expires_at: datetime | None
    terminating: bool = False


def select_expired(candidates: Iterable[Candidate], now: datetime) -> list[Candidate]:
    """Expired, managed, not already going away. An unmanaged one is never selected, whatever it says."""
    return sorted(
        (c for c in candidates if c.managed and not c.terminating and is_expired(c.expires_at, now)),
        key=lambda c: c.name,
    )
