"""Three ways to move a fleet of long-lived connections to a new version, for comparison.

recreate  stop every old replica at once (SIGTERM: each closes all its chargers), then start the new
          ones; the whole fleet reconnects in one storm, first into closed ports.
rolling   what a default Kubernetes Deployment does: one replica at a time, start a new one, SIGTERM
          an old one (it closes its connections; SIGKILL after the grace period, 30 s by default).
graceful  the release engine (graceful.py): new replicas take new connections only, old connections are moved
          at a fleet-wide reconnect budget with a canary, a health judgement and rollback.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from envctl.bench.graceful import graceful
from envctl.errors import ConfigError
from envctl.release.fleets.local import LocalFleet
from envctl.release.store import FileReleaseStore, ReleaseStore
from envctl.runtimes.local import LocalRuntime

STRATEGIES = ("recreate", "rolling", "graceful")


@dataclass
class StrategyContext:
    runtime: LocalRuntime
    env: str
    fleet: LocalFleet
    to_version: str
    replicas: int
    budget_per_s: float
    grace_s: float = 30.0
    hold_s: float = 10.0
    canary_share: float = 0.05
    new_replica_args: list[str] = field(default_factory=list)

    @property
    def store(self) -> ReleaseStore:
        return FileReleaseStore(self.runtime.env_dir(self.env) / "releases")

    runtime_name = "local"


def recreate(ctx: StrategyContext) -> dict[str, Any]:
    old = ctx.runtime.server_replicas(ctx.env)
    for rec in old:  # all at once, as `kubectl rollout` with strategy Recreate does
        proc = rec.process.process()
        if proc is not None:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGTERM)
    for rec in old:
        ctx.runtime.stop_server_replica(ctx.env, rec.id, grace_s=ctx.grace_s)
    started = ctx.fleet.start(ctx.to_version, ctx.replicas, ctx.new_replica_args)
    return {"stopped": [r.id for r in old], "started": started}


def rolling(ctx: StrategyContext) -> dict[str, Any]:
    old = [r.id for r in ctx.runtime.server_replicas(ctx.env) if r.version != ctx.to_version]
    started: list[str] = []
    steps = []
    for i in range(max(len(old), ctx.replicas)):
        t0 = time.time()
        if i < ctx.replicas:  # maxSurge 1: the new pod first, ready before an old one goes
            started += ctx.fleet.start(ctx.to_version, 1, ctx.new_replica_args)
        if i < len(old):  # then SIGTERM, and SIGKILL once the grace period is over
            ctx.runtime.stop_server_replica(ctx.env, old[i], grace_s=ctx.grace_s)
        steps.append({"step": i + 1, "seconds": round(time.time() - t0, 2)})
    return {"stopped": old, "started": started, "steps": steps}


def run(name: str, ctx: StrategyContext) -> dict[str, Any]:
    fn = {"recreate": recreate, "rolling": rolling, "graceful": graceful}.get(name)
    if fn is None:
        raise ConfigError(f"unknown strategy {name!r}", "use --strategy recreate, rolling or graceful")
    return fn(ctx)
