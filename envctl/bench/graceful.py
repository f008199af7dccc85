"""The graceful strategy: the release engine itself, on any runtime, as a rehearsal drives it.

Plans the release, records an approval (a throw-away fleet the bench itself created is not gated
by a person) and runs the engine to the end. Both runtimes' rehearsals use it; the ordinary
deploys they compare it with are in strategies.py (local) and strategies_kubernetes.py.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from envctl.release.approval import Approval
from envctl.release.engine import Engine, new_status
from envctl.release.plan import HealthThresholds, PlanOptions, compute_plan
from envctl.release.status import release_phase


def graceful(ctx: Any) -> dict[str, Any]:
    """The release engine itself, on any runtime (ctx: a StrategyContext of either runtime)."""
    now = datetime.now(timezone.utc)
    options = PlanOptions(
        to_version=ctx.to_version, budget_per_s=ctx.budget_per_s, canary_share=ctx.canary_share, hold_s=ctx.hold_s,
        new_replicas=ctx.replicas, new_replica_args=ctx.new_replica_args, thresholds=HealthThresholds(),
    )  # fmt: skip
    plan = compute_plan(
        env=ctx.env, runtime=ctx.runtime_name, replicas=ctx.fleet.replicas(), options=options, planner="envctl-bench",
        now=now,
    )
    store = ctx.store
    store.save_plan(plan)
    # A rehearsal on a throw-away fleet the bench itself created: recorded, not gated by a person.
    store.save_approval(Approval(plan_id=plan.id, plan_hash=plan.hash, approver="envctl-bench (rehearsal)", approved_at=now))
    status = Engine(plan, ctx.fleet, store).run(new_status(plan, "envctl-bench", "envctl-bench (rehearsal)", time.time()))
    return {
        "plan_id": plan.id,
        "phase": release_phase(plan, status),
        "steps": [s.model_dump() for s in status.steps],
        "abort": status.abort.model_dump() if status.abort else None,
        "verdict": status.verdict,
        "moved_forward": status.moved_forward,
        "moved_back": status.moved_back,
        "rate_factor_end": status.bucket.factor,
        "estimated_duration_s": plan.estimated_duration_s,
    }
