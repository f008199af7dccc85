"""The one entry point every front door (CLI, webhook, CI) uses for releases.

It picks the runtime's fleet adapter and state store, then calls the pure pieces: plan,
approval gate, engine. Nothing here renders output or knows who is asking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from envctl.errors import ConfigError, NotFound, Refused
from envctl.release import approval as gate
from envctl.release import proof
from envctl.release.engine import Engine, Observer, new_status
from envctl.release.fleet import Fleet
from envctl.release.hints import release_cmd
from envctl.release.identity import Acting
from envctl.release.plan import PlanOptions, PlanOrigin, ReleasePlan, compute_plan
from envctl.release.status import TERMINAL, Abort, ReleaseStatus, release_phase, summary
from envctl.release.store import FileReleaseStore, ReleaseStore
from envctl.release.timeline import timeline

if TYPE_CHECKING:
    from envctl.release.approval_github import CiRun


@dataclass
class ReleaseContext:
    """What a release needs from its environment; tests and other runtimes hand in their own."""

    env: str
    runtime: str
    fleet: Fleet
    store: ReleaseStore
    # Read only by approve and start (status, abort and the dashboard need no policy).
    load_policy: Callable[[], gate.ApprovalPolicy] = gate.ApprovalPolicy
    engine_options: dict[str, Any] = field(default_factory=dict)
    # How long a resume waits for a dead orchestrator's lease to lapse (0: the lease dies with it).
    takeover_wait_s: float = 0.0

    @cached_property
    def policy(self) -> gate.ApprovalPolicy:
        return self.load_policy()


def open_context(env: str | None, runtime: str | None = None) -> ReleaseContext:
    from envctl.envs.service import get_runtime

    rt = get_runtime(runtime)
    if rt.name == "kubernetes":
        return _kubernetes_context(rt, env)
    from envctl.release.fleets.local import LocalFleet
    from envctl.runtimes.local import LocalRuntime

    assert isinstance(rt, LocalRuntime)
    name = env or _only_env(rt.list())
    rt.status(name)  # NotFound with a hint when there is no such environment
    return ReleaseContext(
        env=name,
        runtime="local",
        fleet=LocalFleet(rt, name),
        store=FileReleaseStore(rt.env_dir(name) / "releases", name),
        load_policy=gate.ApprovalPolicy.load,  # envctl.yaml: the fleet is the OS user's own
    )


def _kubernetes_context(rt: Any, env: str | None) -> ReleaseContext:
    """The release's state lives in the environment's namespace; any machine with a kubeconfig
    for it can plan, watch, abort or resume."""
    from envctl.release.fleets.kubernetes import KubernetesFleet
    from envctl.release.stores.kubernetes import LEASE_S, KubernetesReleaseStore

    name = env or _only_env(rt.list())
    rt.status(name)  # NotFound with a hint when there is no such environment
    namespace = rt.namespace(name)
    return ReleaseContext(
        env=name,
        runtime="kubernetes",
        fleet=KubernetesFleet(rt.kube, namespace),
        store=KubernetesReleaseStore(rt.kube, namespace, name),
        # The cluster's, never the actor's: a shared environment's rules are set by its admins.
        load_policy=lambda: gate.ApprovalPolicy.from_cluster(rt.kube, namespace),
        takeover_wait_s=LEASE_S + 3,
    )


def _only_env(envs: list[Any]) -> str:
    if len(envs) == 1:
        return str(envs[0].name)
    if not envs:
        raise NotFound("there is no environment to release to", "create one with `envctl up`")
    raise ConfigError(
        "several environments exist; say which one", "add --env NAME (one of " + ", ".join(e.name for e in envs) + ")"
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def make_plan(
    ctx: ReleaseContext, options: PlanOptions, planner: str, plan_id: str | None = None, origin: PlanOrigin | None = None
) -> ReleasePlan:
    if plan_id is not None and ctx.store.load_status(plan_id) is not None:
        raise Refused(f"release {plan_id} has already started; its plan can no longer change", "plan under a new id")
    plan = compute_plan(
        env=ctx.env, runtime=ctx.runtime, replicas=ctx.fleet.replicas(), options=options,
        planner=planner, now=_now(), plan_id=plan_id, origin=origin,
    )  # fmt: skip
    ctx.store.save_plan(plan)
    return plan


def approve(ctx: ReleaseContext, plan_id: str, acting: Acting, claimed_approver: str | None = None) -> gate.Approval:
    """Record who approved, as the authority says: the run's reviewers in Actions, else the OS user."""
    plan = ctx.store.load_plan(plan_id)
    _refuse_once_started(ctx, plan)
    if acting.ci is not None:
        earlier = [a for p in ctx.store.list_plans() if (a := ctx.store.load_approval(p.id)) is not None]
        record = acting.ci.approve(plan, claimed_approver, ctx.policy, _now(), earlier)
    else:
        record = gate.approve_local(plan, acting.login, claimed_approver, ctx.policy, _now())
    ctx.store.save_approval(record)
    return record


def _refuse_once_started(ctx: ReleaseContext, plan: ReleasePlan) -> None:
    """A started release keeps the approval it started with: overwriting it would rewrite history."""
    status = ctx.store.load_status(plan.id)
    if status is None:
        return
    phase = release_phase(plan, status)
    existing = ctx.store.load_approval(plan.id)
    by = f"by {existing.approver} at {existing.approved_at.isoformat(timespec='seconds')}" if existing else f"by {status.approved_by}"
    raise Refused(
        f"plan {plan.id} is already approved {by}; its release started and is {phase}, so the approval is kept",
        f"to release again, plan a new release: {release_cmd('plan', None, plan.env, plan.runtime, '--to', plan.to_version)}",
    )


