"""One release rehearsal end to end: up a fleet, release it one way, let it settle, count, report, down."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from envctl.bench import report as report_mod
from envctl.bench import strategies, transactions
from envctl.bench.options import BenchOptions, Say
from envctl.bench.sampler import Sampler, settle
from envctl.envs.model import EnvSpec
from envctl.errors import ConfigError
from envctl.release.fleets.local import LocalFleet
from envctl.runtimes.local import EnvRecord, LocalRuntime


def _quiet(_msg: str) -> None:
    return None


def run(opts: BenchOptions, say: Say = _quiet) -> dict[str, Any]:
    if opts.strategy not in strategies.STRATEGIES:
        raise ConfigError(f"unknown strategy {opts.strategy!r}", "use --strategy recreate, rolling or graceful")
    if opts.runtime == "kubernetes":
        from envctl.bench import rehearsal_kubernetes

        return rehearsal_kubernetes.run(opts, say)
    if opts.runtime != "local":
        raise ConfigError(f"unknown runtime {opts.runtime!r}", "use --runtime local or --runtime kubernetes")
    runtime = LocalRuntime()
    name = opts.env_name or f"bench-{opts.strategy}-{os.getpid()}"
    runtime.down(name, force=True)  # its own rehearsal: a release cut short by a failure ends with it
    say(f"bringing up {opts.chargers} chargers on {opts.replicas} replicas of {opts.from_version}")
    fleet: LocalFleet | None = None
    try:  # `up` inside: a fleet that never came up must not stay behind either
        runtime.up(
            EnvSpec(
                name=name, chargers=opts.chargers, replicas=opts.replicas, server_version=opts.from_version,
                session_rate=opts.session_rate, reconnect="immediate", ready_timeout_s=max(120.0, opts.chargers / 50),
            )
        )  # fmt: skip
        fleet = LocalFleet(runtime, name)
        return _rehearse(opts, runtime, name, fleet, say)
    finally:
        if fleet is not None:
            fleet.close()
        if not opts.keep:
            say(f"removing {name}")
            runtime.down(name, force=True)  # its own rehearsal: a release cut short by a failure ends with it


def _rehearse(opts: BenchOptions, runtime: LocalRuntime, name: str, fleet: LocalFleet, say: Say) -> dict[str, Any]:
    ctx = strategies.StrategyContext(
        runtime=runtime, env=name, fleet=fleet, to_version=opts.to_version, replicas=opts.replicas,
        budget_per_s=opts.budget_per_s, grace_s=opts.grace_s, hold_s=opts.hold_s, canary_share=opts.canary_share,
        new_replica_args=list(opts.new_replica_args),
    )  # fmt: skip
    with Sampler(fleet, opts.to_version) as sampler:
        time.sleep(opts.baseline_s)
        start = time.time()
        say(f"releasing {opts.from_version} → {opts.to_version} ({opts.strategy})")
        detail = strategies.run(opts.strategy, ctx)
        released_at = time.time()
        say("waiting for every charger to be back")
        settled_at = settle(fleet, opts.chargers, opts.settle_timeout_s)
        time.sleep(opts.tail_s)
    time.sleep(1.5)  # the simulator flushes its ledger at least once a second
    record = EnvRecord.load(runtime.env_dir(name))
    sim = record.simulator
    tx = transactions.count(sim.ledger_dir, record.database_url) if sim else {}
    return report_mod.build(
        strategy=opts.strategy, chargers=opts.chargers, replicas=opts.replicas,
        budget_per_s=opts.budget_per_s if opts.strategy == "graceful" else None, sampler=sampler,
        start=start, released_at=released_at, settled_at=settled_at, transactions=tx, detail=detail,
        extra={"grace_s": opts.grace_s if opts.strategy != "graceful" else None, "session_rate": opts.session_rate,
               "env": name, "from_version": opts.from_version, "to_version": opts.to_version},
    )  # fmt: skip


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
