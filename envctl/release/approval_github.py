"""The GitHub source of approval: in Actions, who approved *this* run is what GitHub's API says.

release.yml runs its job in the `production` environment, whose required reviewers are the SRE
approval: GitHub holds the job until one of them approves the run. envctl then reads, through
PyGithub, the run (`GET .../actions/runs/{id}`: workflow, attempt, status, who dispatched it, its
title) and its review history (`GET .../actions/runs/{id}/approvals`), and `decide` judges them:

  - the run is this job's run, of this repository, of the release workflow, not finished, at
    this attempt, and the plan was made in it (an approval of another run, another workflow or
    another repository does not pass);
  - the run's title, which the reviewers saw, names the plan's version and budget (a run
    whose inputs differ from the plan does not pass);
  - for the configured GitHub environment: no reviewer rejected it; someone approved it; at
    least one approver is neither the planner nor the person who dispatched the run (unless
    self-approval is allowed) and is on the configured list.

What comes from the job's environment is only *where* we are (GITHUB_REPOSITORY, GITHUB_RUN_ID,
GITHUB_RUN_ATTEMPT); *who* always comes from the API. docs/release.md says what this cannot stop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from envctl.errors import ConfigError, Refused
from envctl.release.approval import (
    Approval,
    ApprovalPolicy,
    ApprovalRun,
    check_may_approve,
    same_login,
)
from envctl.release.hints import release_cmd
from envctl.release.plan import PlanOrigin, ReleasePlan

if TYPE_CHECKING:  # PyGithub costs 0.3 s to import; only a CI job needs it
    from github import Github

    from envctl.github.workflow_runs import DeploymentReview, WorkflowRunFacts

# release.yml sets `run-name: release ${{ inputs.version }} at ${{ inputs.budget }}/s`. GitHub shows
# it to the reviewers on the run they approve and returns it as the run's display_title.
RUN_TITLE = re.compile(r"release (?P<version>\S+) at (?P<budget>[0-9]+(?:\.[0-9]+)?)/s")


def run_title(version: str, budget_per_s: float) -> str:
    return f"release {version} at {budget_per_s:g}/s"


def parse_run_title(title: str) -> tuple[str, float] | None:
    match = RUN_TITLE.fullmatch(title.strip())
    return (match["version"], float(match["budget"])) if match else None


@dataclass(frozen=True)
class ActionsContext:
    """Which run this job belongs to, as the Actions runner sets it (where we are, never who)."""

    repository: str
    run_id: int
    run_attempt: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ActionsContext | None:
        """None outside GitHub Actions (GITHUB_ACTIONS is "true" in every Actions job)."""
        env = os.environ if env is None else env
        if env.get("GITHUB_ACTIONS") != "true":
            return None
        missing = [v for v in ("GITHUB_REPOSITORY", "GITHUB_RUN_ID") if not env.get(v)]
        if missing:
            raise ConfigError(f"GITHUB_ACTIONS is true but {', '.join(missing)} is not set", "run envctl as a step of a workflow job")
        try:
            return cls(env["GITHUB_REPOSITORY"], int(env["GITHUB_RUN_ID"]), int(env.get("GITHUB_RUN_ATTEMPT") or 1))
        except ValueError:
            raise ConfigError(f"GITHUB_RUN_ID={env['GITHUB_RUN_ID']!r} / GITHUB_RUN_ATTEMPT is not a number") from None


def _refuse_foreign_run(plan: ReleasePlan, run: WorkflowRunFacts, policy: ApprovalPolicy, ctx: ActionsContext) -> None:
    if not same_login(run.repository, ctx.repository) or run.id != ctx.run_id:
        raise Refused(
            f"GitHub describes run {run.id} of {run.repository}, but this job is run {ctx.run_id} of {ctx.repository}",
            "an approval is read only from the run the job belongs to",
        )
    if run.workflow_path != policy.workflow:
        raise Refused(
            f"run {run.id} is a run of {run.workflow_path}, not of the release workflow {policy.workflow}: "
            "its reviewers approved something else",
            "dispatch the release workflow (or set release.approval.workflow in envctl.yaml)",
        )
    if policy.workflow_refs and run.workflow_ref not in policy.workflow_refs:
        raise Refused(
            f"run {run.id} read {run.workflow_path} from {run.workflow_ref}; releases run only from {', '.join(policy.workflow_refs)}",
            f"dispatch the workflow on {policy.workflow_refs[0]}",
        )
    if run.status == "completed":
        raise Refused(f"run {run.id} has already completed; its approval cannot be used again", "dispatch a new release run")
    if run.attempt != ctx.run_attempt:
        raise Refused(
            f"run {run.id} is at attempt {run.attempt}, this job is attempt {ctx.run_attempt}: the approval belongs to the other attempt",
            "let the newest attempt do the release",
        )
    origin = plan.origin
    if origin is None:
        raise Refused(
            f"plan {plan.id} was not made in a GitHub Actions run; here only the run that made a plan can approve it",
            f"plan it in this job: {release_cmd('plan', None, plan.env, plan.runtime, '--to', plan.to_version, '--budget', f'{plan.budget_per_s:g}')}",
        )
    if origin.run_id != ctx.run_id or origin.run_attempt != ctx.run_attempt or not same_login(origin.repository, ctx.repository):
        raise Refused(
            f"plan {plan.id} was made in run {origin.run_id} (attempt {origin.run_attempt}) of {origin.repository}; "
            f"the reviewers of run {ctx.run_id} (attempt {ctx.run_attempt}) did not see it",
            "approve it in the run that made it, or plan again in this run",
        )


def _refuse_other_inputs(plan: ReleasePlan, run: WorkflowRunFacts) -> None:
    seen = parse_run_title(run.display_title)
    if seen is None:
        raise Refused(
            f"run {run.id}'s title {run.display_title!r} does not say what the reviewers approved",
            "release.yml must set `run-name: release ${{ inputs.version }} at ${{ inputs.budget }}/s`",
        )
    version, budget = seen
    if version != plan.to_version or budget != plan.budget_per_s:
        raise Refused(
            f"run {run.id} was approved as {run_title(version, budget)!r}, but plan {plan.id} releases "
            f"{plan.to_version} at {plan.budget_per_s:g}/s",
            "the plan must be made from the run's own inputs; dispatch a run with the inputs you want released",
        )


def approvers_per_github(plan: ReleasePlan, run: WorkflowRunFacts, reviews: list[DeploymentReview],
                         policy: ApprovalPolicy) -> list[str]:
    """Pure: who, per the run's review history, approved it for the configured environment and may
    approve this plan (no rejection, the self-approval rule, the allow-list), or Refused why nobody."""
    env = policy.github_environment
    mine = [r for r in reviews if any(same_login(e, env) for e in r.environments)]
    rejected = [r for r in mine if r.state == "rejected"]
    if rejected:
        r = rejected[0]
        raise Refused(
            f"{r.user} rejected run {run.id} for the {env} environment" + (f": {r.comment!r}" if r.comment else ""),
            "a rejected run never releases; address the reviewer's concern and dispatch a new run",
        )
    approvers = list(dict.fromkeys(r.user for r in mine if r.state == "approved" and r.user))
    if not approvers:
        elsewhere = sorted({e for r in reviews if r.state == "approved" for e in r.environments})
        raise Refused(
            f"nobody approved run {run.id} for the {env} environment"
            + (f" (approvals exist only for {', '.join(elsewhere)})" if elsewhere else ""),
            f"give the {env} environment required reviewers (Settings → Environments) and have one approve the run",
        )
    involved = [plan.planner, *run.dispatchers]
    independent = [a for a in approvers if not any(same_login(a, who) for who in involved)]
    if policy.forbid_self_approval and not independent:
        raise Refused(
            f"the only approver of run {run.id}, {', '.join(approvers)}, planned or dispatched it; self-approval is forbidden",
            f"another required reviewer of {env} must approve (GitHub's 'Prevent self-review' setting stops this earlier)",
        )
    candidates = independent if policy.forbid_self_approval else approvers
    allowed = [a for a in candidates if policy.allows(a)]
    if not allowed:
        raise Refused(
            f"{', '.join(candidates)} approved run {run.id} but may not approve releases (allowed: {', '.join(policy.approvers)})",
            f"have one of {', '.join(policy.approvers)} approve the run, or add the approver to release.approval.approvers",
        )
    return allowed


def decide(plan: ReleasePlan, run: WorkflowRunFacts, reviews: list[DeploymentReview], policy: ApprovalPolicy,
           ctx: ActionsContext, now: datetime) -> Approval:
    """Pure: the approval GitHub's facts amount to, or Refused saying why not and what to do."""
    _refuse_foreign_run(plan, run, policy, ctx)
    _refuse_other_inputs(plan, run)
    allowed = approvers_per_github(plan, run, reviews, policy)
    approver = allowed[0]
    env = policy.github_environment
    mine = [r for r in reviews if any(same_login(e, env) for e in r.environments)]
    involved = [plan.planner, *run.dispatchers]
    record = Approval(
        plan_id=plan.id, plan_hash=plan.hash, approver=approver, approved_at=now, source="github-actions",
        comment=next(r.comment for r in mine if r.user == approver and r.state == "approved"),
        self_approved=any(same_login(approver, who) for who in involved),
        run=ApprovalRun(
            repository=run.repository, id=run.id, attempt=run.attempt, url=run.html_url, workflow=run.workflow_path,
            environment=env, title=run.display_title, dispatched_by=list(run.dispatchers),
        ),
    )  # fmt: skip
    check_may_approve(plan, record, policy)
    return record