def _check_fleet_matches(ctx: ReleaseContext, plan: ReleasePlan) -> None:
    alive = {v.id for v in ctx.fleet.replicas() if v.alive}
    gone = [r.id for r in plan.old_replicas if r.id not in alive]
    if gone:
        raise Refused(
            f"the fleet changed since plan {plan.id} was made: replica {', '.join(gone)} is gone",
            f"make a new plan with {release_cmd('plan', None, plan.env, plan.runtime, '--to', plan.to_version)} and have it approved",
        )


def start(
    ctx: ReleaseContext, plan_id: str, actor: str, observer: Observer | None = None, ci: CiRun | None = None
) -> ReleaseStatus:
    """`ci`: the GitHub Actions run we are in; there only that run's own approval starts anything.

    The stored approval is a claim: its proof is asked for again here (envctl/release/proof.py)."""
    plan = ctx.store.load_plan(plan_id)
    existing = ctx.store.load_status(plan_id)
    if existing is not None:
        raise Refused(
            f"release {plan_id} already started ({release_phase(plan, existing)})",
            f"continue it with {release_cmd('resume', plan_id, plan.env, plan.runtime)}, "
            f"or see {release_cmd('status', plan_id, plan.env, plan.runtime)}",
        )
    if ctx.store.load_abort(plan_id) is not None:
        raise Refused(f"plan {plan_id} was aborted before it started",
                      f"make a new plan: {release_cmd('plan', None, plan.env, plan.runtime, '--to', plan.to_version)}")
    record = gate.check_approved(plan, ctx.store.load_approval(plan_id), ctx.policy, ci.ctx if ci else None)
    proof.confirm(plan, record, ctx.policy, ci, ctx.store.approval_writer(plan_id))
    _check_fleet_matches(ctx, plan)
    status = new_status(plan, actor, record.approver, time.time())
    return _engine(ctx, plan, observer).run(status)


def resume(ctx: ReleaseContext, plan_id: str, observer: Observer | None = None) -> ReleaseStatus:
    plan = ctx.store.load_plan(plan_id)
    status = ctx.store.load_status(plan_id)
    if status is None:
        raise Refused(f"release {plan_id} never started, so there is nothing to resume",
                      f"start it: {release_cmd('start', plan_id, plan.env, plan.runtime)}")
    if release_phase(plan, status) in TERMINAL:
        return status
    status.resumes += 1
    return _engine(ctx, plan, observer, lease_wait_s=ctx.takeover_wait_s).run(status)


def abort(ctx: ReleaseContext, plan_id: str, reason: str, by: str) -> Abort:
    plan = ctx.store.load_plan(plan_id)
    status = ctx.store.load_status(plan_id)
    if status is None:
        raise Refused(f"release {plan_id} has not started; there is nothing to roll back", "simply do not start it")
    phase = release_phase(plan, status)
    back = release_cmd("plan", None, plan.env, plan.runtime, "--to", plan.from_versions[0])
    if phase in TERMINAL:
        raise Refused(f"release {plan_id} is already {phase}", f"to go back to the old version, plan a release to it: {back}")
    if status.step("retire_old") is not None:
        raise Refused(
            f"release {plan_id} is retiring the old replicas; too late to roll back",
            f"let it finish, then plan a release back: {back}",
        )
    return ctx.store.request_abort(plan_id, Abort(requested_at=time.time(), reason=reason, by=by))


def status(ctx: ReleaseContext, plan_id: str | None) -> dict[str, Any]:
    plan = ctx.store.load_plan(plan_id) if plan_id else _latest(ctx)
    st = ctx.store.load_status(plan.id)
    approval = ctx.store.load_approval(plan.id)
    out = summary(plan, st, time.time())
    out["approval"] = None if approval is None else approval.model_dump(mode="json") | {
        "valid": approval.plan_hash == plan.hash
    }
    out["plan_hash"] = plan.hash
    return out


def report(ctx: ReleaseContext, plan_id: str | None) -> dict[str, Any]:
    """Plan, status (with the approval) and the per-second timeline from the journal: what a job summary shows."""
    plan = ctx.store.load_plan(plan_id) if plan_id else _latest(ctx)
    return {
        "plan": plan.to_dict(),
        "status": status(ctx, plan.id),
        "timeline": timeline(plan, ctx.store.load_status(plan.id), ctx.store.events(plan.id)),
    }


def _latest(ctx: ReleaseContext) -> ReleasePlan:
    plans = ctx.store.list_plans()
    if not plans:
        raise NotFound(f"no release plans for environment {ctx.env}",
                       f"create one with {release_cmd('plan', None, ctx.env, ctx.runtime, '--to', 'VERSION')}")
    return plans[-1]


def _engine(ctx: ReleaseContext, plan: ReleasePlan, observer: Observer | None, lease_wait_s: float = 0.0) -> Engine:
    opts = {"lease_wait_s": lease_wait_s, **ctx.engine_options}
    if observer is not None:
        opts["observer"] = observer
    return Engine(plan, ctx.fleet, ctx.store, **opts)
