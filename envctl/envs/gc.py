"""Which environments garbage collection removes: expired ones that envctl manages, nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from envctl.envs.ttl import is_expired
from envctl.errors import Refused


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


def collect(runtime: object, now: datetime, dry_run: bool = False) -> list[str]:
    """Remove expired environments of any runtime: its own gc() when it has one (Kubernetes
    deletes namespaces in bulk), else list() + down() (every listed environment is envctl's)."""
    own = getattr(runtime, "gc", None)
    if callable(own):
        return list(own(dry_run=dry_run))
    statuses = runtime.list()  # type: ignore[attr-defined]
    chosen = select_expired(
        (Candidate(s.name, True, s.expires_at, s.phase == "Stopped") for s in statuses), now
    )
    if dry_run:
        return [c.name for c in chosen]
    removed = []
    for c in chosen:
        try:
            runtime.down(c.name)  # type: ignore[attr-defined]
        except Refused:
            continue  # a release in progress: the next gc takes it, once the release has ended
        removed.append(c.name)
    return removed