def refuse_reuse(record: Approval, earlier: Iterable[Approval]) -> None:
    """One approved run releases one plan: its reviewers saw one set of inputs, once."""
    assert record.run is not None
    for other in earlier:
        if other.plan_id != record.plan_id and other.run and other.run.id == record.run.id and other.run.attempt == record.run.attempt:
            raise Refused(
                f"the approval of run {record.run.id} was already used for plan {other.plan_id}",
                "one approved run releases one plan; dispatch a new run for another release",
            )


class CiRun:
    """This job's run, asked about through PyGithub (each answer read once per process)."""

    def __init__(self, ctx: ActionsContext, gh: Github) -> None:
        self.ctx, self.gh = ctx, gh

    @cached_property
    def facts(self) -> WorkflowRunFacts:
        from envctl.github.workflow_runs import read_run

        return read_run(self.gh, self.ctx.repository, self.ctx.run_id)

    def reviews(self) -> list[DeploymentReview]:
        from envctl.github.workflow_runs import read_reviews

        return read_reviews(self.gh, self.ctx.repository, self.ctx.run_id)

    def dispatcher(self) -> str:
        """Who made this attempt happen (the person a self-approval rule is about)."""
        return self.facts.triggering_actor or self.facts.actor

    def origin(self) -> PlanOrigin:
        return PlanOrigin(repository=self.facts.repository, run_id=self.ctx.run_id, run_attempt=self.ctx.run_attempt,
                          url=self.facts.html_url)

    def approve(self, plan: ReleasePlan, claimed: str | None, policy: ApprovalPolicy, now: datetime,
                earlier: Iterable[Approval]) -> Approval:
        if claimed is not None:
            raise Refused(
                f"--approver {claimed!r} is not accepted in GitHub Actions: the approver is read from the run's review history",
                f"drop --approver; a required reviewer of the {policy.github_environment} environment approves the run in GitHub",
            )
        record = decide(plan, self.facts, self.reviews(), policy, self.ctx, now)
        refuse_reuse(record, earlier)
        return record

    def confirmed_approvers(self, plan: ReleasePlan, policy: ApprovalPolicy) -> list[str]:
        """Asked again at `start`: who GitHub says, now, approved this run for this plan."""
        _refuse_foreign_run(plan, self.facts, policy, self.ctx)
        _refuse_other_inputs(plan, self.facts)
        return approvers_per_github(plan, self.facts, self.reviews(), policy)
